"""Several web workers of one ``fabcoord run`` on PostgreSQL share the rate limits and the forms:
a limit is not multiplied by the workers, a form submitted twice at once is accepted once, and a
form served by one worker (signed with the database's key) is accepted by another."""

from __future__ import annotations

import os
import re
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from orders.schemas import today
from tests.orders.conftest import invite
from tests.service_process import Service

pytestmark = pytest.mark.postgresql_only
WORKERS = 2


@pytest.fixture
def workers(database_url: str, reference_loaded: Engine, tmp_path: Path) -> Any:
    env = {"FABCOORD_WEB_RATE_PER_LINK": "5", "FABCOORD_WEB_RATE_WINDOW_S": "3600"}
    with Service(database_url, tmp_path, "--web-workers", str(WORKERS), env=env) as running:
        running.wait_ready()

        def both() -> bool:  # each /healthz on a new connection: both workers answer at last
            running.pids.add(running.get("/healthz").json()["pid"])
            return len(running.pids) == WORKERS

        running.wait_until("answered by both workers", both)
        yield running
        assert running.stop() == 0


def test_two_workers_share_one_rate_limit(workers: Service, reference_loaded: Engine) -> None:
    token = invite(reference_loaded)
    answers = [
        workers.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(12)  # a new connection each: the kernel spreads them over the workers
    ]
    assert answers.count(200) == 5 and answers.count(429) == 7


def form_values(page: str, number: int) -> dict[str, str]:
    hidden = dict(re.findall(r'name="(csrf_token|form_token)" value="([^"]+)"', page))
    return {
        **hidden,
        "department": f"Urgences {number}",
        "contact_name": "Claire Martin",
        "contact_email": "claire.martin@chu-poitiers.fr",
        "contact_phone": "05 49 44 44 44",
        "item": "visor",
        "quantity": "120",
        "needed_by": (today() + timedelta(days=9)).isoformat(),
        "delivery_address": "2 rue de la Milétrie, 86000 Poitiers",
        "priority": "normal",
    }


def test_a_form_sent_twice_at_once_to_two_workers_makes_one_order(
    workers: Service, reference_loaded: Engine
) -> None:
    tokens = [invite(reference_loaded) for _ in range(4)]  # 3 requests per link: under its limit
    forms = [form_values(workers.get(f"/h/{token}").text, n) for n, token in enumerate(tokens)]
    answers: dict[int, list[httpx.Response]] = {n: [] for n in range(len(forms))}
    start = threading.Barrier(2 * len(forms))

    def submit(number: int) -> None:
        with httpx.Client(base_url=workers.base, timeout=60) as client:
            start.wait()
            response = client.post(f"/h/{tokens[number]}/commandes", data=forms[number])
            answers[number].append(response)

    threads = [
        threading.Thread(target=submit, args=(n,)) for n in range(len(forms)) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with reference_loaded.connect() as connection:
        orders = connection.execute(text("SELECT COUNT(*) FROM hospital_order")).scalar_one()
    assert orders == len(forms)
    for pair in answers.values():
        assert [r.status_code for r in pair] == [303, 303]  # signed by a key both workers share
        assert pair[0].headers["location"] == pair[1].headers["location"]


def test_a_killed_web_worker_is_restarted_and_logged_while_the_other_answers(
    workers: Service,
) -> None:
    killed = min(workers.pids)
    os.kill(killed, signal.SIGKILL)
    workers.wait_until("restart logged", lambda: f"(pid {killed}) exited" in workers.log())
    assert workers.get("/healthz").status_code == 200  # the other worker answers meanwhile
    pids: set[int] = set()

    def replaced() -> bool:
        pids.add(workers.get("/healthz").json()["pid"])
        return len(pids - {killed}) == WORKERS

    workers.wait_until("answered by a new worker", replaced)
    record = next(r for r in workers.records() if f"(pid {killed}) exited" in r["message"])
    assert record["level"] == "ERROR"
    assert record["message"].endswith("exited with code -9; restarts in 1 s")
