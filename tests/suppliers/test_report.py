"""The suppliers' contribution to the weekly report: per supplier and item, what was ordered and
what the ledger received in the week (receipts of no purchase order on a row of their own)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger import posting as posting_module
from fabcoord.ledger.models import MoveReason, Posting
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, WeeklyReport, build
from suppliers import purchasing
from suppliers import report as suppliers_report
from suppliers.models import PurchaseOrder, Supplier
from tests.suppliers.conftest import import_samples

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
LYON_FILAMENT = "00000002600013"


def weekly(engine: Engine, week: str, **request: str) -> WeeklyReport:
    registry = ProviderRegistry()
    registry.register("suppliers", suppliers_report.figures)
    with unit_of_work(engine, read_only=True) as session:
        return build(
            session=session,
            request=ReportRequest(week=week, **request),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )


def rows(result: WeeklyReport) -> dict[str, tuple[object, object]]:
    table = result.figures.suppliers
    return {r.name: (r.ordered, r.received) for r in table.itertuples() if r.kind == "supplier"}


@pytest.fixture
def purchases(reference_loaded: Engine, fablab: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Times UTC; 2026-W47 runs from 15 Nov 23:00 to 22 Nov 23:00.

    - PO1: 20 kg of PETG for Fablab des Usines, created and sent on 17 Nov (W47); 12 kg received
      on 18 Nov (W47), 8 kg on 24 Nov (W48);
    - PO2: 5 kg created on 18 Nov and left a draft (a request for quote: not ordered);
    - PO3: 10 kg created and sent on 10 Nov (W46), received whole on 19 Nov (W47);
    - 3 kg received on 20 Nov at Fabrique Lyon with no purchase order (``stock receive``).
    """
    engine = reference_loaded
    import_samples(engine)

    def at(*when: int) -> None:
        moment = datetime(*when, tzinfo=UTC)  # type: ignore[misc]
        for module in (purchasing, posting_module):
            monkeypatch.setattr(module, "utc_now", lambda: moment)

    def create(kg: str) -> int:
        with unit_of_work(engine) as session:
            order = purchasing.create(session=session, supplier=LYON_FILAMENT, item="petg", quantity=kg, unit="kg", fablab="Fablab des Usines", actor="t")  # fmt: skip
            return order.id or 0

    def act(action: str, order_id: int, **options: str) -> None:
        with unit_of_work(engine) as session:
            getattr(purchasing, action)(session=session, order_id=order_id, **options)

    at(2026, 11, 10, 9)
    po3 = create("10")
    act("send", po3)
    at(2026, 11, 17, 9)
    po1 = create("20")
    act("send", po1)
    at(2026, 11, 18, 9)
    create("5")
    act("receive", po1, quantity="12", unit="kg", lot="L-1", actor="t")
    at(2026, 11, 19, 9)
    act("receive", po3, quantity="10", unit="kg", lot="L-3", actor="t")
    at(2026, 11, 20, 9)
    with unit_of_work(engine) as session:
        post(session=session, request=PostingRequest(reason=MoveReason.RECEIPT, doc_type="receipt", doc_id="BL-9", actor="t", legs=(Leg("petg", catalogue.SUPPLIERS, -3000), Leg("petg", "fablab/fabrique-lyon", 3000))))  # fmt: skip
    at(2026, 11, 24, 9)
    act("receive", po1, quantity="8", unit="kg", lot="L-2", actor="t")
    monkeypatch.undo()
    with unit_of_work(engine) as session:
        return session.exec(select(Supplier.name).where(Supplier.siret == LYON_FILAMENT)).one()


def test_ordered_and_received_per_supplier_in_the_week(
    reference_loaded: Engine, purchases: str
) -> None:
    """W47: ordered 20 kg (PO1; PO2 is a draft, PO3 was ordered in W46); received 12 + 10 kg
    from the supplier and 3 kg with no purchase order."""
    assert rows(weekly(reference_loaded, "2026-W47")) == {
        purchases: (20_000, 22_000),
        suppliers_report.UNORDERED: (0, 3_000),
    }
    assert rows(weekly(reference_loaded, "2026-W48")) == {purchases: (0, 8_000)}
    assert rows(weekly(reference_loaded, "2026-W46")) == {purchases: (10_000, 0)}


def test_a_fablab_sees_only_its_own_purchases(reference_loaded: Engine, purchases: str) -> None:
    only = weekly(reference_loaded, "2026-W47", fablab="Fablab des Usines")
    assert rows(only) == {purchases: (20_000, 22_000)}


def test_a_week_without_purchases_falls_back_to_nothing_and_does_not_fail(
    reference_loaded: Engine, fablab: str
) -> None:
    result = weekly(reference_loaded, "2026-W47")
    assert result.figures.suppliers.empty
    assert "suppliers" not in result.figures.provided


def test_a_reversed_receipt_counts_against_its_supplier_in_the_week_of_the_reversal(
    reference_loaded: Engine, purchases: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3 kg without purchase order (20 Nov) are reversed on 21 Nov, in W47 itself; PO3's
    10 kg of 19 Nov (W47) on 24 Nov, in W48: W47 keeps PO3's receipt, W48 counts it back."""

    def reverse_receipt(doc_type: str, doc_id: str, when: datetime) -> None:
        monkeypatch.setattr(posting_module, "utc_now", lambda: when)
        with unit_of_work(reference_loaded) as session:
            found = session.exec(
                select(Posting.id).where(
                    Posting.reason == MoveReason.RECEIPT,
                    Posting.doc_type == doc_type,
                    Posting.doc_id == doc_id,
                )
            ).one()
            posting_module.reverse(session=session, posting_id=found, reason="wrong", actor="t")

    with unit_of_work(reference_loaded) as session:
        po3 = session.exec(select(PurchaseOrder.id).order_by(col(PurchaseOrder.id))).first()
    reverse_receipt("receipt", "BL-9", datetime(2026, 11, 21, 9, tzinfo=UTC))
    reverse_receipt("purchase_order", str(po3), datetime(2026, 11, 24, 9, tzinfo=UTC))
    assert rows(weekly(reference_loaded, "2026-W47")) == {purchases: (20_000, 22_000)}
    assert rows(weekly(reference_loaded, "2026-W48")) == {purchases: (0, 8_000 - 10_000)}
