"""Orders follow what other packages announce through the core's events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from fabcoord import demand
from fabcoord.db import unit_of_work
from fabcoord.events import Event, Subscribers
from orders import handlers, lifecycle
from orders.errors import IllegalTransition
from orders.models import OrderStatus
from orders.schemas import today
from tests.orders.conftest import state
from tests.orders.test_model import create, read

S = OrderStatus


@pytest.fixture
def subscribers() -> Iterator[Subscribers]:
    chosen = Subscribers()
    handlers.subscribe(chosen)
    yield chosen


def announce(engine: Engine, subscribers: Subscribers, kind: str, **payload: Any) -> None:
    with unit_of_work(engine) as session:
        subscribers.publish(session=session, event=Event(kind, "farm", payload))


def accepted(engine: Engine) -> str:
    ref = create(engine).reference
    with unit_of_work(engine) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne")
    return ref


def test_subscribe_registers_the_four_handlers_once() -> None:
    chosen = Subscribers()
    handlers.subscribe(chosen)
    handlers.subscribe(chosen)
    assert {kind: len(found) for kind, found in chosen._handlers.items()} == {
        "production_started": 1,
        "order_planned": 1,
        "shipment_posted": 1,
        "receipt_confirmed": 1,
    }


def test_production_started_moves_an_accepted_order_once(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    ref = accepted(reference_loaded)
    for _ in range(2):
        announce(
            reference_loaded,
            subscribers,
            "production_started",
            reference=ref,
            doc_type="print_job",
            doc_id="42",
        )
    order = read(reference_loaded, ref)
    assert order.status is S.IN_PRODUCTION
    assert [e.to_status for e in order.events].count(S.IN_PRODUCTION) == 1
    assert order.events[-1].actor == "farm" and "print_job/42" in order.events[-1].reason


def test_production_for_an_order_not_accepted_is_refused_and_changes_nothing(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    ref = create(reference_loaded).reference
    before = state(reference_loaded)
    with pytest.raises(IllegalTransition, match="received"):
        announce(reference_loaded, subscribers, "production_started", reference=ref)
    assert state(reference_loaded) == before


def test_order_planned_plans_then_replans_with_the_reason(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    ref = accepted(reference_loaded)
    first, later = today() + timedelta(days=4), today() + timedelta(days=8)
    announce(
        reference_loaded,
        subscribers,
        "order_planned",
        reference=ref,
        expected_delivery=first,
        allocated=100,
        reason="plan 1",
    )
    order = read(reference_loaded, ref)
    assert (order.status, order.allocated, order.expected_delivery) == (S.PLANNED, 100, first)
    announce(
        reference_loaded,
        subscribers,
        "order_planned",
        reference=ref,
        expected_delivery=later,
        allocated=120,
        reason="imprimante en panne",
    )
    order = read(reference_loaded, ref)
    assert (order.status, order.allocated, order.expected_delivery) == (S.PLANNED, 120, later)
    assert "imprimante en panne" in order.events[-1].reason


def test_a_partial_shipment_changes_no_state_and_a_full_one_ships(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    ref = accepted(reference_loaded)
    announce(
        reference_loaded,
        subscribers,
        "shipment_posted",
        reference=ref,
        shipment="SHP-1",
        quantity=100,
        fully_shipped=False,
    )
    assert read(reference_loaded, ref).status is S.ACCEPTED
    announce(
        reference_loaded,
        subscribers,
        "shipment_posted",
        reference=ref,
        shipment="SHP-2",
        quantity=150,
        fully_shipped=True,
    )
    order = read(reference_loaded, ref)
    assert order.status is S.SHIPPED and "SHP-2" in order.events[-1].reason
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert demand.lines_of(session=session, reference=ref)[0].status == "shipped"


def test_a_full_receipt_delivers_and_closes_the_demand(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    ref = accepted(reference_loaded)
    announce(
        reference_loaded,
        subscribers,
        "receipt_confirmed",
        reference=ref,
        shipment="SHP-1",
        received=240,
        refused=10,
        fully_delivered=False,
    )
    assert read(reference_loaded, ref).status is S.ACCEPTED
    announce(
        reference_loaded,
        subscribers,
        "receipt_confirmed",
        reference=ref,
        shipment="SHP-2",
        received=10,
        refused=0,
        fully_delivered=True,
    )
    order = read(reference_loaded, ref)
    assert [e.to_status for e in order.events][-2:] == [S.SHIPPED, S.DELIVERED]
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert demand.lines_of(session=session, reference=ref)[0].state is (
            demand.DemandState.CLOSED
        )


def test_an_event_without_a_reference_is_refused(
    reference_loaded: Engine, subscribers: Subscribers
) -> None:
    with pytest.raises(Exception, match="reference"):
        announce(reference_loaded, subscribers, "shipment_posted", fully_shipped=True)
