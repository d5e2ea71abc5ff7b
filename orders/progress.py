"""How far an order has got, read from the ledger.

Postings serve an order when their document is the order itself (``doc_type =
"hospital_order"``, ``doc_id`` = the reference) or any document linked to it in the core's
``demand_document`` (a print job, a shipment, a hand-off…). From their legs of the ordered models
(reversals count against the posting they cancel):

- produced: legs of ``print_output`` or ``assembly`` postings at real (non-virtual) locations;
- shipped: the quantity that ``shipment`` postings took out of stock locations;
- delivered: what arrived at the hospital's own location (``hospital/<slug>``), whatever the reason.

Allocated comes from the order itself (set when it is planned). Where no posting exists yet the
figure is honestly 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import BindParameter, Executable, bindparam, func, literal, select, union
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

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
    wanted: BindParameter[list[str]] = bindparam("references", expanding=True)
    documents = union(
        select(
            literal(ORDER_DOC_TYPE).label("doc_type"),
            col(Order.reference).label("doc_id"),
            col(Order.reference).label("reference"),
        ).where(col(Order.reference).in_(wanted)),
        select(
            col(DemandDocument.doc_type).label("doc_type"),
            col(DemandDocument.doc_id).label("doc_id"),
            col(DemandDocument.reference).label("reference"),
        ).where(col(DemandDocument.reference).in_(wanted)),
    ).subquery("documents")
    query = (
        select(
            documents.c.reference,
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
    for reference, item, reason, reversed_reason, kind, hospital_id, total in session.execute(
        query, {"references": list(result)}
    ):
        if (reference, item) not in wanted:
            continue
        cause = MoveReason(reversed_reason or reason)
        qty = int(total or 0)
        entry = result[reference]
        location_kind = LocationKind(kind)
        if cause in _PRODUCING and not location_kind.is_virtual:
            entry.produced += qty
        if cause is MoveReason.SHIPMENT and location_kind is LocationKind.STOCK:
            entry.shipped -= qty
        if location_kind is LocationKind.HOSPITAL and hospital_id == wanted[(reference, item)]:
            entry.delivered += qty
    return result
