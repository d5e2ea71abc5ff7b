"""The order model: lines, sites, the hospital's own reference, and the core's projection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand
from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import PostingRequest, post, transfer
from fabcoord.records import Hospital
from orders import lifecycle, service, sites
from orders.errors import InvalidOrder
from orders.models import Order, OrderStatus
from orders.schemas import OrderCreate, OrderPublic, today
from tests.factories import add_stock_location
from tests.orders.conftest import HOSPITAL, state, valid_order


def hospital_id(engine: Engine, name: str = HOSPITAL) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return session.exec(select(Hospital.id).where(Hospital.name == name)).one() or 0


def create(engine: Engine, **changes: Any) -> Order:
    with unit_of_work(engine) as session:
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital_id(engine),
            order=OrderCreate.model_validate(valid_order(**changes)),
            actor="tester",
            channel="api",
        )
        return order


def read(engine: Engine, reference: str) -> OrderPublic:
    with unit_of_work(engine, read_only=True) as session:
        found = service.get_order(session=session, reference=reference)
        return service.describe(session=session, orders=[found], with_events=True)[0]


def projected(engine: Engine, reference: str) -> list[tuple[Any, ...]]:
    with unit_of_work(engine, read_only=True) as session:
        return [
            (r.line, r.item_code, r.quantity, r.state, r.status, r.priority)
            for r in demand.lines_of(session=session, reference=reference)
        ]


def add_site(engine: Engine, name: str = "Hôpital Nord", **changes: str) -> int:
    fields = {"address": "12 rue du Nord", "postal_code": "86000", "city": "Poitiers"} | changes
    with unit_of_work(engine) as session:
        return (
            sites.add_site(
                session=session, hospital=HOSPITAL, name=name, actor="tester", **fields
            ).id
            or 0
        )


def test_an_order_has_several_lines_and_their_total(
    reference_loaded: Engine, second_model: str
) -> None:
    lines = [{"item": "visor", "quantity": 200}, {"item": second_model, "quantity": 50}]
    order = create(reference_loaded, item=None, quantity=None, lines=lines)
    public = read(reference_loaded, order.reference)
    assert [(x.line, x.item, x.quantity) for x in public.lines] == [
        (1, "visor", 200),
        (2, second_model, 50),
    ]
    assert public.quantity == 250


def test_item_and_quantity_make_one_line(reference_loaded: Engine) -> None:
    public = read(reference_loaded, create(reference_loaded, quantity=40).reference)
    assert [(x.line, x.item, x.quantity) for x in public.lines] == [(1, "visor", 40)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"item": "helmet"}, "item"),
        (
            {
                "quantity": None,
                "lines": [{"item": "visor", "quantity": 1}, {"item": "x", "quantity": 1}],
            },
            "lines.1.item",
        ),
        (
            {
                "quantity": None,
                "lines": [{"item": "visor", "quantity": 1}, {"item": "visor", "quantity": 2}],
            },
            "lines.1.item",
        ),
        ({"site": 999_999}, "site"),
    ],
)
def test_unknown_models_and_sites_are_refused_and_change_nothing(
    reference_loaded: Engine, changes: dict[str, Any], field: str
) -> None:
    before = state(reference_loaded)
    with pytest.raises(InvalidOrder) as refused:
        create(reference_loaded, **changes)
    assert field in refused.value.fields
    assert state(reference_loaded) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": None, "lines": [{"item": "visor", "quantity": 0}]},
        {"quantity": 0},
        {"purchase_order": "B" * 10_000},
        {"quantity": None, "lines": []},
        {"quantity": 3, "lines": [{"item": "visor", "quantity": 1}]},
        {"delivery_address": ""},
    ],
)
def test_bad_lines_references_and_addresses_are_refused(changes: dict[str, Any]) -> None:
    data = valid_order(**changes)
    with pytest.raises(ValueError):  # pydantic's ValidationError or the cross-field rules
        order = OrderCreate.model_validate(data)
        if problems := order.check_urgency():
            raise ValueError(problems)


def test_the_purchase_order_number_is_kept_and_shown(reference_loaded: Engine) -> None:
    order = create(reference_loaded, purchase_order="BC-2026-00417")
    assert read(reference_loaded, order.reference).purchase_order == "BC-2026-00417"


def test_an_address_becomes_a_site_once(reference_loaded: Engine) -> None:
    first = create(
        reference_loaded, delivery_address="Magasin central\n2 rue de la Milétrie, 86000 Poitiers"
    )
    again = create(
        reference_loaded, delivery_address="Magasin central\n2 rue de la Milétrie, 86000 Poitiers"
    )
    assert first.site_id == again.site_id
    site = read(reference_loaded, first.reference).site
    assert site is not None
    assert (site.name, site.postal_code, site.city) == ("Magasin central", "86000", "Poitiers")
    with unit_of_work(reference_loaded, read_only=True) as session:
        offered = sites.sites_of(session=session, hospital_id=hospital_id(reference_loaded))
    assert [s.name for s in offered] == ["Magasin central"]


def test_an_order_is_delivered_to_a_chosen_site(reference_loaded: Engine) -> None:
    site = add_site(reference_loaded, contact="Magasin, poste 4521")
    order = create(reference_loaded, site=site, delivery_address="")
    public = read(reference_loaded, order.reference)
    assert public.site is not None and public.site.id == site
    assert public.delivery_address == "Hôpital Nord, 12 rue du Nord, 86000 Poitiers"


def test_another_hospitals_site_is_unknown(reference_loaded: Engine) -> None:
    with unit_of_work(reference_loaded) as session:
        other = sites.add_site(
            session=session,
            hospital="CHU de Bordeaux",
            name="Pellegrin",
            address="Place Amélie Raba-Léon",
            actor="t",
        ).id
    with pytest.raises(InvalidOrder, match="site"):
        create(reference_loaded, site=other)


def test_a_removed_site_is_no_longer_offered(reference_loaded: Engine) -> None:
    site = add_site(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        sites.remove_site(session=session, hospital=HOSPITAL, site="hôpital nord")
    with pytest.raises(InvalidOrder, match="site"):
        create(reference_loaded, site=site)


def test_site_names_are_unique_per_hospital_and_postal_codes_checked(
    reference_loaded: Engine,
) -> None:
    add_site(reference_loaded)
    with pytest.raises(InvalidInput, match="already"):
        add_site(reference_loaded, name="HÔPITAL NORD")
    with pytest.raises(InvalidInput, match="postal"):
        add_site(reference_loaded, name="Sud", postal_code="8600")


def test_the_core_sees_every_line_and_every_state(
    reference_loaded: Engine, second_model: str
) -> None:
    lines = [{"item": "visor", "quantity": 200}, {"item": second_model, "quantity": 50}]
    order = create(reference_loaded, item=None, quantity=None, lines=lines, priority="critical")
    ref = order.reference
    pending, open_, closed = (
        demand.DemandState.PENDING,
        demand.DemandState.OPEN,
        demand.DemandState.CLOSED,
    )
    assert projected(reference_loaded, ref) == [
        (1, "visor", 200, pending, "received", 3),
        (2, second_model, 50, pending, "received", 3),
    ]
    steps = [
        (OrderStatus.ACCEPTED, open_),
        (OrderStatus.IN_PRODUCTION, open_),
        (OrderStatus.SHIPPED, open_),
        (OrderStatus.DELIVERED, closed),
    ]
    for status, expected in steps:
        with unit_of_work(reference_loaded) as session:
            lifecycle.transition(session=session, reference=ref, to=status, actor="a", reason="r")
        assert {(row[3], row[4]) for row in projected(reference_loaded, ref)} == {
            (expected, status.value)
        }


@pytest.mark.parametrize("final", [OrderStatus.REJECTED, OrderStatus.CANCELLED])
def test_rejected_and_cancelled_orders_are_closed_for_the_core(
    reference_loaded: Engine, final: OrderStatus
) -> None:
    ref = create(reference_loaded).reference
    with unit_of_work(reference_loaded) as session:
        lifecycle.transition(session=session, reference=ref, to=final, actor="a", reason="r")
    assert projected(reference_loaded, ref)[0][3] is demand.DemandState.CLOSED


def test_planning_publishes_and_replanning_records_the_reason(reference_loaded: Engine) -> None:
    ref = create(reference_loaded).reference
    first, later = today() + timedelta(days=3), today() + timedelta(days=9)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne")
        lifecycle.plan_order(session=session, reference=ref, actor="anne", expected_delivery=first)
        lifecycle.replan_order(
            session=session,
            reference=ref,
            actor="anne",
            expected_delivery=later,
            reason="filament en retard",
        )
    order = read(reference_loaded, ref)
    assert (order.status, order.expected_delivery) == (OrderStatus.PLANNED, later)
    last = order.events[-1]
    assert (last.from_status, last.to_status) == (OrderStatus.PLANNED, OrderStatus.PLANNED)
    assert "filament en retard" in last.reason and later.strftime("%d/%m/%Y") in last.reason


def test_progress_counts_documents_linked_to_the_order(reference_loaded: Engine) -> None:
    ref = create(reference_loaded).reference
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne")
    shelf = add_stock_location(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        demand.link(session=session, doc_type="print_job", doc_id="42", reference=ref, line=1)
        demand.link(session=session, doc_type="print_job", doc_id="42", reference=ref, line=1)
        for doc_id, qty in (("42", 30), ("43", 99)):  # 43 serves no order
            post(
                session=session,
                request=PostingRequest(
                    reason=MoveReason.ASSEMBLY,
                    doc_type="print_job",
                    doc_id=doc_id,
                    legs=transfer(
                        item="visor", qty=qty, source=catalogue.PRODUCTION, destination=shelf
                    ),
                    actor="tester",
                ),
            )
    assert read(reference_loaded, ref).produced == 30


def test_seeded_sites_carry_their_source_and_seeding_twice_adds_nothing(
    reference_loaded: Engine, settings: Any
) -> None:
    with unit_of_work(reference_loaded) as session:
        added = sites.seed_sites(session=session, data_dir=settings.data_dir, actor="t")
        again = sites.seed_sites(session=session, data_dir=settings.data_dir, actor="t")
        nantes = sites.sites_of(
            session=session, hospital_id=hospital_id(reference_loaded, "CHU de Nantes")
        )
    assert (added, again) == (3, 0)
    assert [s.name for s in nantes] == ["Hôpital Nord Laennec", "Hôtel-Dieu"]
    assert all(s.source.startswith("https://") for s in nantes)
