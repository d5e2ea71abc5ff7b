"""Print-farm fixtures: real OctoPrint 1.11.8 servers and the farm simulator, started once per run.

- ``octoprint_servers``: ``FABCOORD_TEST_OCTOPRINT_SERVERS`` (default 3) real headless servers with
  connected Virtual Printers (:mod:`tests.print_farm.octoprint_servers`); all stopped at the end.
- ``farm_simulator``: one ``python -m print_farm.simulator`` process with 16 printers on 2 ports.
- ``target``: one printer, parametrised over ``octoprint`` and ``simulator``, reset to Operational and
  idle before the test; ``target.kill()``/``revive()``/``restart()`` act on its server.
- ``plain_http_server``: a local HTTP server that is not OctoPrint.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from print_farm.octoprint import OctoPrintClient
from tests.print_farm.octoprint_servers import OctoPrintServer, start_servers, stop_servers
from tests.print_farm.simulator_process import SimulatorProcess

SIMULATED_PRINTERS = 16


@pytest.fixture(scope="session")
def octoprint_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[OctoPrintServer]]:
    count = int(os.environ.get("FABCOORD_TEST_OCTOPRINT_SERVERS", "3"))
    servers = start_servers(Path(tmp_path_factory.mktemp("octoprint")), count)
    try:
        yield servers
    finally:
        stop_servers(servers)


@pytest.fixture(scope="session")
def farm_simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess.running(SIMULATED_PRINTERS, "--current-interval", "0.5") as simulator:
        yield simulator


@dataclass
class Target:
    """One printer under test, on a real OctoPrint server or on the simulator."""

    kind: str
    url: str
    api_key: str
    kill: Callable[[], None]
    revive: Callable[[], None]
    restart: Callable[[], None]

    def client(self, *, timeout: float = 5.0) -> OctoPrintClient:
        return OctoPrintClient(self.url, self.api_key, timeout=timeout)


async def reset_printer(client: OctoPrintClient, timeout: float = 15.0) -> None:
    """Bring a printer to Operational and idle (cancel a print, reconnect after an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await client.job()
        if job.state == "Operational":
            return
        if job.state in ("Printing", "Paused", "Pausing"):
            await client.cancel()
        elif job.state.startswith("Offline") or job.state in ("Closed", "Error"):
            await client.connect()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"printer at {client.base_url} did not become idle")


_counter = itertools.count()


def _octoprint_target(server: OctoPrintServer) -> Target:
    def revive() -> None:
        if server.process is None or server.process.poll() is not None:
            server.start()
            server.wait_ready()
            server.connect_printer()

    return Target(
        "octoprint",
        server.url,
        server.api_key,
        kill=lambda: server.stop(kill=True),
        revive=revive,
        restart=server.restart,
    )


def _simulator_target(simulator: SimulatorProcess, n: int) -> Target:
    def restart() -> None:
        simulator.set_fault(n, "restart", 1.0)
        time.sleep(1.1)
        asyncio.run(_connect(simulator.url(n), simulator.api_key))

    return Target(
        "simulator",
        simulator.url(n),
        simulator.api_key,
        kill=lambda: simulator.set_fault(n, "reset"),
        revive=lambda: simulator.set_fault(n, None),
        restart=restart,
    )


async def _connect(url: str, api_key: str) -> None:
    async with OctoPrintClient(url, api_key) as client:
        await client.connect()


@pytest.fixture(params=["octoprint", "simulator"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    index = next(_counter)
    if request.param == "octoprint":
        servers: list[OctoPrintServer] = request.getfixturevalue("octoprint_servers")
        chosen = _octoprint_target(servers[index % len(servers)])
    else:
        simulator: SimulatorProcess = request.getfixturevalue("farm_simulator")
        chosen = _simulator_target(simulator, index % SIMULATED_PRINTERS)
    chosen.revive()

    async def reset() -> None:
        async with chosen.client() as client:
            await reset_printer(client)

    asyncio.run(reset())
    try:
        yield chosen
    finally:
        chosen.revive()


class _PlainHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>a plain web server</body></html>"
        self.send_response(200 if self.path == "/" or self.path.startswith("/ok/") else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def plain_http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
