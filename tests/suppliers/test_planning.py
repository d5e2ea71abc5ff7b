"""Stock on order as the planner sees it: confirmed purchase orders with a date, what is left."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.planning.capacity import Incoming, Providers
from suppliers import planning, purchasing
from tests.suppliers.conftest import import_samples
from tests.suppliers.test_purchasing import LYON_FILAMENT, do, receive

EXPECTED = date(2026, 12, 10)


def incoming(engine: Engine) -> list[Incoming]:
    with unit_of_work(engine, read_only=True) as session:
        return planning.on_order(session=session)


def test_only_confirmed_orders_count_with_what_they_still_bring(
    reference_loaded: Engine, fablab: str
) -> None:
    import_samples(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        order = purchasing.create(
            session=session,
            supplier=LYON_FILAMENT,
            item="petg",
            quantity="20",
            unit="kg",
            fablab="Fablab des Usines",
            actor="tester",
        )
        order_id = order.id or 0
    assert incoming(reference_loaded) == []  # a draft is a request for quote
    do(reference_loaded, "send", order_id)
    assert incoming(reference_loaded) == []  # sent: no date from the supplier yet
    do(reference_loaded, "confirm", order_id, expected_on=EXPECTED)
    source = f"purchase order {order_id}"
    assert incoming(reference_loaded) == [Incoming(fablab, "petg", 20_000, EXPECTED, source)]
    receive(reference_loaded, order_id, "5", "SPOOL-1")
    assert incoming(reference_loaded) == [Incoming(fablab, "petg", 15_000, EXPECTED, source)]
    do(reference_loaded, "cancel", order_id)
    assert incoming(reference_loaded) == []


def test_the_provider_registers_once_with_the_planner() -> None:
    providers = Providers()
    planning.provide(providers)
    planning.provide(providers)
    assert providers.on_order == [planning.on_order]
