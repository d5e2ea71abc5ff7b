"""Purchase orders: states, the French PDF, receipts posted to the ledger, stock on order."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidQuantity, UnknownUnit
from fabcoord.ledger import balances, catalogue, journal
from suppliers import pdf, purchasing
from suppliers.errors import (
    NoExpectedDay,
    OverReceipt,
    PurchaseStateError,
    UnknownPurchaseOrder,
)
from suppliers.models import PurchaseOrder, PurchaseState
from tests.factories import ledger_snapshot
from tests.suppliers.conftest import HEADER, import_file, import_samples

LYON_FILAMENT = "00000002600013"
NO_LEAD_TIME = "Filaments Sans Délai (fictif)"


def undated_supplier(engine: Engine, tmp_path: Path) -> None:
    """A supplier whose listing gives no lead time (its « Délai » column is empty)."""
    row = f"{NO_LEAD_TIME};;1 rue A;69007;Lyon;Auvergne-Rhône-Alpes;;filament PETG;;"
    path = tmp_path / "list.csv"
    path.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    import_file(engine, path)


def sent_order(engine: Engine, supplier: str) -> int:
    with unit_of_work(engine) as session:
        order = purchasing.create(
            session=session,
            supplier=supplier,
            item="petg",
            quantity="5",
            unit="kg",
            fablab="Fablab des Usines",
            actor="tester",
        )
        purchasing.send(session=session, order_id=order.id or 0)
        return order.id or 0


@pytest.fixture
def order_id(reference_loaded: Engine, fablab: str) -> int:
    import_samples(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        order = purchasing.create(
            session=session,
            supplier=LYON_FILAMENT,
            item="petg",
            quantity="20",
            unit="kg",
            price="18,50",
            fablab="Fablab des Usines",
            actor="tester",
        )
        return order.id or 0


def state(engine: Engine, order_id: int) -> PurchaseState:
    with unit_of_work(engine, read_only=True) as session:
        return purchasing.get_order(session=session, order_id=order_id).state


def do(engine: Engine, action: str, order_id: int, **options: object) -> None:
    with unit_of_work(engine) as session:
        getattr(purchasing, action)(session=session, order_id=order_id, **options)


def receive(engine: Engine, order_id: int, qty: str, lot: str, **options: object) -> None:
    with unit_of_work(engine) as session:
        purchasing.receive(
            session=session,
            order_id=order_id,
            quantity=qty,
            unit="kg",
            lot=lot,
            actor="tester",
            **options,  # type: ignore[arg-type]
        )


def petg_at_fablab(engine: Engine) -> int:
    with unit_of_work(engine, read_only=True) as session:
        item = catalogue.get_item(session=session, code="petg")
        where = catalogue.get_location(session=session, code="fablab/fablab-des-usines")
        return balances.quantity(session=session, item_id=item.id or 0, location_id=where.id or 0)


def test_an_order_goes_from_draft_to_received_and_posts_each_lot(
    reference_loaded: Engine, order_id: int
) -> None:
    assert state(reference_loaded, order_id) is PurchaseState.DRAFT
    do(reference_loaded, "send", order_id)
    do(reference_loaded, "confirm", order_id)
    with unit_of_work(reference_loaded, read_only=True) as session:
        order = purchasing.get_order(session=session, order_id=order_id)
        assert (order.quantity, order.unit_price_cents, order.price_unit) == (20_000, 1850, "kg")
        assert order.expected_on is not None  # today + the supplier's 3 days
        assert (
            purchasing.on_order_total(session=session, fablab_id=order.fablab_id, item="petg")
            == 20_000
        )
    receive(reference_loaded, order_id, "12", "LOT-A")
    assert state(reference_loaded, order_id) is PurchaseState.PARTLY_RECEIVED
    receive(reference_loaded, order_id, "8", "LOT-B")
    assert state(reference_loaded, order_id) is PurchaseState.RECEIVED
    assert petg_at_fablab(reference_loaded) == 20_000
    with unit_of_work(reference_loaded, read_only=True) as session:
        moves = journal.list_moves(
            session=session,
            where=journal.MoveFilter(doc_type="purchase_order", doc_id=str(order_id)),
        )
        assert {(m.reason, m.lot) for m in moves} == {("receipt", "LOT-A"), ("receipt", "LOT-B")}
        assert purchasing.on_order(session=session) == []


def test_receiving_more_than_ordered_needs_over_and_leaves_the_ledger_unchanged(
    reference_loaded: Engine, order_id: int
) -> None:
    do(reference_loaded, "send", order_id)
    before = ledger_snapshot(reference_loaded)
    with pytest.raises(OverReceipt, match="would make 21000 of 20000 ordered; use --over"):
        receive(reference_loaded, order_id, "21", "LOT-A")
    assert ledger_snapshot(reference_loaded) == before
    receive(reference_loaded, order_id, "21", "LOT-A", over=True)
    assert state(reference_loaded, order_id) is PurchaseState.RECEIVED
    assert petg_at_fablab(reference_loaded) == 21_000


@pytest.mark.parametrize(
    ("qty", "lot", "error"),
    [
        ("-3", "LOT", InvalidQuantity),
        ("0", "LOT", InvalidQuantity),
        ("abc", "LOT", InvalidQuantity),
        ("3", "", Exception),
    ],
)
def test_bad_receipts_are_refused_and_post_nothing(
    reference_loaded: Engine, order_id: int, qty: str, lot: str, error: type[Exception]
) -> None:
    do(reference_loaded, "send", order_id)
    before = ledger_snapshot(reference_loaded)
    with pytest.raises(error):
        receive(reference_loaded, order_id, qty, lot)
    assert ledger_snapshot(reference_loaded) == before
    assert state(reference_loaded, order_id) is PurchaseState.SENT


def test_unknown_orders_and_wrong_states_are_refused(
    reference_loaded: Engine, order_id: int
) -> None:
    with pytest.raises(UnknownPurchaseOrder, match="unknown purchase order 999"):
        receive(reference_loaded, 999, "1", "LOT")
    with pytest.raises(PurchaseStateError, match="is draft: only a sent or confirmed order"):
        receive(reference_loaded, order_id, "1", "LOT")
    do(reference_loaded, "cancel", order_id)
    with pytest.raises(PurchaseStateError, match="is cancelled: it cannot be sent"):
        do(reference_loaded, "send", order_id)
    with pytest.raises(UnknownUnit), unit_of_work(reference_loaded) as session:
        purchasing.create(
            session=session,
            supplier=LYON_FILAMENT,
            item="petg",
            quantity="3",
            unit="sheet",
            fablab="Fablab des Usines",
            actor="t",
        )


def test_the_pdf_is_a_french_request_for_quote_then_a_purchase_order(
    reference_loaded: Engine, order_id: int
) -> None:
    with unit_of_work(reference_loaded, read_only=True) as session:
        order = purchasing.get_order(session=session, order_id=order_id)
        draft = pdf.render(session=session, order=order, today=date(2020, 4, 2), compress=False)
    assert draft.startswith(b"%PDF")
    assert f"Demande de prix n\\260 {order_id}".encode() in draft
    assert b"Filaments Exemple Rh\\364ne \\(fictif\\)" in draft
    assert b"20 kg" in draft and b"18,50 \\200 / kg" in draft and b"370,00 \\200" in draft
    do(reference_loaded, "send", order_id)
    with unit_of_work(reference_loaded, read_only=True) as session:
        order = purchasing.get_order(session=session, order_id=order_id)
        sent = pdf.render(session=session, order=order, today=date(2020, 4, 2), compress=False)
    assert f"Bon de commande n\\260 {order_id}".encode() in sent


def test_a_receipt_retried_with_its_key_is_counted_once(
    reference_loaded: Engine, order_id: int
) -> None:
    do(reference_loaded, "send", order_id)
    for _ in range(3):
        receive(reference_loaded, order_id, "20", "LOT-A", key="BL-77")
    assert state(reference_loaded, order_id) is PurchaseState.RECEIVED
    assert petg_at_fablab(reference_loaded) == 20_000
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert purchasing.get_order(session=session, order_id=order_id).received == 20_000


def test_confirming_without_a_day_is_refused_when_the_supplier_declares_no_lead_time(
    reference_loaded: Engine, fablab: str, tmp_path: Path
) -> None:
    """A confirmed order without an expected day would count nowhere as stock on order."""
    undated_supplier(reference_loaded, tmp_path)
    order_id = sent_order(reference_loaded, NO_LEAD_TIME)
    said = (
        f"purchase order {order_id}: {NO_LEAD_TIME} declares no lead time; give the delivery day "
        f"the supplier confirmed (purchase confirm {order_id} --expected"
    )
    with pytest.raises(NoExpectedDay, match=re.escape(said)):
        do(reference_loaded, "confirm", order_id)
    with unit_of_work(reference_loaded, read_only=True) as session:
        order = purchasing.get_order(session=session, order_id=order_id)
        assert (order.state, order.expected_on) == (PurchaseState.SENT, None)
    do(reference_loaded, "confirm", order_id, expected_on=date(2020, 4, 9))
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert [
            (o.order_id, o.quantity, o.expected_on) for o in purchasing.on_order(session=session)
        ] == [(order_id, 5_000, date(2020, 4, 9))]


def test_an_order_confirmed_without_a_day_earlier_takes_one_and_keeps_its_state(
    reference_loaded: Engine, fablab: str, tmp_path: Path
) -> None:
    """Orders confirmed before the rule, which count nowhere, can be given their day."""
    undated_supplier(reference_loaded, tmp_path)
    order_id = sent_order(reference_loaded, NO_LEAD_TIME)
    with unit_of_work(reference_loaded) as session:  # as an earlier fabcoord left it
        legacy = session.get(PurchaseOrder, order_id)
        assert legacy is not None
        legacy.state = PurchaseState.CONFIRMED
        session.add(legacy)
    receive(reference_loaded, order_id, "2", "LOT-A")
    with pytest.raises(NoExpectedDay):
        do(reference_loaded, "confirm", order_id)
    do(reference_loaded, "confirm", order_id, expected_on=date(2020, 4, 9))
    with unit_of_work(reference_loaded, read_only=True) as session:
        order = purchasing.get_order(session=session, order_id=order_id)
        assert (order.state, order.expected_on) == (PurchaseState.PARTLY_RECEIVED, date(2020, 4, 9))
        assert (
            purchasing.on_order_total(session=session, fablab_id=order.fablab_id, item="petg")
            == 3_000
        )
    with pytest.raises(PurchaseStateError, match="is partly_received: it cannot be confirmed"):
        do(reference_loaded, "confirm", order_id, expected_on=date(2020, 4, 10))
