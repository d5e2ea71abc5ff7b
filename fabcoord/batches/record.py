"""What went into a batch, read from the ledger: the batch record's content."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from fabcoord import fablabs
from fabcoord.batches import service
from fabcoord.batches.models import Batch, BatchSource, Shipment
from fabcoord.ledger.models import Item, Location, LocationKind, StockMove


@dataclass(frozen=True)
class LotUsed:
    item: str
    lot: str
    qty: int


@dataclass(frozen=True)
class Source:
    """A document behind the batch's frames: a print job (with its printer and filament lot) or
    a maker's delivery."""

    doc_type: str
    doc_id: str
    frames: int
    printer: str
    material_lot: str


@dataclass(frozen=True)
class Check:
    inspector: str
    inspected_at: datetime
    sample_size: int
    passed: bool
    results: dict[str, bool]
    cleaning_product: str
    cleaning_date: date | None


@dataclass(frozen=True)
class BatchRecord:
    number: str
    fablab: str
    design: str
    quantity: int
    state: str
    assembled_by: str
    assembled_at: datetime
    released_by: str
    released_at: datetime | None
    recall_reason: str
    lots: list[LotUsed]
    sources: list[Source]
    checks: list[Check]
    shipments: list[tuple[str, str, int, int | None]]  # number, order, shipped, received


def batch_record(*, session: Session, number: str) -> BatchRecord:
    """Everything the batch record shows (one query per kind of fact)."""
    batch = service.get_batch(session=session, number=number)
    lab = service.fablab_of(session=session, batch=batch)
    stock = fablabs.stock_location_code(lab.slug)
    legs = session.exec(
        select(Item.code, StockMove.lot, StockMove.qty)
        .join(Item, col(Item.id) == StockMove.item_id)
        .join(Location, col(Location.id) == StockMove.location_id)
        .where(StockMove.posting_id == batch.posting_id, Location.code == stock, StockMove.qty < 0)
        .order_by(col(Item.code), col(StockMove.lot))
    ).all()
    sources = list(
        session.exec(
            select(BatchSource)
            .where(BatchSource.batch_id == batch.id)
            .order_by(col(BatchSource.id))
        )
    )
    printers = _printers(session, [s.posting_id for s in sources])
    return BatchRecord(
        number=batch.number,
        fablab=lab.name,
        design=batch.design,
        quantity=batch.quantity,
        state=batch.state.value,
        assembled_by=batch.assembled_by,
        assembled_at=batch.assembled_at,
        released_by=batch.released_by,
        released_at=batch.released_at,
        recall_reason=batch.recall_reason,
        lots=[LotUsed(item, lot, -int(qty)) for item, lot, qty in legs],
        sources=[
            Source(s.doc_type, s.doc_id, s.frames, *printers.get(s.posting_id, ("", "")))
            for s in sources
        ],
        checks=[
            Check(
                i.inspector,
                i.inspected_at,
                i.sample_size,
                i.passed,
                json.loads(i.results),
                i.cleaning_product,
                i.cleaning_date,
            )
            for i in service.inspections_of(session=session, batch=batch)
        ],
        shipments=[
            (s.number, s.reference, s.quantity, s.received)
            for s in session.exec(
                select(Shipment).where(Shipment.batch_id == batch.id).order_by(col(Shipment.id))
            )
        ],
    )


def _printers(session: Session, posting_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Posting → (printer location, filament lot) for postings that drew on a printer."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(posting_ids), 500):
        chunk = posting_ids[start : start + 500]
        for posting_id, code, lot in session.exec(
            select(StockMove.posting_id, Location.code, StockMove.lot)
            .join(Location, col(Location.id) == StockMove.location_id)
            .where(col(StockMove.posting_id).in_(chunk), Location.kind == LocationKind.PRINTER)
        ):
            found.setdefault(posting_id, (code.removeprefix("printer/"), lot))
    return found


__all__ = ["Batch", "BatchRecord", "batch_record"]
