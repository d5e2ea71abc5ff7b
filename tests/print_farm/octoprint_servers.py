"""Start real headless OctoPrint 1.11.8 servers (Virtual Printer) on free loopback ports.

Used by the test fixtures and by ``bench/farm_bench.py``. The OctoPrint venv is made by
``scripts/ensure-octoprint.sh`` (``make test`` runs it). Each server gets a seeded basedir: a config that
stops every network fetch, an application key in ``data/appkeys/keys.yaml`` and a ``users.yaml`` made
once by ``octoprint user add`` and copied. Servers are stopped with SIGTERM (SIGKILL after 5 s).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OCTOPRINT_VENV = Path(os.environ.get("FABCOORD_OCTOPRINT_VENV", ROOT / ".venv-octoprint"))
DISABLED_PLUGINS = [
    "announcements",
    "discovery",
    "softwareupdate",
    "pluginmanager",
    "tracking",
    "errortracking",
    "health_check",
]


def octoprint_bin() -> Path:
    return OCTOPRINT_VENV / "bin" / "octoprint"


def ensure_octoprint() -> None:
    """Run the idempotent install script (fast when the venv is there)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-octoprint.sh")], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_yaml(port: int) -> str:
    """A config.yaml that runs headless and fetches nothing (JSON is valid YAML)."""
    config = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "pythonEolCheck": {"enabled": False},
            "seenWizards": {"corewizard": 4, "file_check": 1, "classicwebcam": 1, "backup": None},
        },
        "plugins": {
            "_disabled": DISABLED_PLUGINS,
            "tracking": {"enabled": False},
            "errortracking": {"enabled": False},
            "virtual_printer": {"enabled": True, "simulated_errors": []},
        },
        "serial": {
            "port": "VIRTUAL",
            "baudrate": 115200,
            "autoconnect": False,
            "autorefresh": False,
        },
    }
    return json.dumps(config, indent=1)


def make_users_yaml(workdir: Path) -> Path:
    """Create one users.yaml with ``octoprint user add`` (copied into every basedir)."""
    seed = workdir / "user-seed"
    seed.mkdir(parents=True, exist_ok=True)
    users = seed / "users.yaml"
    if not users.exists():
        (seed / "config.yaml").write_text(config_yaml(5000))
        subprocess.run(
            [
                str(octoprint_bin()),
                "--basedir",
                str(seed),
                "user",
                "add",
                "admin",
                f"--password={secrets.token_urlsafe(12)}",  # a value may start with "-"
                "--admin",
            ],
            check=True,
            capture_output=True,
        )
    return users


@dataclass
class OctoPrintServer:
    """One real OctoPrint process with its basedir."""

    basedir: Path
    port: int
    api_key: str
    process: subprocess.Popen[bytes] | None = None
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_file = self.basedir / "serve.out"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def octoprint_log(self) -> Path:
        return self.basedir / "logs" / "octoprint.log"

    def start(self) -> None:
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(octoprint_bin()),
                    "serve",
                    "--basedir",
                    str(self.basedir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--iknowwhatimdoing",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-Api-Key", self.api_key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def is_ready(self) -> bool:
        """``GET /api/version`` with the key; protocol errors mean still starting."""
        try:
            status, _ = self.request("GET", "/api/version")
        except (OSError, HTTPException):
            return False
        return status == 200

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"OctoPrint on {self.port} exited: see {self.log_file}")
            if self.is_ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"OctoPrint on {self.port} not ready after {timeout} s")

    def connect_printer(self) -> None:
        body = {"command": "connect", "port": "VIRTUAL", "baudrate": 115200, "autoconnect": False}
        status, text = self.request("POST", "/api/connection", body)
        if status != 204:
            raise RuntimeError(f"connect failed: {status} {text!r}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, text = self.request("GET", "/api/connection")
            if json.loads(text)["current"]["state"] == "Operational":
                return
            time.sleep(0.05)
        raise RuntimeError(f"printer on {self.port} did not become Operational")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with ``kill``), then wait; SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Start again on the same port and basedir, wait until ready, reconnect the printer."""
        self.stop()
        self.start()
        self.wait_ready()
        self.connect_printer()


def prepare_server(workdir: Path, users_yaml: Path, index: int) -> OctoPrintServer:
    basedir = workdir / f"octoprint-{index}"
    shutil.rmtree(basedir, ignore_errors=True)
    (basedir / "data" / "appkeys").mkdir(parents=True)
    port = free_port()
    api_key = secrets.token_urlsafe(32)
    (basedir / "config.yaml").write_text(config_yaml(port))
    shutil.copy(users_yaml, basedir / "users.yaml")
    keys = {"admin": [{"app_id": "fabcoord", "api_key": api_key}]}
    (basedir / "data" / "appkeys" / "keys.yaml").write_text(json.dumps(keys))
    return OctoPrintServer(basedir=basedir, port=port, api_key=api_key)


def start_servers(workdir: Path, count: int) -> list[OctoPrintServer]:
    """Start ``count`` servers at once, wait for all, connect their printers; stop all on failure."""
    ensure_octoprint()
    users = make_users_yaml(workdir)
    servers = [prepare_server(workdir, users, i) for i in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
            server.connect_printer()
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: list[OctoPrintServer]) -> None:
    for server in servers:
        server.stop()


def dwell_gcode(milliseconds: int, *, moves: int = 5) -> bytes:
    """Test G-code: absolute mode first, no heating waits, a fixed real-time dwell."""
    lines = ["; fabcoord test print", "G90", "M82", "G28", "G92 E0"]
    for i in range(moves):
        lines.append(f"G1 X{10 + i} Y{10 + i} Z0.3 E{0.1 * (i + 1):.2f} F3000")
    remaining = milliseconds
    while remaining > 0:
        step = min(remaining, 1000)
        lines.append(f"G4 P{step}")
        remaining -= step
    lines.append("M84")
    return ("\n".join(lines) + "\n").encode()
