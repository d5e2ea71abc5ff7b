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

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from fabcoord.ledger.models import Item, Location, LocationKind, Posting, StockMove
from fabcoord.planning.models import Maker, MakerDelivery
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
    maker_deliveries: set[int] = field(default_factory=set)
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
        self, nodes: list[tuple[tuple[int, int, str], datetime]], *, outgoing: bool
    ) -> set[int]:
        """The postings moving goods out of (or into) each node after (or before) its time: one
        query per 200 nodes, each term an index range of ``ix_stock_move_balance``."""
        m = self.moves
        found: set[int] = set()
        for start in range(0, len(nodes), 200):
            terms = [
                and_(
                    m.c.item_id == item,
                    m.c.location_id == location,
                    m.c.lot == lot,
                    m.c.posted_at >= moment if outgoing else m.c.posted_at <= moment,
                )
                for (item, location, lot), moment in nodes[start : start + 200]
            ]
            query = select(m.c.posting_id).where(
                or_(*terms), m.c.qty < 0 if outgoing else m.c.qty > 0
            )
            found |= {row[0] for row in self.run(query)}
        return found

    def postings_of_documents(self, documents: list[tuple[str, str]]) -> set[int]:
        """The postings of these documents (``ix_stock_move_document``), 200 per query."""
        m = self.moves
        found: set[int] = set()
        for start in range(0, len(documents), 200):
            terms = [
                and_(m.c.doc_type == doc_type, m.c.doc_id == doc_id)
                for doc_type, doc_id in documents[start : start + 200]
            ]
            found |= {row[0] for row in self.run(select(m.c.posting_id).where(or_(*terms)))}
        return found

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
    start = ledger.postings_of_documents([("shipment", shipment.strip())])
    if not start:
        raise UnknownShipment(f"no ledger posting has the document shipment:{shipment.strip()}")
    return _walk(ledger, Trace(subject=f"shipment {shipment.strip()}"), start, forward=False)


def _walk(ledger: _Ledger, trace: Trace, start: set[int], *, forward: bool) -> Trace:
    """Breadth first: each round reads the legs of the new postings, then finds the postings
    of the nodes and documents they reached, a few batched queries per round."""
    seen_postings: set[int] = set()
    seen_nodes: dict[tuple[int, int, str], datetime] = {}
    seen_docs: set[tuple[str, str]] = set()
    pending = set(start)
    while pending:
        if len(seen_postings) + len(pending) > MAX_POSTINGS:
            trace.truncated = True
            break
        seen_postings |= pending
        nodes: dict[tuple[int, int, str], datetime] = {}
        documents: list[tuple[str, str]] = []
        for legs in ledger.legs(pending).values():
            for leg in legs:
                _record(ledger, trace, leg)
                kind = ledger.kind(leg.location_id)
                if not (leg.qty > 0 if forward else leg.qty < 0):
                    continue
                if kind is LocationKind.PRODUCTION:
                    document = (leg.doc_type, leg.doc_id)
                    if document not in seen_docs:
                        seen_docs.add(document)
                        documents.append(document)
                    continue
                if kind.is_virtual:
                    continue
                node, moment = (leg.item_id, leg.location_id, leg.lot), leg.posted_at
                known = seen_nodes.get(node)
                if known is not None and (moment >= known if forward else moment <= known):
                    continue
                seen_nodes[node] = moment
                nodes[node] = min(moment, nodes[node]) if forward and node in nodes else moment
                if not leg.lot:
                    item, place = ledger.items[leg.item_id], ledger.locations[leg.location_id][0]
                    trace.unlotted.add(f"{item} at {place}")
        pending = ledger.postings_at(list(nodes.items()), outgoing=forward) if nodes else set()
        if documents:
            pending |= ledger.postings_of_documents(documents)
        pending -= seen_postings
    trace.steps.sort(key=lambda s: (s.posted_at, s.posting, s.qty))
    if trace.maker_deliveries:
        trace.makers |= _maker_names(ledger.session, trace.maker_deliveries)
    return trace


def _maker_names(session: Session, deliveries: set[int]) -> set[str]:
    """The makers who brought the frames of these deliveries (``maker_delivery`` documents)."""
    rows = session.exec(
        sqlmodel_select(Maker.name)
        .join(MakerDelivery, col(MakerDelivery.maker_id) == col(Maker.id))
        .where(col(MakerDelivery.id).in_(sorted(deliveries)))
    )
    return {f"maker {name}" for name in rows}


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
    if str(leg.reason) == "print_output" and leg.qty > 0:
        if leg.doc_type == "maker_delivery":
            trace.maker_deliveries.add(int(leg.doc_id))
        elif leg.actor:
            trace.makers.add(leg.actor)  # who recorded the print (a maker, or the farm daemon)
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
