"""Stock on order in the plan's material bounds: a confirmed purchase order adds its material
from the day it is expected (through the provider the composition root wires)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine

import cli
from fabcoord import events
from fabcoord.clock import utc_now
from fabcoord.db import unit_of_work
from fabcoord.planning import capacity
from suppliers import purchasing
from tests.print_farm import farm_factories as ff
from tests.suppliers.conftest import import_samples
from tests.suppliers.test_purchasing import LYON_FILAMENT


@pytest.fixture(autouse=True)
def clean_providers() -> object:
    yield None
    events.subscribers.clear()
    capacity.providers.clear()


def plan(database_url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert cli.run(["--db", database_url, "plan", "--json"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_petg_confirmed_on_order_lets_the_printers_work_on_after_it_arrives(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=1500)  # 100 frames of 15 g
    ff.add_printer(engine, farm)  # 10 h ÷ 60 min × 2 = 20 frames a day
    ff.add_design(engine, units=2, grams=30)
    ref = ff.open_order(engine, quantity=250, needed_by=(utc_now() + timedelta(days=20)).date())
    import_samples(engine)
    with unit_of_work(engine) as session:
        order = purchasing.create(
            session=session,
            supplier=LYON_FILAMENT,
            item="petg",
            quantity="3",
            unit="kg",
            fablab=farm.fablab,
            actor="tester",
        )
        order_id = order.id or 0
        purchasing.send(session=session, order_id=order_id)

    def line(result: dict[str, object]) -> dict[str, object]:
        lines = result["lines"]
        assert isinstance(lines, list)
        [found] = [row for row in lines if row["reference"] == ref]
        assert isinstance(found, dict)
        return found

    sent_only = plan(database_url, capsys)
    assert line(sent_only)["unmet"] == 150  # a sent order has no date: not counted
    site = sent_only["sites"][f"fablab/{farm.slug}"]  # type: ignore[index]
    assert "1500 g is enough for 100 frames" in site["binding"][0]

    expected = (utc_now() + timedelta(days=5)).date()
    with unit_of_work(engine) as session:
        purchasing.confirm(session=session, order_id=order_id, expected_on=expected)
    confirmed = plan(database_url, capsys)
    # 100 frames before day 5, then 20 a day for 9 days: 280 ≥ 250, all of it planned
    assert line(confirmed)["unmet"] == 0
    site = confirmed["sites"][f"fablab/{farm.slug}"]  # type: ignore[index]
    assert site["frames_limit"] == 280
    on_order = f"3000 g on order (purchase order {order_id}, expected {expected.isoformat()})"
    assert any(on_order in note for note in site["notes"])
    assert cli.run(["--db", database_url, "plan", "explain", ref]) == 0
    assert f"purchase order {order_id}" in capsys.readouterr().out


def test_petg_arriving_late_binds_from_the_day_the_stock_runs_out(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=600)  # 40 frames: two days of printing
    ff.add_printer(engine, farm)
    ff.add_design(engine, units=2, grams=30)
    ff.open_order(engine, quantity=250, needed_by=(utc_now() + timedelta(days=20)).date())
    import_samples(engine)
    expected = (utc_now() + timedelta(days=10)).date()
    with unit_of_work(engine) as session:
        order = purchasing.create(
            session=session,
            supplier=LYON_FILAMENT,
            item="petg",
            quantity="30",
            unit="kg",
            fablab=farm.fablab,
            actor="tester",
        )
        purchasing.confirm(session=session, order_id=order.id or 0, expected_on=expected)
    site = plan(database_url, capsys)["sites"][f"fablab/{farm.slug}"]  # type: ignore[index]
    assert site["frames_limit"] == 40 + 20 * 4  # two days, idle until day 10, four days more
    assert site["binding"][0].startswith(
        f"PETG binds at {farm.fablab} from day 3: 600 g and 30000 g on order"
    )
