"""Traceability read from the ledger: where a lot went, and what made a shipment.

Both walk the postings through index ranges only: the moves of one item, location and lot in a
time range (``ix_stock_move_balance``), the legs of a posting (``ix_stock_move_posting_id``), the
postings of one document (``ix_stock_move_document``). A lot enters the ledger from a virtual
location (a supplier's receipt, production), so its first postings are found by seeking those few
(item, virtual location, lot) ranges. Material consumed into ``production`` is followed through
the consuming document (``print_job``/42): the same document's other postings are what it made.

Goods counted without a lot (frames, visors in some fablabs) cannot be told apart once mixed; the
walk then follows every later movement of unlotted goods of that item from that place (for a
recall, over-inclusion is the safe side) and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from fabcoord.ledger.models import Item, Location, LocationKind, Posting, StockMove
from suppliers.errors import UnknownLot
from suppliers.models import table

MAX_POSTINGS = 50_000
_ENTRY_KINDS = (
    LocationKind.SUPPLIER,
    LocationKind.PARTNER,
    LocationKind.PRODUCTION,
    LocationKind.ADJUSTMENT,
)


class UnknownShipment(UnknownLot):
    """No ledger posting has that shipment document."""


@dataclass(frozen=True)
class Step:
    """One leg of a posting the walk went through."""

    posting: int
    posted_at: datetime
    reason: str
    doc: str
    actor: str
    item: str
    location: str
    location_kind: str
    lot: str
    qty: int


@dataclass
class Trace:
    """What a trace found. ``steps`` in time order; the sets summarise them."""

    subject: str
    steps: list[Step] = field(default_factory=list)
    lots: set[str] = field(default_factory=set)
    printers: set[str] = field(default_factory=set)
    print_jobs: set[str] = field(default_factory=set)
    batches: set[str] = field(default_factory=set)
    shipments: set[str] = field(default_factory=set)
    hospitals: dict[str, int] = field(default_factory=dict)
    purchase_orders: set[str] = field(default_factory=set)
    makers: set[str] = field(default_factory=set)
    frames_made: int = 0
    unlotted: set[str] = field(default_factory=set)
    truncated: bool = False


@dataclass
class _Ledger:
    session: Session
    items: dict[int, str]
    locations: dict[int, tuple[str, LocationKind]]
    moves: Any = field(init=False)

    def __post_init__(self) -> None:
        self.moves = table(StockMove)

    @classmethod
    def load(cls, session: Session) -> _Ledger:
        items = {i.id or 0: i.code for i in session.exec(sqlmodel_select(Item))}
        locations = {
            loc.id or 0: (loc.code, loc.kind) for loc in session.exec(sqlmodel_select(Location))
        }
        return cls(session, items, locations)

    def run(self, query: Any) -> list[Any]:
        return list(self.session.connection().execute(query))

    def postings_at(
        self,
        node: tuple[int, int, str],
        *,
        after: datetime | None,
        before: datetime | None,
        outgoing: bool,
    ) -> set[int]:
        m = self.moves
        query = select(m.c.posting_id).where(
            m.c.item_id == node[0], m.c.location_id == node[1], m.c.lot == node[2]
        )
        if after is not None:
            query = query.where(m.c.posted_at >= after)
        if before is not None:
            query = query.where(m.c.posted_at <= before)
        query = query.where(m.c.qty < 0 if outgoing else m.c.qty > 0)
        return {row[0] for row in self.run(query)}

    def postings_of_document(self, doc_type: str, doc_id: str) -> set[int]:
        m = self.moves
        query = select(m.c.posting_id).where(m.c.doc_type == doc_type, m.c.doc_id == doc_id)
        return {row[0] for row in self.run(query)}

    def legs(self, posting_ids: Iterable[int]) -> dict[int, list[Any]]:
        ids = sorted(posting_ids)
        out: dict[int, list[Any]] = {}
        m, p = self.moves, table(Posting)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = (
                select(m, p.c.actor)
                .join(p, p.c.id == m.c.posting_id)
                .where(m.c.posting_id.in_(chunk))
            )
            for row in self.run(query):
                out.setdefault(row.posting_id, []).append(row)
        return out

    def kind(self, location_id: int) -> LocationKind:
        return self.locations[location_id][1]


def trace_lot(*, session: Session, lot: str) -> Trace:
    """Where a lot went: every posting downstream of its entry into the ledger.

    Raises:
        UnknownLot: no posting brought that lot in.
    """
    lot = lot.strip()
    ledger = _Ledger.load(session)
    m = ledger.moves
    entry_locations = [i for i, (_, kind) in ledger.locations.items() if kind in _ENTRY_KINDS]
    start = (
        {
            row[0]
            for row in ledger.run(
                select(m.c.posting_id).where(
                    and_(
                        m.c.item_id.in_(sorted(ledger.items)),
                        m.c.location_id.in_(entry_locations),
                        m.c.lot == lot,
                        m.c.qty < 0,
                    )
                )
            )
        }
        if lot
        else set()
    )
    if not start:
        raise UnknownLot(
            f"no ledger posting brought lot {lot!r} in (see 'fabcoord ledger show --lot')"
        )
    return _walk(ledger, Trace(subject=f"lot {lot}"), start, forward=True)


def trace_shipment(*, session: Session, shipment: str) -> Trace:
    """What made a shipment: every posting upstream of it, back to the supplier lots.

    Raises:
        UnknownShipment: no posting has the document ``shipment``/``shipment``.
    """
    ledger = _Ledger.load(session)
    start = ledger.postings_of_document("shipment", shipment.strip())
    if not start:
        raise UnknownShipment(f"no ledger posting has the document shipment:{shipment.strip()}")
    return _walk(ledger, Trace(subject=f"shipment {shipment.strip()}"), start, forward=False)


def _walk(ledger: _Ledger, trace: Trace, start: set[int], *, forward: bool) -> Trace:
    seen_postings: set[int] = set()
    seen_nodes: dict[tuple[int, int, str], datetime] = {}
    seen_docs: set[tuple[str, str]] = set()
    pending = set(start)
    while pending:
        if len(seen_postings) + len(pending) > MAX_POSTINGS:
            trace.truncated = True
            break
        seen_postings |= pending
        batch = ledger.legs(pending)
        pending = set()
        for legs in batch.values():
            for leg in legs:
                _record(ledger, trace, leg)
            for leg in legs:
                kind = ledger.kind(leg.location_id)
                follows = leg.qty > 0 if forward else leg.qty < 0
                if not follows:
                    continue
                if kind is LocationKind.PRODUCTION and (leg.doc_type, leg.doc_id) not in seen_docs:
                    seen_docs.add((leg.doc_type, leg.doc_id))
                    pending |= ledger.postings_of_document(leg.doc_type, leg.doc_id)
                    continue
                if kind.is_virtual:
                    continue
                node = (leg.item_id, leg.location_id, leg.lot)
                known = seen_nodes.get(node)
                if known is not None and (
                    leg.posted_at >= known if forward else leg.posted_at <= known
                ):
                    continue
                seen_nodes[node] = leg.posted_at
                if not leg.lot:
                    trace.unlotted.add(
                        f"{ledger.items[leg.item_id]} at {ledger.locations[leg.location_id][0]}"
                    )
                pending |= ledger.postings_at(
                    node,
                    after=leg.posted_at if forward else None,
                    before=None if forward else leg.posted_at,
                    outgoing=forward,
                )
        pending -= seen_postings
    trace.steps.sort(key=lambda s: (s.posted_at, s.posting, s.qty))
    return trace


def _record(ledger: _Ledger, trace: Trace, leg: Any) -> None:
    code, kind = ledger.locations[leg.location_id]
    item = ledger.items[leg.item_id]
    doc = f"{leg.doc_type}:{leg.doc_id}"
    trace.steps.append(
        Step(
            leg.posting_id,
            leg.posted_at,
            str(leg.reason),
            doc,
            leg.actor,
            item,
            code,
            kind.value,
            leg.lot,
            leg.qty,
        )
    )
    if leg.lot:
        trace.lots.add(leg.lot)
    if leg.actor:
        trace.makers.add(leg.actor)
    if kind is LocationKind.PRINTER:
        trace.printers.add(code)
    if leg.doc_type == "print_job":
        trace.print_jobs.add(doc)
    elif leg.doc_type in {"batch", "assembly"}:
        trace.batches.add(doc)
    elif leg.doc_type == "shipment":
        trace.shipments.add(doc)
    elif leg.doc_type == "purchase_order":
        trace.purchase_orders.add(doc)
    if kind is LocationKind.HOSPITAL and leg.qty > 0:
        key = f"{code} ({item})"
        trace.hospitals[key] = trace.hospitals.get(key, 0) + leg.qty
    if item == "visor-frame" and leg.qty > 0 and str(leg.reason) == "print_output":
        trace.frames_made += leg.qty
