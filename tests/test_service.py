"""``fabcoord run`` as a real process on both databases: health and readiness, a crashed part
restarted while the web keeps answering, a clean stop on SIGTERM, the SQLite one-worker rule."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.reference import load_reference_data
from orders import links
from orders.schemas import today
from tests.service_process import ROOT, Service


def order(number: int) -> dict[str, Any]:
    return {
        "department": f"Réanimation {number}",
        "contact_name": "Claire Martin",
        "contact_email": "claire.martin@chu-poitiers.fr",
        "contact_phone": "05 49 44 44 44",
        "item": "visor",
        "quantity": 10 + number,
        "needed_by": (today() + timedelta(days=7)).isoformat(),
        "delivery_address": "2 rue de la Milétrie, 86000 Poitiers",
        "priority": "normal",
    }


@pytest.fixture
def token(engine: Engine) -> str:
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        return links.invite(session=session, hospital="CHU de Poitiers", actor="tester").token


@pytest.fixture
def service(database_url: str, token: str, tmp_path: Path) -> Any:
    with Service(database_url, tmp_path) as running:
        running.wait_ready()
        yield running


def post_order(service: Service, token: str, number: int) -> httpx.Response:
    with httpx.Client(base_url=service.base, timeout=60) as client:
        return client.post(
            "/api/v1/orders", json=order(number), headers={"Authorization": f"Bearer {token}"}
        )


def test_healthz_and_readyz_answer_json(service: Service) -> None:
    health = service.get("/healthz")
    ready = service.get("/readyz")
    assert health.status_code == 200 and health.json()["status"] == "alive"
    assert set(health.json()["parts"]) == {"web", "dispatcher", "outbox", "mail"}
    assert ready.status_code == 200
    assert ready.headers["content-type"] == "application/json"
    checks = ready.json()["checks"]
    assert set(checks) == {"database", "dispatcher", "outbox", "mail", "outbox_lag"}
    assert all(check["ok"] for check in checks.values())
    assert service.stop() == 0


def test_a_crashing_part_is_restarted_and_logged_while_the_web_answers(
    service: Service, engine: Engine, token: str
) -> None:
    with engine.begin() as connection:  # the outbox worker's table goes away: it crashes
        connection.execute(text("ALTER TABLE handoff_command RENAME TO handoff_command_away"))
    service.wait_until("restarted twice", lambda: "part outbox restarts in 2 s" in service.log())
    not_ready = service.get("/readyz")
    created = post_order(service, token, 1)
    assert service.get("/healthz").status_code == 200
    assert created.status_code == 201
    assert not_ready.status_code == 503
    assert not not_ready.json()["checks"]["outbox_lag"]["ok"]
    assert not_ready.json()["checks"]["database"]["ok"]
    crashed = [r for r in service.records() if r["message"].startswith("part outbox crashed")]
    assert crashed and crashed[0]["level"] == "ERROR" and crashed[0]["part"] == "outbox"
    assert "Traceback" in crashed[0]["exception"]
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE handoff_command_away RENAME TO handoff_command"))
    service.wait_ready()
    states = service.get("/healthz").json()["parts"]
    assert states["outbox"]["restarts"] >= 2 and states["dispatcher"]["restarts"] == 0
    assert service.stop() == 0


def test_sigterm_lets_requests_under_way_finish_and_exits_0(
    service: Service, engine: Engine, token: str
) -> None:
    answers: list[int | str] = []
    first = threading.Event()

    def client(number: int) -> None:
        try:
            answers.append(post_order(service, token, number).status_code)
        except httpx.TransportError as error:  # sent after the server stopped accepting
            answers.append(type(error).__name__)
        first.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    assert first.wait(120)
    code = service.stop(signal.SIGTERM)
    for thread in threads:
        thread.join()
    assert code == 0
    accepted = answers.count(201)
    assert accepted >= 1 and set(answers) <= {201, "ConnectError", "RemoteProtocolError"}
    with engine.connect() as connection:
        orders = connection.execute(text("SELECT COUNT(*) FROM hospital_order")).scalar_one()
        incomplete = connection.execute(
            text(
                "SELECT COUNT(*) FROM hospital_order o WHERE NOT EXISTS "
                "(SELECT 1 FROM hospital_order_line l WHERE l.order_id = o.id) OR NOT EXISTS "
                "(SELECT 1 FROM hospital_order_event e WHERE e.order_id = o.id)"
            )
        ).scalar_one()
    assert orders == accepted  # every answered order is there, none without an answer
    assert incomplete == 0  # nothing half-posted
    assert "fabcoord run: stopped" in service.messages()


def test_several_web_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "run", "--web-workers", "2"],
        cwd=ROOT,
        env={"FABCOORD_DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: --web-workers 2 needs PostgreSQL: SQLite has one writer, run one web worker "
        "(the default) or set FABCOORD_DATABASE_URL=postgresql+psycopg://…"
    ]


def test_a_port_another_process_holds_is_refused_in_one_line(database_url: str) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", "import cli; cli.main()", "run", "--port", str(port)],
            cwd=ROOT,
            env={"FABCOORD_DATABASE_URL": database_url, "PATH": "/usr/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
