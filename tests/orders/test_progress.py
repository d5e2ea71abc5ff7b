"""Progress read from the ledger when one document serves several orders of a hospital, on SQLite
and PostgreSQL: it is counted once, as the core counts it for the orders' status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import select

from fabcoord import demand, events
from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import PostingRequest, post, transfer
from fabcoord.planning import capacity
from fabcoord.records import Hospital
from fabcoord.reference import hospital_location_code
from orders import lifecycle, service
from orders.schemas import OrderCreate, OrderPublic, today
from tests.factories import Runner, add_stock_location
from tests.orders.conftest import HOSPITAL, OTHER_HOSPITAL, valid_order
from tests.orders.test_model import create, hospital_id

PARTNER = "Plastiques de Lyon"


@pytest.fixture(autouse=True)
def clean_wiring() -> Iterator[None]:
    yield None  # the command line wires the packages' event handlers
    events.subscribers.clear()
    capacity.providers.clear()


@pytest.fixture
def run(reference_loaded: Engine, database_url: str, capsys: pytest.CaptureFixture[str]) -> Runner:
    """The command line, with a partner to hand visors off to."""
    runner = Runner(database_url, capsys)
    runner.ok(
        *("partners", "add", PARTNER, "--odoo-url", "https://odoo.example", "--database", "prod"),
        *("--login", "fabcoord@chu.example", "--api-key-env", "PARTNER_KEY"),
    )
    return runner


def two_orders(engine: Engine) -> tuple[str, str]:
    """Two accepted orders of 100 visors of one hospital."""
    references = []
    for _ in range(2):
        reference = create(engine, quantity=100).reference
        with unit_of_work(engine) as session:
            lifecycle.accept_order(session=session, reference=reference, actor="anne")
        references.append(reference)
    return references[0], references[1]


def hand_off(run: Runner, *how: str) -> str:
    """A confirmed hand-off to the orders' hospital (its default destination); its id."""
    needed_by = (today() + timedelta(days=9)).isoformat()
    created = run.json("handoff", "create", "--partner", PARTNER, "--needed-by", needed_by, *how)
    assert isinstance(created, dict)
    number = str(created["id"])
    run.ok("handoff", "confirm", number)
    return number


def described(engine: Engine, *references: str) -> dict[str, OrderPublic]:
    """The orders as one list reads them (one progress for all)."""
    with unit_of_work(engine, read_only=True) as session:
        found = [service.get_order(session=session, reference=r) for r in references]
        return {o.reference: o for o in service.describe(session=session, orders=found)}


def core_count(engine: Engine, reference: str) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return sum(demand.delivered_per_line(session=session, reference=reference).values())


@pytest.mark.parametrize(
    ("how", "first_served"),
    [
        (("--lines", "{a}/1=100,{b}/1=100"), 0),
        (("--lines", "{b}/1=100,{a}/1=100"), 1),  # link order, not the orders' order
        (("--qty", "200", "--orders", "{a},{b}"), 0),  # no lines: each order's line in full
    ],
)
def test_a_hand_off_serving_two_orders_is_delivered_once_in_link_order(
    reference_loaded: Engine, run: Runner, how: tuple[str, ...], first_served: int
) -> None:
    a, b = two_orders(reference_loaded)
    first, second = (a, b) if first_served == 0 else (b, a)
    number = hand_off(run, *(arg.format(a=a, b=b) for arg in how))
    run.ok("handoff", "receive", number, "--qty", "100")

    # 100 arrived in all: the first linked order has it, the other nothing yet
    orders = described(reference_loaded, a, b)
    assert (orders[first].delivered, orders[second].delivered) == (100, 0)
    for reference in (a, b):  # read alone (orders show, the API) as in a list
        (alone,) = described(reference_loaded, reference).values()
        assert (
            alone.delivered
            == orders[reference].delivered
            == core_count(reference_loaded, reference)
        )
    # and the status agrees: only the first is delivered
    assert (orders[first].status.value, orders[second].status.value) == ("delivered", "accepted")
    shown = run.json("orders", "show", second)
    assert isinstance(shown, dict)
    assert (shown["delivered"], shown["status"]) == (0, "accepted")

    run.ok("handoff", "receive", number, "--qty", "100")
    orders = described(reference_loaded, a, b)
    assert (orders[first].delivered, orders[second].delivered) == (100, 100)
    assert {o.status.value for o in orders.values()} == {"delivered"}
    assert [core_count(reference_loaded, r) for r in (a, b)] == [100, 100]


def test_a_shared_document_costs_one_more_statement_for_all_orders_and_others_none(
    reference_loaded: Engine, run: Runner
) -> None:
    a, b = two_orders(reference_loaded)
    alone = create(reference_loaded, quantity=100).reference  # served by no shared document
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=alone, actor="anne")
    for number, qty in (
        (hand_off(run, "--lines", f"{a}/1=100,{b}/1=100"), "100"),
        (hand_off(run, "--lines", f"{alone}/1=100"), "40"),
    ):
        run.ok("handoff", "receive", number, "--qty", qty)

    def statements(*references: str) -> tuple[list[int], int]:
        seen: list[Any] = []

        def record(*args: Any) -> None:
            seen.append(args[2])

        with unit_of_work(reference_loaded, read_only=True) as session:
            found = [service.get_order(session=session, reference=r) for r in references]
            event.listen(Engine, "before_cursor_execute", record)
            try:
                orders = service.describe(session=session, orders=found)
            finally:
                event.remove(Engine, "before_cursor_execute", record)
        return [o.delivered for o in orders], len(seen)

    delivered, unshared = statements(alone)
    assert (delivered, unshared) == ([40], 4)  # hospitals, lines, sites, progress: as before
    delivered, shared = statements(a)
    assert (delivered, shared) == ([100], unshared + 1)
    delivered, several = statements(alone, a, b)
    assert (delivered, several) == ([40, 100, 0], unshared + 1)


def test_a_document_serving_two_hospitals_fills_at_each_only_that_hospitals_orders(
    reference_loaded: Engine,
) -> None:
    with unit_of_work(reference_loaded) as session:
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital_id(reference_loaded, OTHER_HOSPITAL),
            order=OrderCreate.model_validate(valid_order(quantity=100)),
            actor="tester",
            channel="api",
        )
        other = order.reference
    mine = create(reference_loaded, quantity=100).reference
    with unit_of_work(reference_loaded) as session:
        for reference in (mine, other):
            lifecycle.accept_order(session=session, reference=reference, actor="anne")
            demand.link(
                session=session, doc_type="handoff", doc_id="9", reference=reference, line=1
            )
        for name, qty in ((OTHER_HOSPITAL, 60), (HOSPITAL, 30)):
            hospital = session.exec(select(Hospital).where(Hospital.name == name)).one()
            post(
                session=session,
                request=PostingRequest(
                    reason=MoveReason.HANDOFF,
                    doc_type="handoff",
                    doc_id="9",
                    legs=transfer(
                        item="visor",
                        qty=qty,
                        source=catalogue.PARTNERS,
                        destination=hospital_location_code(hospital.slug),
                    ),
                    actor="tester",
                ),
            )
    # Bordeaux's 60 are not Poitiers' to take although Poitiers' order was linked first
    orders = described(reference_loaded, mine, other)
    assert (orders[mine].delivered, orders[other].delivered) == (30, 60)
    assert [core_count(reference_loaded, r) for r in (mine, other)] == [30, 60]


def test_what_a_shared_document_made_and_shipped_is_counted_once_in_link_order(
    reference_loaded: Engine,
) -> None:
    """No document that makes or ships serves two orders today (a print job, a shipment serves
    one line); were one to, it would be counted once like a delivery, over all its lines."""
    a, b = two_orders(reference_loaded)
    shelf = add_stock_location(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        for reference in (b, a):
            for doc_type, doc_id in (("print_job", "42"), ("shipment", "SHP-42")):
                demand.link(
                    session=session, doc_type=doc_type, doc_id=doc_id, reference=reference, line=1
                )
        for reason, doc_type, doc_id, qty, source, destination in (
            (MoveReason.ASSEMBLY, "print_job", "42", 150, catalogue.PRODUCTION, shelf),
            (MoveReason.SHIPMENT, "shipment", "SHP-42", 80, shelf, catalogue.TRANSIT),
        ):
            post(
                session=session,
                request=PostingRequest(
                    reason=reason,
                    doc_type=doc_type,
                    doc_id=doc_id,
                    legs=transfer(item="visor", qty=qty, source=source, destination=destination),
                    actor="tester",
                ),
            )
    orders = described(reference_loaded, a, b)
    assert (orders[b].produced, orders[a].produced) == (100, 50)
    assert (orders[b].shipped, orders[a].shipped) == (80, 0)
