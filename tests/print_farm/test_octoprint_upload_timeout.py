"""An upload's timeout grows with its size; other calls keep the client's short timeout.

A real HTTP server on 127.0.0.1 answers every request after a pause longer than the client's
timeout: a plain call times out, an upload of a large enough file does not.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from print_farm.errors import PrinterUnreachable
from print_farm.octoprint import UPLOAD_SLOWEST_BYTES_S, OctoPrintClient, upload_timeout

PAUSE_S = 1.0


async def _slow_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    await reader.readexactly(length)
    await asyncio.sleep(PAUSE_S)
    body = json.dumps({"files": {"local": {"name": "big.gcode"}}, "done": True}).encode()
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()


def test_upload_timeout_grows_with_the_file_size() -> None:
    assert upload_timeout(0, 5.0) == 5.0
    sixty_mb = upload_timeout(60_000_000, 5.0)
    assert sixty_mb == 5.0 + 60_000_000 / UPLOAD_SLOWEST_BYTES_S
    assert sixty_mb > 600  # a 60 MB file on a slow link is given minutes, not 5 s


def test_a_slow_answer_fails_a_plain_call_but_not_a_large_upload() -> None:
    async def scenario() -> str:
        server = await asyncio.start_server(_slow_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with OctoPrintClient(f"http://127.0.0.1:{port}", "k", timeout=0.3) as client:
                with pytest.raises(PrinterUnreachable, match="timed out"):
                    await client.cancel()
                content = b"G4 P1\n" * (UPLOAD_SLOWEST_BYTES_S // 6)  # about 1 s at the slowest
                result = await client.upload("big.gcode", content)
                return result.name
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == "big.gcode"
