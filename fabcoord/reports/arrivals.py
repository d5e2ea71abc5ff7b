"""What the ledger says arrived in a period, document by document: for the reports' providers.

A supplier's receipts or a partner's deliveries are postings the capability packages made; they
know which document is whose. This reads, for one kind of posting, the net quantity each document
brought to the scope's locations in a period (a reversal counted against the posting it cancels,
through the document both carry), so a provider only has to name the documents.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, cast, false, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from fabcoord.ledger.models import Item, Location, LocationKind, MoveReason, Posting, StockMove

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class Arrival:
    """``qty`` of ``item`` (in ``unit``) brought by the document ``doc_type``/``doc_id``."""

    doc_type: str
    doc_id: str
    item: str
    unit: str
    qty: int


def arrivals(
    *,
    session: Session,
    cause: MoveReason,
    start: datetime,
    end: datetime,
    stock_kinds: Collection[LocationKind] = (LocationKind.STOCK,),
    fablab_ids: Collection[int] | None = None,
    hospital_ids: Collection[int] | None = (),
) -> list[Arrival]:
    """Net quantity per document and item that ``cause`` postings brought in [start, end).

    Counted at the fablab locations of ``stock_kinds`` (of ``fablab_ids``; None: every fablab)
    and at hospitals (of ``hospital_ids``; None: every hospital; empty: none).
    """
    original = aliased(Posting)
    at_fablab: Any = col(Location.kind).in_(list(stock_kinds))
    if fablab_ids is not None:
        at_fablab = at_fablab & col(Location.fablab_id).in_(sorted(fablab_ids))
    at_hospital: Any = col(Location.kind) == LocationKind.HOSPITAL
    if hospital_ids is not None:
        at_hospital = (
            at_hospital & col(Location.hospital_id).in_(sorted(hospital_ids))
            if hospital_ids
            else false()
        )
    # the reversals of ``cause`` postings, through the unique index on reverses_id (few)
    undoing = (
        select(col(Posting.id))
        .join(original, col(original.id) == Posting.reverses_id)
        .where(col(Posting.reverses_id) > 0, col(original.reason) == cause)
    )
    moved = (  # a move carries its posting's time and reason: the moves of the period, by index
        col(StockMove.posted_at) >= start,
        col(StockMove.posted_at) < end,
        or_(
            col(StockMove.reason) == cause,
            and_(
                col(StockMove.reason) == MoveReason.REVERSAL,
                col(StockMove.posting_id).in_(undoing),
            ),
        ),
    )
    query = (  # a move carries its posting's document (a reversal, that of what it cancels)
        select(
            col(StockMove.doc_type),
            col(StockMove.doc_id),
            col(Item.code),
            cast(col(Item.unit), String),
            func.sum(StockMove.qty),
        )
        .join(Location, col(Location.id) == StockMove.location_id)
        .join(Item, col(Item.id) == StockMove.item_id)
        .where(*moved, or_(at_fablab, at_hospital))
        .group_by(col(StockMove.doc_type), col(StockMove.doc_id), col(Item.code), col(Item.unit))
    )
    return [
        Arrival(doc_type, doc_id, item, unit, int(qty or 0))
        for doc_type, doc_id, item, unit, qty in session.connection().execute(query).all()
        if qty
    ]


def document_ids(came: Iterable[Arrival], doc_type: str) -> list[int]:
    """The numeric ids of the ``doc_type`` documents among ``came``, sorted, each once."""
    return sorted({int(a.doc_id) for a in came if a.doc_type == doc_type and a.doc_id.isdigit()})


class Tally:
    """What a supplier-like provider reports: ordered and received per (name, item), one row
    each, in the shape of the report's ``suppliers`` table (``kind`` says supplier or partner)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(self, name: str, item: str, unit: str) -> dict[str, Any]:
        """The row of ``name`` and ``item``, made with zero counts the first time."""
        key = (name, item)
        if key not in self._rows:
            self._rows[key] = {"kind": self.kind, "name": name, "item": item, "unit": unit,
                               "ordered": 0, "received": 0}  # fmt: skip
        return self._rows[key]

    def found(self) -> list[dict[str, Any]]:
        """The rows with something ordered or received."""
        return [r for r in self._rows.values() if r["ordered"] or r["received"]]
