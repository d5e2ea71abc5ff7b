"""The order lifecycle and the progress read from the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import PostingRequest, post, reverse, transfer
from fabcoord.records import Hospital
from fabcoord.reference import hospital_location_code
from orders import lifecycle, service
from orders.errors import IdempotencyKeyReused, IllegalTransition, UnknownOrder
from orders.models import Order, OrderStatus
from orders.progress import ORDER_DOC_TYPE
from orders.schemas import OrderCreate, today
from tests.factories import add_stock_location
from tests.orders.conftest import HOSPITAL, state, valid_order


def new_order(engine: Engine, key: str | None = None, **changes: object) -> Order:
    with unit_of_work(engine) as session:
        hospital = session.exec(select(Hospital).where(Hospital.name == HOSPITAL)).one()
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital.id or 0,
            order=OrderCreate.model_validate(valid_order(**changes)),
            actor="tester",
            channel="api",
            idempotency_key=key,
        )
        return order


def describe(engine: Engine, reference: str) -> service.OrderPublic:
    with unit_of_work(engine, read_only=True) as session:
        order = service.get_order(session=session, reference=reference)
        return service.describe(session=session, orders=[order], with_events=True)[0]


def test_references_are_human_and_sequential(reference_loaded: Engine) -> None:
    first, second = new_order(reference_loaded), new_order(reference_loaded)
    year = first.created_at.year
    assert first.reference == f"CMD-{year}-{first.id:06d}"
    assert second.reference == f"CMD-{year}-{second.id:06d}"


def test_the_full_lifecycle_records_who_when_and_why(reference_loaded: Engine) -> None:
    ref = new_order(reference_loaded).reference
    delivery = today() + timedelta(days=3)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne", reason="ok")
        lifecycle.plan_order(
            session=session, reference=ref, actor="anne", expected_delivery=delivery, allocated=200
        )
        lifecycle.start_production(session=session, reference=ref, actor="bob")
        lifecycle.mark_shipped(session=session, reference=ref, actor="bob", reason="colis 1")
        lifecycle.mark_delivered(session=session, reference=ref, actor="chloé")
    order = describe(reference_loaded, ref)
    assert order.status is OrderStatus.DELIVERED
    assert (order.allocated, order.expected_delivery) == (200, delivery)
    steps = [(e.from_status, e.to_status, e.actor) for e in order.events]
    assert steps == [
        (None, OrderStatus.RECEIVED, "tester"),
        (OrderStatus.RECEIVED, OrderStatus.ACCEPTED, "anne"),
        (OrderStatus.ACCEPTED, OrderStatus.PLANNED, "anne"),
        (OrderStatus.PLANNED, OrderStatus.IN_PRODUCTION, "bob"),
        (OrderStatus.IN_PRODUCTION, OrderStatus.SHIPPED, "bob"),
        (OrderStatus.SHIPPED, OrderStatus.DELIVERED, "chloé"),
    ]
    assert order.events[4].reason == "colis 1"
    assert all(e.at is not None for e in order.events)


@pytest.mark.parametrize(
    ("path", "to"),
    [
        ((), OrderStatus.PLANNED),
        ((), OrderStatus.DELIVERED),
        ((OrderStatus.ACCEPTED,), OrderStatus.REJECTED),
        ((OrderStatus.REJECTED,), OrderStatus.ACCEPTED),
        ((OrderStatus.CANCELLED,), OrderStatus.CANCELLED),
        ((OrderStatus.ACCEPTED,), OrderStatus.RECEIVED),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(
    reference_loaded: Engine, path: tuple[OrderStatus, ...], to: OrderStatus
) -> None:
    ref = new_order(reference_loaded).reference
    for step in path:
        with unit_of_work(reference_loaded) as session:
            lifecycle.transition(session=session, reference=ref, to=step, actor="a", reason="r")
    before = state(reference_loaded)
    with (
        pytest.raises(IllegalTransition, match="cannot become"),
        unit_of_work(reference_loaded) as session,
    ):
        lifecycle.transition(session=session, reference=ref, to=to, actor="a", reason="r")
    assert state(reference_loaded) == before


def test_rejecting_or_cancelling_needs_a_reason(reference_loaded: Engine) -> None:
    ref = new_order(reference_loaded).reference
    for action in (lifecycle.reject_order, lifecycle.cancel_order):
        with pytest.raises(InvalidInput, match="reason"), unit_of_work(reference_loaded) as s:
            action(session=s, reference=ref, actor="a", reason="  ")


def test_an_unknown_reference_is_not_found(reference_loaded: Engine) -> None:
    with pytest.raises(UnknownOrder), unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference="CMD-2026-999999", actor="a")


def test_the_same_key_and_content_gives_back_the_order_and_another_content_is_refused(
    reference_loaded: Engine,
) -> None:
    first = new_order(reference_loaded, key="api:k")
    assert new_order(reference_loaded, key="api:k").id == first.id
    with pytest.raises(IdempotencyKeyReused):
        new_order(reference_loaded, key="api:k", quantity=3)


def test_order_events_are_append_only(reference_loaded: Engine) -> None:
    new_order(reference_loaded)
    with pytest.raises(DBAPIError), reference_loaded.begin() as connection:
        connection.execute(text("UPDATE hospital_order_event SET actor = 'someone else'"))
    with pytest.raises(DBAPIError), reference_loaded.begin() as connection:
        connection.execute(text("DELETE FROM hospital_order_event"))


def _post(engine: Engine, reason: MoveReason, ref: str, *legs: tuple[str, str, int]) -> int:
    (src, dst, qty), *_ = legs
    with unit_of_work(engine) as session:
        posting = post(
            session=session,
            request=PostingRequest(
                reason=reason,
                doc_type=ORDER_DOC_TYPE,
                doc_id=ref,
                legs=transfer(item="visor", qty=qty, source=src, destination=dst),
                actor="tester",
            ),
        )
        return posting.id or 0


def test_progress_is_read_from_postings_that_name_the_order(reference_loaded: Engine) -> None:
    ref = new_order(reference_loaded).reference
    other = new_order(reference_loaded).reference
    shelf = add_stock_location(reference_loaded)
    hospital = hospital_location_code("chu-de-poitiers")
    _post(reference_loaded, MoveReason.ASSEMBLY, ref, (catalogue.PRODUCTION, shelf, 120))
    wrong = _post(reference_loaded, MoveReason.ASSEMBLY, ref, (catalogue.PRODUCTION, shelf, 7))
    _post(reference_loaded, MoveReason.SHIPMENT, ref, (shelf, catalogue.TRANSIT, 100))
    _post(reference_loaded, MoveReason.DELIVERY, ref, (catalogue.TRANSIT, hospital, 60))
    _post(reference_loaded, MoveReason.ASSEMBLY, other, (catalogue.PRODUCTION, shelf, 5))
    with unit_of_work(reference_loaded) as session:
        reverse(session=session, posting_id=wrong, reason="counted twice", actor="tester")
    order = describe(reference_loaded, ref)
    assert (order.produced, order.shipped, order.delivered) == (120, 100, 60)
    assert describe(reference_loaded, other).produced == 5
