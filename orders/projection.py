"""The core's view of an order (:mod:`fabcoord.demand`), kept current by this package.

Published on every create, amendment and state change, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from fabcoord import demand
from orders.models import Order, OrderLine, OrderStatus, Priority

S = OrderStatus
STATE = {
    S.RECEIVED: demand.DemandState.PENDING,
    S.ACCEPTED: demand.DemandState.OPEN,
    S.PLANNED: demand.DemandState.OPEN,
    S.IN_PRODUCTION: demand.DemandState.OPEN,
    S.SHIPPED: demand.DemandState.OPEN,
    S.DELIVERED: demand.DemandState.CLOSED,
    S.REJECTED: demand.DemandState.CLOSED,
    S.CANCELLED: demand.DemandState.CLOSED,
}
WEIGHT = {Priority.NORMAL: 1, Priority.URGENT: 2, Priority.CRITICAL: 3}


def lines_of(*, session: Session, order_id: int) -> list[OrderLine]:
    return list(
        session.exec(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(col(OrderLine.line))
        )
    )


def publish(
    *,
    session: Session,
    order: Order,
    lines: Sequence[OrderLine | demand.LineSpec] | None = None,
    new: bool = False,
) -> None:
    """Bring the core's projection of ``order`` up to date (``new``: it has none yet)."""
    if lines is None:
        lines = lines_of(session=session, order_id=order.id or 0)
    demand.publish(
        session=session,
        reference=order.reference,
        hospital_id=order.hospital_id,
        lines=[demand.LineSpec(line.line, line.item_code, line.quantity) for line in lines],
        needed_by=order.needed_by,
        state=STATE[order.status],
        status=order.status.value,
        priority=WEIGHT[order.priority],
        site=order.delivery_address,
        new=new,
    )
