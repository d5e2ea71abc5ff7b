"""A hand-off knows the order lines it serves: a plan's allocation records its lines and units,
``handoff create --lines`` gives them by hand; they are what the planner counts as handed off and
where a delivery is credited, and bad lines are refused in one line with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand
from fabcoord.db import unit_of_work
from fabcoord.records import Hospital
from suppliers.handoff.models import Handoff, HandoffLine
from tests.factories import Runner, database_snapshot
from tests.print_farm import farm_factories as ff
from tests.suppliers.handoff.test_plan_partners import (
    PARTNER,
    REF,
    add_partner,
    plan,
    soon,
    volunteers,
)

pytestmark = pytest.mark.usefixtures("clean_wiring")


def two_lines(engine: Engine, *, first: int = 150, second: int = 150, days: int = 5) -> None:
    """REF with two visor lines, as the order intake publishes it."""
    ff.open_order(engine, "CMD-2026-000999", item="visor", quantity=1, needed_by=soon(30))
    with unit_of_work(engine) as session:
        hospital = session.exec(select(Hospital).where(Hospital.slug == "chu-de-nantes")).one()
        assert hospital.id is not None
        demand.publish(
            session=session,
            reference=REF,
            hospital_id=hospital.id,
            lines=[demand.LineSpec(1, "visor", first), demand.LineSpec(2, "visor", second)],
            needed_by=soon(days),
            state=demand.DemandState.OPEN,
            status="accepted",
            site=hospital.name,
        )


def open_per_line(result: dict[str, Any]) -> dict[str, int]:
    """What the plan still has to place of each of REF's lines."""
    return {
        f"{x['reference']}/{x['line']}": x["quantity"]
        for x in result["lines"]
        if x["reference"] == REF
    }


def test_a_plan_hand_off_records_the_lines_and_units_it_serves(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    add_partner(run, "--visors-per-day", "200", "--city", "Lyon", "--lead-time-days", "1")
    two_lines(engine)
    result = plan(run)
    given: dict[tuple[str, int], int] = {}
    for allocation in result["partners"].values():
        for x in allocation["lines"]:
            given[(x["reference"], x["line"])] = (
                given.get((x["reference"], x["line"]), 0) + (x["quantity"])
            )
    assert set(given) == {(REF, 1), (REF, 2)}
    run.ok("plan", "accept")
    with unit_of_work(engine, read_only=True) as session:
        [handoff] = session.exec(select(Handoff)).all()
        rows = session.exec(select(HandoffLine)).all()
        linked = demand.demand_of(session=session, doc_type="handoff", doc_id=str(handoff.id))
    assert {(r.reference, r.line): r.quantity for r in rows} == given
    assert {(d.line, d.quantity) for d in linked} == {(1, given[(REF, 1)]), (2, given[(REF, 2)])}
    shown = run.json("handoff", "show", str(handoff.id))
    assert isinstance(shown, dict)
    assert shown["lines"] == [
        {"reference": REF, "line": n, "quantity": given[(REF, n)]} for n in (1, 2)
    ]
    text = run.ok("handoff", "show", str(handoff.id))
    assert f"lines: {REF}/1: {given[(REF, 1)]}, {REF}/2: {given[(REF, 2)]}" in text


def test_the_planner_counts_a_hand_off_on_its_recorded_lines(engine: Engine, run: Runner) -> None:
    volunteers(engine, run, per_day=1)
    two_lines(engine)
    add_partner(run)
    created = run.json("handoff", "create", "--partner", PARTNER, "--needed-by",
                       soon(9).isoformat(), "--lines", f"{REF}/2=100")  # fmt: skip
    assert isinstance(created, dict)
    assert created["quantity"] == 100 and created["orders"] == [REF]
    assert created["lines"] == [{"reference": REF, "line": 2, "quantity": 100}]
    # its line 2, not the order's first line of visors as a hand-off without lines is counted
    assert open_per_line(plan(run)) == {f"{REF}/1": 150, f"{REF}/2": 50}
    run.ok("handoff", "create", "--partner", PARTNER, "--qty", "100", "--needed-by",
           soon(9).isoformat(), "--orders", REF)  # fmt: skip
    assert open_per_line(plan(run)) == {f"{REF}/1": 50, f"{REF}/2": 50}  # the old spread


def test_a_delivery_is_credited_to_the_lines_of_the_hand_off(engine: Engine, run: Runner) -> None:
    two_lines(engine)
    add_partner(run)
    created = run.json("handoff", "create", "--partner", PARTNER, "--needed-by",
                       soon(9).isoformat(), "--lines", f"{REF}/1=150,{REF}/2=150")  # fmt: skip
    assert isinstance(created, dict)
    number = str(created["id"])
    run.ok("handoff", "confirm", number)
    run.ok("handoff", "receive", number, "--qty", "200")
    with unit_of_work(engine, read_only=True) as session:
        assert demand.delivered_per_line(session=session, reference=REF) == {1: 150, 2: 50}
        assert not demand.fully_delivered(session=session, reference=REF)
    run.ok("handoff", "receive", number, "--qty", "100")
    with unit_of_work(engine, read_only=True) as session:
        assert demand.delivered_per_line(session=session, reference=REF) == {1: 150, 2: 150}
        assert demand.fully_delivered(session=session, reference=REF)


def test_a_delivery_serving_two_orders_is_counted_once_over_their_lines(
    engine: Engine, run: Runner
) -> None:
    first, second = "CMD-2026-000201", "CMD-2026-000202"
    for reference in (first, second):
        ff.open_order(engine, reference, item="visor", quantity=100, needed_by=soon(20))
    add_partner(run)
    created = run.json("handoff", "create", "--partner", PARTNER, "--needed-by",
                       soon(9).isoformat(), "--lines", f"{first}/1=100,{second}/1=100")  # fmt: skip
    assert isinstance(created, dict)
    number = str(created["id"])
    run.ok("handoff", "confirm", number)
    run.ok("handoff", "receive", number, "--qty", "100")
    with unit_of_work(engine, read_only=True) as session:
        # 100 arrived, not 100 for each order: the second is not delivered yet
        assert demand.delivered_per_line(session=session, reference=first) == {1: 100}
        assert demand.delivered_per_line(session=session, reference=second) == {1: 0}
        assert not demand.fully_delivered(session=session, reference=second)
    run.ok("handoff", "receive", number, "--qty", "100")
    with unit_of_work(engine, read_only=True) as session:
        assert demand.delivered_per_line(session=session, reference=second) == {1: 100}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lines", f"{REF}/1"), "error: --lines: 'CMD-2026-000101/1' is not REF/LINE=QTY"),
        (("--lines", f"{REF}/x=5"), "error: --lines: 'CMD-2026-000101/x=5' is not REF/LINE=QTY"),
        (("--lines", f"{REF}/1=²"), "error: --lines: 'CMD-2026-000101/1=²' is not REF/LINE=QTY"),
        (("--lines", ","), "error: --lines is empty"),
        (("--lines", f"{REF}/1=" + "9" * 5000), "error: --lines: 'CMD-2026-000101/1=999"),
        (("--lines", f"{REF}/3=5"), f"error: order {REF} has no line 3"),
        (("--lines", "CMD-2026-000404/1=5"), "error: unknown order 'CMD-2026-000404'"),
        (
            ("--lines", f"{REF}/1=0,{REF}/2=5"),
            f"error: order line {REF}/1: the units must be a whole",
        ),
        (("--lines", f"{REF}/1=151"), f"error: order line {REF}/1 asks for 150, not 151"),
        (("--lines", f"{REF}/1=5,{REF}/1=5"), f"error: order line {REF}/1 is given twice"),
        (("--lines", f"{REF}/1=5", "--qty", "6"), "error: the order lines' units add up to 5"),
        (
            ("--orders", "CMD-2026-000999", "--lines", f"{REF}/1=5"),
            "error: order CMD-2026-000999 is given with --orders but none of --lines serves it",
        ),
        (
            ("--lines", "CMD-2026-000999/1=1"),
            "error: order line CMD-2026-000999/1 is for visor-frame, not visor",
        ),
    ],
)
def test_bad_hand_off_lines_are_one_line_and_write_nothing(
    engine: Engine, run: Runner, args: tuple[str, ...], message: str
) -> None:
    two_lines(engine)
    add_partner(run)
    if "CMD-2026-000999/1=1" in args:
        ff.open_order(engine, "CMD-2026-000999", item="visor-frame", quantity=1)
    before = database_snapshot(engine)
    code, _, err = run("handoff", "create", "--partner", PARTNER, "--needed-by",
                       soon(9).isoformat(), *args)  # fmt: skip
    assert code == 1 and err.startswith(message) and err.count("\n") == 1, err
    assert database_snapshot(engine) == before
