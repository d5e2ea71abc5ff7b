"""Two ``fabcoord run`` on one PostgreSQL share the printers by lease: each printer is driven by
one dispatcher at a time, and when one service stops, the other takes its printers over."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.print_farm import farm_factories as ff
from tests.service_process import Service

pytestmark = pytest.mark.postgresql_only


def held_by(engine: Engine, service: Service) -> set[str]:
    """The printers whose lease names this service's dispatcher (``host:pid``)."""
    mark = f":{service.process.pid}"
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, lease_owner FROM farm_printer")).all()
    return {name for name, owner in rows if owner.endswith(mark)}


def test_a_printer_is_leased_by_one_service_and_taken_over_when_it_stops(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    farm = ff.make_fablab(engine)
    names = {ff.add_printer(engine, farm) for _ in range(3)}  # unreachable: leased all the same
    with (
        Service(database_url, tmp_path, name="first") as first,
        Service(database_url, tmp_path, name="second") as second,
    ):
        first.wait_ready()
        second.wait_ready()
        first.wait_until(
            "all printers leased",
            lambda: held_by(engine, first) | held_by(engine, second) == names,
        )
        holder, other = (first, second) if held_by(engine, first) else (second, first)
        assert holder.stop() == 0  # gives its leases back
        other.wait_until("printers taken over", lambda: held_by(engine, other) == names)
        assert other.stop() == 0
