"""Recognise OctoPrint's start-up server, which answers bare ``Not found`` bytes with no status line.

httpx reports that reply as "Server disconnected without sending a response", exactly like a reset
connection, so :class:`print_farm.octoprint.OctoPrintClient` asks again on a raw socket.
"""

from __future__ import annotations

import asyncio


async def answers_bare_not_found(host: str, port: int, target: str, timeout: float = 1.0) -> bool:
    """Whether ``GET target`` on ``host:port`` is answered by the bare bytes ``Not found``."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(64), timeout)
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    return data.startswith(b"Not found")
