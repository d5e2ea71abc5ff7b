"""How far an order has got, read from the ledger.

Postings serve an order when their document is the order itself (``doc_type =
"hospital_order"``, ``doc_id`` = the reference) or any document linked to it in the core's
``demand_document`` (a print job, a shipment, a hand-off…). From their legs of the ordered models
(reversals count against the posting they cancel):

- produced: legs of ``print_output`` or ``assembly`` postings at real (non-virtual) locations;
- shipped: the quantity that ``shipment`` postings took out of stock locations;
- delivered: what arrived at the hospital's own location (``hospital/<slug>``), whatever the reason.

A document serving several orders (a hand-off for two orders of a hospital) is counted once, as the
core counts it (:func:`fabcoord.demand.fill`): its figures fill the order lines it serves in the
order they were linked, each up to its units, the rest to the last; what it delivered fills only
the lines of the hospital it reached. The one query reads such a document apart from the others;
its links are read in one more query, for all the orders given, only when there is one.

Allocated comes from the order itself (set when it is planned). Where no posting exists yet the
figure is honestly 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BindParameter,
    Executable,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    select,
    union,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fabcoord import demand
from fabcoord.demand import DemandDocument
from fabcoord.ledger.models import Item, Location, LocationKind, MoveReason, Posting, StockMove
from orders.models import Order, OrderLine

ORDER_DOC_TYPE = "hospital_order"
_PRODUCING = {MoveReason.PRINT_OUTPUT, MoveReason.ASSEMBLY}


@dataclass
class Progress:
    produced: int = 0
    shipped: int = 0
    delivered: int = 0


@cache
def _query() -> Executable:
    """Built once: constructing the statement costs more than running it on a small ledger."""
    original = aliased(Posting)
    other = aliased(DemandDocument)
    wanted: BindParameter[list[str]] = bindparam("references", expanding=True)
    serves_another_order = exists().where(
        col(other.doc_type) == col(DemandDocument.doc_type),
        col(other.doc_id) == col(DemandDocument.doc_id),
        col(other.reference) != col(DemandDocument.reference),
    )
    documents = union(
        select(
            literal(ORDER_DOC_TYPE).label("doc_type"),
            col(Order.reference).label("doc_id"),
            col(Order.reference).label("reference"),
            false().label("shared"),
        ).where(col(Order.reference).in_(wanted)),
        select(
            col(DemandDocument.doc_type).label("doc_type"),
            col(DemandDocument.doc_id).label("doc_id"),
            col(DemandDocument.reference).label("reference"),
            serves_another_order.label("shared"),
        ).where(col(DemandDocument.reference).in_(wanted)),
    ).subquery("documents")
    # a document that also serves another order is read on its own; the others are summed per
    # order as they always were (both null)
    shared_type = case((documents.c.shared, documents.c.doc_type))
    shared_id = case((documents.c.shared, documents.c.doc_id))
    query = (
        select(
            documents.c.reference,
            shared_type,
            shared_id,
            col(Item.code),
            col(Posting.reason),
            col(original.reason),
            col(Location.kind),
            col(Location.hospital_id),
            func.sum(StockMove.qty),
        )
        .join(
            documents,
            (documents.c.doc_type == col(StockMove.doc_type))
            & (documents.c.doc_id == col(StockMove.doc_id)),
        )
        .join(Posting, col(Posting.id) == StockMove.posting_id)
        .outerjoin(original, col(original.id) == Posting.reverses_id)
        .join(Item, col(Item.id) == StockMove.item_id)
        .join(Location, col(Location.id) == StockMove.location_id)
        .group_by(
            documents.c.reference,
            shared_type,
            shared_id,
            col(Item.code),
            col(Posting.reason),
            col(original.reason),
            col(Location.kind),
            col(Location.hospital_id),
        )
    )
    return query


def progress(
    *,
    session: Session,
    orders: Sequence[Order],
    lines: Mapping[int, Sequence[OrderLine]] | None = None,
) -> dict[str, Progress]:
    """Progress per order reference (one query for all the orders given); ``lines`` are the
    orders' lines by order id (read when not given)."""
    result = {order.reference: Progress() for order in orders}
    if not orders:
        return result
    if lines is None:
        found: dict[int, list[OrderLine]] = {}
        for row in session.scalars(
            select(OrderLine).where(col(OrderLine.order_id).in_([o.id for o in orders]))
        ):
            found.setdefault(row.order_id, []).append(row)
        lines = found
    wanted = {
        (order.reference, line.item_code): order.hospital_id
        for order in orders
        for line in lines.get(order.id or 0, ())
    }
    query = _query()
    whole: dict[tuple[str, str, str], Progress] = {}  # (doc_type, doc_id, reference): uncut
    for (
        reference,
        shared_type,
        shared_id,
        item,
        reason,
        reversed_reason,
        kind,
        hospital_id,
        total,
    ) in session.execute(query, {"references": list(result)}):
        if (reference, item) not in wanted:
            continue
        entry = (
            result[reference]
            if shared_type is None
            else whole.setdefault((shared_type, shared_id, reference), Progress())
        )
        cause = MoveReason(reversed_reason or reason)
        qty = int(total or 0)
        location_kind = LocationKind(kind)
        if cause in _PRODUCING and not location_kind.is_virtual:
            entry.produced += qty
        if cause is MoveReason.SHIPMENT and location_kind is LocationKind.STOCK:
            entry.shipped -= qty
        if location_kind is LocationKind.HOSPITAL and hospital_id == wanted[(reference, item)]:
            entry.delivered += qty
    if whole:
        _share_out(session, whole, result, {o.reference: o.hospital_id for o in orders})
    return result


def _share_out(
    session: Session,
    whole: Mapping[tuple[str, str, str], Progress],
    result: dict[str, Progress],
    hospitals: Mapping[str, int],
) -> None:
    """Add to each order its part of the documents it shares with other orders: made and shipped
    fill every line the document serves, delivered only those of the order's hospital."""
    served = demand.shares_of(session=session, documents={(t, d) for t, d, _ in whole})
    for (doc_type, doc_id, reference), figures in whole.items():
        shares = served.get((doc_type, doc_id), [])
        here = [s for s in shares if s.hospital_id == hospitals[reference]]
        entry = result[reference]
        entry.produced += sum(demand.part_of(figures.produced, shares, reference).values())
        entry.shipped += sum(demand.part_of(figures.shipped, shares, reference).values())
        entry.delivered += sum(demand.part_of(figures.delivered, here, reference).values())
