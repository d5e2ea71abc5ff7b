"""Two ``fabcoord run`` on one PostgreSQL share the hand-off outbox: every queued send is carried
out once, by one of them (claims with ``SKIP LOCKED``), and the partner gets one order each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from suppliers.handoff.models import HandoffState
from tests.service_process import Service
from tests.suppliers.handoff.conftest import Partner
from tests.suppliers.handoff.test_handoff_flow import ENV, World

pytestmark = pytest.mark.postgresql_only
SENDS = 12


def attempted(service: Service) -> int:
    counts = (re.fullmatch(r"outbox: (\d+) command\(s\) attempted", m) for m in service.messages())
    return sum(int(found.group(1)) for found in counts if found)


def test_two_services_carry_out_each_queued_send_once(
    database_url: str, engine: Engine, partner: Partner, tmp_path: Path
) -> None:
    world = World(engine, partner)
    env = {ENV: partner.api_key}
    with (
        Service(database_url, tmp_path, env=env, name="first") as first,
        Service(database_url, tmp_path, env=env, name="second") as second,
    ):
        first.wait_ready()
        second.wait_ready()
        ids = [world.create() for _ in range(SENDS)]
        for handoff_id in ids:  # queued while both workers poll
            world.send(handoff_id)
        first.wait_until(
            "all sent",
            lambda: all(world.handoff(i).state is HandoffState.SENT for i in ids),
        )
        assert first.stop() == 0 and second.stop() == 0
    refs = {world.handoff(i).ref for i in ids}
    orders = partner.orders_by_ref()
    assert {ref: orders.get(ref) for ref in refs} == dict.fromkeys(refs, 1)
    assert attempted(first) + attempted(second) == SENDS  # none carried out twice
