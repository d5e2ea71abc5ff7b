"""The plan and makers commands end to end through ``cli.run``."""

from __future__ import annotations

import gc
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

import cli
from fabcoord import events, planning
from fabcoord.clock import utc_now
from fabcoord.db import unit_of_work
from fabcoord.planning import capacity
from print_farm.models import PrintJob
from tests.print_farm import farm_factories as ff


def run(database_url: str, *args: str) -> int:
    return cli.run(["--db", database_url, *args])


@pytest.fixture(autouse=True)
def clean_subscribers() -> object:
    yield None
    events.subscribers.clear()


def one_printer_fablab(engine: Engine) -> ff.Farm:
    """A fablab with PETG in stock and one loaded printer; a design of 2 frames of 30 g."""
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=5000)
    printer = ff.add_printer(engine, farm, auto_clear=True)
    ff.load(engine, printer, lot="L1", grams=1000)
    ff.add_design(engine, units=2, grams=30)
    return farm


def test_a_coordinator_plans_explains_and_accepts(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = one_printer_fablab(engine)
    needed = (utc_now() + timedelta(days=6)).date()
    ref = ff.open_order(engine, quantity=30, needed_by=needed, priority=2)
    big = ff.open_order(engine, "CMD-2026-000002", quantity=900, needed_by=needed)
    assert (
        run(
            database_url, "makers", "add", "Ann", "--fablab", farm.fablab, "--declared-per-day", "5"
        )
        == 0
    )
    assert run(database_url, "makers", "deliver", "Ann", "--frames", "4", "--order", ref) == 0
    assert "4 frames from Ann into fablab/" in capsys.readouterr().out
    assert run(database_url, "makers", "list", "--json") == 0
    [ann] = json.loads(capsys.readouterr().out)
    assert (ann["delivered_7d"], ann["reliability"]) == (4, None)
    assert run(database_url, "plan", "hours", farm.fablab, "--per-day", "8") == 0
    capsys.readouterr()

    assert run(database_url, "plan") == 0
    out = capsys.readouterr().out
    assert "plan 1 of" in out and "hand-off recommended" in out and big in out
    with unit_of_work(engine, read_only=True) as session:  # what handoff --from-plan reads
        recommended = planning.handoff_recommendation(session=session)
    assert recommended is not None and recommended.quantity > 0 and big in recommended.references
    assert run(database_url, "plan", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    lines = {line["reference"]: line for line in shown["lines"]}
    assert lines[ref]["quantity"] == 26  # 4 delivered by Ann already
    assert lines[ref]["unmet"] == 0
    assert run(database_url, "plan", "explain", ref) == 0
    text = capsys.readouterr().out
    assert f"Order {ref}, line 1: 26 frames" in text
    assert "8 h a day" in text or "declared 5 frames a day" in text

    assert run(database_url, "plan", "accept") == 0
    assert "plan 1 accepted" in capsys.readouterr().out
    with unit_of_work(engine, read_only=True) as session:
        jobs = list(session.exec(select(PrintJob)))
    assert jobs and {j.order_ref for j in jobs} <= {ref, big}
    assert run(database_url, "plan", "accept", "1") == 1
    assert capsys.readouterr().err.strip().startswith("error: plan 1 was accepted already")
    assert run(database_url, "plan") == 0
    capsys.readouterr()
    assert run(database_url, "plan", "diff") == 0
    assert capsys.readouterr().out.strip()


def test_bad_plan_input_is_one_line_and_changes_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(database_url, "plan", "--horizon-days", "0") == 1
    assert capsys.readouterr().err.strip() == "error: --horizon-days must be 1 to 365, got 0"
    assert run(database_url, "plan", "show") == 1
    assert capsys.readouterr().err.strip() == "error: no plan yet: run 'fabcoord plan'"
    assert run(database_url, "plan") == 0
    capsys.readouterr()
    assert run(database_url, "plan", "explain", "CMD-404") == 1
    assert "is not in plan 1" in capsys.readouterr().err
    assert run(database_url, "makers", "deliver", "Nobody", "--frames", "3") == 1
    assert (
        capsys.readouterr().err.strip()
        == "error: unknown maker 'Nobody' (see 'fabcoord makers list')"
    )


def test_the_cycle_collector_is_paused_while_a_plan_is_computed_and_left_as_it_was(
    database_url: str, engine: Engine
) -> None:
    ff.open_order(engine, quantity=30, needed_by=(utc_now() + timedelta(days=6)).date())
    seen: list[bool] = []

    def watching(**_: Any) -> list[capacity.FablabCapacity]:
        seen.append(gc.isenabled())
        return []

    capacity.providers.register(capacity=watching)
    try:
        assert gc.isenabled()
        assert run(database_url, "plan") == 0
        assert seen == [False] and gc.isenabled()
        gc.disable()  # paused by someone else: left paused
        try:
            assert run(database_url, "plan") == 0
            assert seen == [False, False] and not gc.isenabled()
        finally:
            gc.enable()
    finally:
        capacity.providers.capacity.remove(watching)


def test_a_long_plan_shows_the_lines_needing_attention_first_and_says_how_many_more(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from fabcoord.commands.planning import SHOWN

    one_printer_fablab(engine)
    later = (utc_now() + timedelta(days=13)).date()
    refs = [
        ff.open_order(engine, f"CMD-2026-{n:06d}", quantity=2, needed_by=later)
        for n in range(1, SHOWN + 6)
    ]
    soon = (utc_now() + timedelta(days=1)).date()
    short = ff.open_order(engine, "CMD-2026-000999", quantity=100_000, needed_by=soon)
    assert run(database_url, "plan") == 0
    out = capsys.readouterr().out
    assert f"{SHOWN + 6} order lines: " in out and "1 not met in full" in out
    assert f"the {SHOWN} needing attention first" in out
    assert "... 6 more order lines: 'plan show --all'" in out
    table = out.split("needing attention first")[1]
    assert table.index(short) < table.index(refs[0])  # the unmet line comes first
    assert sum(ref in out for ref in refs) == SHOWN - 1
    assert run(database_url, "plan", "show", "--all") == 0
    everything = capsys.readouterr().out
    assert all(ref in everything for ref in refs) and "more order lines" not in everything
