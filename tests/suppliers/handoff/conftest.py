"""The Odoo partner the hand-off tests talk to: the stand-in as a real server process, or a real
Odoo when ``FABCOORD_ODOO_TEST_URL`` (and ``FABCOORD_ODOO_TEST_DB``, ``_LOGIN``, ``_KEY``,
``_PROTOCOL``) are set. Tests that steer the partner (faults, outages, deliveries, versions) need
the stand-in's control endpoints and are skipped against a real Odoo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fabcoord import events
from fabcoord.planning import capacity
from suppliers.handoff.odoo import Endpoint
from tests.factories import Runner

REAL_URL = os.environ.get("FABCOORD_ODOO_TEST_URL", "")
KEY = "k3y-" + "s3cr3t-stand-in"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Partner:
    """The partner server under test and how to steer it (stand-in only)."""

    url: str
    database: str
    login: str
    api_key: str
    protocol: str
    standin: bool

    def endpoint(self, **changes: Any) -> Endpoint:
        values = {
            "url": self.url,
            "database": self.database,
            "login": self.login,
            "api_key": self.api_key,
            "protocol": self.protocol,
            "timeout_s": 10.0,
            "name": "Plastiques de l'Ouest",
            **changes,
        }
        return Endpoint(**values)

    def control(self, action: str, **body: Any) -> Any:
        if not self.standin:
            pytest.skip("needs the Odoo stand-in's control endpoints")
        response = httpx.post(f"{self.url}/__standin__/{action}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self, version: int = 17, protocol: str | None = None) -> Partner:
        self.control(
            "reset", version=version, database=self.database, login=self.login, api_key=self.api_key
        )
        if protocol is not None:
            self.protocol = protocol
        return self

    def orders_by_ref(self) -> dict[str, int]:
        return dict(self.control("stats")["orders_by_ref"])


@pytest.fixture(scope="session")
def standin_process() -> Iterator[str]:
    """The stand-in as its own server process, as the demo runs it."""
    if REAL_URL:
        yield ""
        return
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "suppliers.handoff.standin", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FABCOORD_STANDIN_API_KEY": KEY},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on" in line, line
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def partner(standin_process: str) -> Partner:
    """A fresh partner database (stand-in: reset to Odoo 17 over jsonrpc)."""
    if REAL_URL:
        return Partner(
            url=REAL_URL,
            database=os.environ["FABCOORD_ODOO_TEST_DB"],
            login=os.environ["FABCOORD_ODOO_TEST_LOGIN"],
            api_key=os.environ["FABCOORD_ODOO_TEST_KEY"],
            protocol=os.environ.get("FABCOORD_ODOO_TEST_PROTOCOL", "jsonrpc"),
            standin=False,
        )
    found = Partner(standin_process, "partner", "admin", KEY, "jsonrpc", standin=True)
    return found.reset()


@pytest.fixture
def clean_wiring() -> Iterator[None]:
    """Forget the subscribers and capacity providers ``cli.run`` wired for the test."""
    yield None
    events.subscribers.clear()
    capacity.providers.clear()


@pytest.fixture
def run(database_url: str, capsys: pytest.CaptureFixture[str]) -> Runner:
    """The command line through ``cli.run``, as the composition root wires it."""
    return Runner(database_url, capsys)
