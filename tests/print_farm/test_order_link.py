"""A print job serves a hospital order through the core: refused for orders that take no work,
linked so its frames count for the order, and the order's production starts with its first print."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from fabcoord import demand, events
from fabcoord.db import unit_of_work
from print_farm import accounting, claims, queue
from print_farm.models import PrintJob
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff


@pytest.fixture
def heard() -> Any:
    seen: list[events.Event] = []

    def handler(*, session: object, event: events.Event) -> None:
        seen.append(event)

    events.subscribers.subscribe("production_started", handler)
    yield seen
    events.subscribers.clear()


def test_jobs_for_an_open_order_are_linked_to_its_line(engine: Engine) -> None:
    design = ff.add_design(engine, units=4)
    order = ff.open_order(engine, quantity=10)
    ids = ff.enqueue(engine, design, 10, order_ref=order)
    with unit_of_work(engine, read_only=True) as session:
        docs = demand.documents_serving(session=session, references=[order])
        assert [(d.doc_type, d.doc_id, d.line, d.quantity) for d in docs] == [
            ("print_job", str(i), 1, 4) for i in ids
        ]
        assert demand.demand_of(session=session, doc_type="print_job", doc_id=str(ids[0]))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (None, "unknown order 'CMD-2026-404404'"),
        (demand.DemandState.PENDING, "takes no new work"),
        (demand.DemandState.CLOSED, "takes no new work"),
    ],
)
def test_enqueue_refuses_unknown_pending_and_closed_orders_and_changes_nothing(
    engine: Engine, state: demand.DemandState | None, message: str
) -> None:
    design = ff.add_design(engine)
    reference = "CMD-2026-404404"
    if state is not None:
        ff.open_order(engine, reference, state=state)
    before = ledger_snapshot(engine)
    with pytest.raises(
        demand.UnknownDemand if state is None else demand.DemandClosed, match=message
    ):
        ff.enqueue(engine, design, 4, order_ref=reference)
    with unit_of_work(engine, read_only=True) as session:
        assert session.get(PrintJob, 1) is None
        assert demand.documents_serving(session=session, references=[reference]) == []
    assert ledger_snapshot(engine) == before


def _start(engine: Engine, job_id: int, printer_id: int) -> None:
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        assert claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
        assert claims.mark_start_sent(session=session, job_id=job_id, attempt=1, owner="d1")
        assert claims.mark_printing(session=session, job_id=job_id, attempt=1)


def test_production_started_is_published_once_when_the_first_job_of_an_order_prints(
    engine: Engine, heard: list[events.Event]
) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    printer = ff.add_printer(engine, farm, auto_clear=True)
    ff.load(engine, printer, lot="L1", grams=900)
    design = ff.add_design(engine, units=2)
    order = ff.open_order(engine, quantity=4)
    first, second = ff.enqueue(engine, design, 4, order_ref=order)
    printer_id = ff.printer(engine, printer).id or 0
    _start(engine, first, printer_id)
    assert [(e.kind, dict(e.payload)) for e in heard] == [
        ("production_started", {"reference": order, "doc_type": "print_job", "doc_id": str(first)})
    ]
    with unit_of_work(engine) as session:
        accounting.record_done(session=session, job_id=first, attempt=1, actor="t")
    _start(engine, second, printer_id)
    assert len(heard) == 1


def test_a_refusing_handler_leaves_the_job_not_printing(engine: Engine) -> None:
    def refuse(*, session: object, event: events.Event) -> None:
        raise demand.DemandClosed("order was cancelled meanwhile")

    events.subscribers.subscribe("production_started", refuse)
    try:
        farm = ff.make_fablab(engine)
        ff.stock_filament(engine, farm, lot="L1", grams=1000)
        printer = ff.add_printer(engine, farm)
        ff.load(engine, printer, lot="L1", grams=900)
        design = ff.add_design(engine, units=2)
        [job_id] = ff.enqueue(engine, design, 2, order_ref=ff.open_order(engine))
        with pytest.raises(demand.DemandClosed):
            _start(engine, job_id, ff.printer(engine, printer).id or 0)
        assert ff.job(engine, job_id).status.value == "queued"
    finally:
        events.subscribers.clear()


def test_enqueue_serves_the_line_asked(engine: Engine) -> None:
    design = ff.add_design(engine, units=2)
    order = ff.open_order(engine)
    with (
        unit_of_work(engine) as session,
        pytest.raises(demand.UnknownDemand, match="has no line 2"),
    ):
        queue.enqueue(session=session, design=design, count=2, order_ref=order, line=2)
