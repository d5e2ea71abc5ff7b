"""How far an order has got, read from the ledger.

Postings that serve an order name it as their document: ``doc_type = "hospital_order"`` and
``doc_id`` = the order reference. From their legs of the ordered item (reversals count against the
posting they cancel):

- produced: legs of ``print_output`` or ``assembly`` postings at real (non-virtual) locations;
- shipped: the quantity that ``shipment`` postings took out of stock locations;
- delivered: what arrived at the hospital's own location (``hospital/<slug>``), whatever the reason.

Allocated comes from the order itself (set when it is planned). Where no posting exists yet the
figure is honestly 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Executable, bindparam, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fabcoord.ledger.models import Item, Location, LocationKind, MoveReason, Posting, StockMove
from orders.models import Order

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
    query = (
        select(
            col(StockMove.doc_id),
            col(Item.code),
            col(Posting.reason),
            col(original.reason),
            col(Location.kind),
            col(Location.hospital_id),
            func.sum(StockMove.qty),
        )
        .join(Posting, col(Posting.id) == StockMove.posting_id)
        .outerjoin(original, col(original.id) == Posting.reverses_id)
        .join(Item, col(Item.id) == StockMove.item_id)
        .join(Location, col(Location.id) == StockMove.location_id)
        .where(
            col(StockMove.doc_type) == ORDER_DOC_TYPE,
            col(StockMove.doc_id).in_(bindparam("references", expanding=True)),
        )
        .group_by(
            col(StockMove.doc_id),
            col(Item.code),
            col(Posting.reason),
            col(original.reason),
            col(Location.kind),
            col(Location.hospital_id),
        )
    )
    return query


def progress(*, session: Session, orders: Sequence[Order]) -> dict[str, Progress]:
    """Progress per order reference (one query for all the orders given)."""
    result = {order.reference: Progress() for order in orders}
    if not orders:
        return result
    wanted = {(order.reference, order.item_code): order.hospital_id for order in orders}
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
