"""``fabcoord run`` as a real process on a free port, for the tests: start, wait, read, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_S = 180.0  # a bound against a hang on a loaded machine, not a speed check


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """One ``fabcoord run --log-json`` process; its stderr goes to ``log_path``."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *args: str,
        env: dict[str, str] | None = None,
        name: str = "service",
    ) -> None:
        self.pids: set[int] = set()  # the web workers' pids, as the tests saw them
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"{name}.log"
        environ = {
            key: value for key, value in os.environ.items() if not key.startswith("FABCOORD_")
        }
        environ.update(
            {"FABCOORD_DATABASE_URL": database_url, "FABCOORD_LOG_LEVEL": "INFO", **(env or {})}
        )
        self._log = self.log_path.open("w")
        command = [sys.executable, "-c", "import cli; cli.main()", "run", "--log-json"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *args],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, **options: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            return client.get(path, **options)

    def wait_until(self, what: str, condition: Any, bound_s: float = START_S) -> Any:
        """Poll ``condition()`` until it is truthy; fail after ``bound_s`` (a hang)."""
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"fabcoord run exited ({self.process.returncode}): {self.log()}"
                )
            try:
                found = condition()
            except httpx.TransportError:
                found = None
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"never {what}; log:\n{self.log()}")

    def wait_healthy(self) -> None:
        self.wait_until("healthy", lambda: self.get("/healthz").status_code == 200)

    def wait_ready(self) -> None:
        self.wait_until("ready", lambda: self.get("/readyz").status_code == 200)

    def log(self) -> str:
        return self.log_path.read_text()

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (anything else on stderr is kept out)."""
        found = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def messages(self) -> list[str]:
        return [record["message"] for record in self.records()]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=START_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()
