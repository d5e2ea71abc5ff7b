"""Reading the ledger: moves with their posting, filtered by item, location, lot, document, time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fabcoord.ledger.models import Item, Location, Posting, StockMove


@dataclass(frozen=True)
class MoveFilter:
    item: str | None = None
    location: str | None = None
    lot: str | None = None
    doc_type: str | None = None
    doc_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    posting_id: int | None = None
    limit: int = 1000


@dataclass(frozen=True)
class MoveRow:
    """One leg as shown to people and scripts."""

    move: int
    leg: int
    posted_at: datetime
    reason: str
    doc_type: str
    doc_id: str
    item: str
    location: str
    lot: str
    qty: int
    unit: str
    actor: str
    note: str
    reverses: int | None
    reversed_by: int | None


def list_moves(*, session: Session, where: MoveFilter) -> list[MoveRow]:
    """Legs matching ``where``, oldest first (at most ``where.limit``)."""
    reversal = aliased(Posting)
    query = (
        select(StockMove, Posting, col(Item.code), col(Location.code), col(reversal.id))
        .join(Posting, col(Posting.id) == StockMove.posting_id)
        .join(Item, col(Item.id) == StockMove.item_id)
        .join(Location, col(Location.id) == StockMove.location_id)
        .outerjoin(reversal, col(reversal.reverses_id) == Posting.id)
    )
    if where.item is not None:
        query = query.where(col(Item.code) == where.item)
    if where.location is not None:
        query = query.where(col(Location.code) == where.location)
    if where.lot is not None:
        query = query.where(col(StockMove.lot) == where.lot)
    if where.doc_type is not None:
        query = query.where(col(StockMove.doc_type) == where.doc_type)
    if where.doc_id is not None:
        query = query.where(col(StockMove.doc_id) == where.doc_id)
    if where.since is not None:
        query = query.where(col(StockMove.posted_at) >= where.since)
    if where.until is not None:
        query = query.where(col(StockMove.posted_at) <= where.until)
    if where.posting_id is not None:
        query = query.where(col(StockMove.posting_id) == where.posting_id)
    query = query.order_by(col(StockMove.id)).limit(where.limit)
    return [
        MoveRow(
            move=posting.id or 0,
            leg=move.id or 0,
            posted_at=move.posted_at,
            reason=move.reason.value,
            doc_type=move.doc_type,
            doc_id=move.doc_id,
            item=item,
            location=location,
            lot=move.lot,
            qty=move.qty,
            unit=move.unit.value,
            actor=posting.actor,
            note=posting.note,
            reverses=posting.reverses_id,
            reversed_by=reversed_by,
        )
        for move, posting, item, location, reversed_by in session.execute(query).all()
    ]
