"""Run ``python -m print_farm.simulator`` as a real server process (tests and benchmarks)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from print_farm.simulator import printer_url

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimulatorProcess:
    """A running simulator: ``url(n)`` is printer n's base URL."""

    printers: int
    ports: list[int] = field(default_factory=list)
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[str] | None = None

    @classmethod
    @contextmanager
    def running(cls, printers: int, *extra: str, ports: int = 2) -> Iterator[SimulatorProcess]:
        """A simulator started for the block (``extra``: its options), stopped when it leaves."""
        process = cls(printers=printers)
        process.start(*extra, ports=ports)
        try:
            yield process
        finally:
            process.stop()

    def start(self, *extra: str, ports: int = 2) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "print_farm.simulator",
                "--printers",
                str(self.printers),
                "--ports",
                str(ports),
                f"--api-key={self.api_key}",  # a key may start with "-"
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.ports = list(json.loads(line[len("READY ") :])["ports"])

    def url(self, n: int) -> str:
        return printer_url(self.ports, n)

    def set_fault(self, n: int, fault: str | None, seconds: float = 1.0) -> None:
        body = json.dumps({"fault": fault, "seconds": seconds}).encode()
        request = urllib.request.Request(self.url(n) + "/sim/fault", data=body, method="POST")
        request.add_header("X-Api-Key", self.api_key)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
