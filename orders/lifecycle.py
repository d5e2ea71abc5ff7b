"""The order lifecycle: received → accepted/rejected → planned → in production → shipped →
delivered, or cancelled. Every transition is an :class:`OrderEvent` (who, when, why)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from fabcoord.errors import InvalidInput
from fabcoord.ledger.posting import utc_now
from orders.errors import IllegalTransition, UnknownOrder
from orders.models import Order, OrderEvent, OrderStatus

S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PLANNED, S.CANCELLED}),
    S.PLANNED: frozenset({S.IN_PRODUCTION, S.CANCELLED}),
    S.IN_PRODUCTION: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}
NEEDS_REASON = frozenset({S.REJECTED, S.CANCELLED})


def transition(
    *, session: Session, reference: str, to: OrderStatus, actor: str, reason: str = ""
) -> Order:
    """Move an order to state ``to`` and record who, when and why.

    Raises:
        UnknownOrder, IllegalTransition, InvalidInput (a rejection or cancellation without reason).
    """
    reason = " ".join(reason.split())
    if to in NEEDS_REASON and not reason:
        raise InvalidInput(f"--reason is required to mark an order {to.value}")
    if len(reason) > 500:
        raise InvalidInput("the reason is too long (500 characters at most)")
    order = session.exec(
        select(Order).where(Order.reference == reference.strip().upper()).with_for_update()
    ).first()
    if order is None:
        raise UnknownOrder(f"unknown order {reference[:40]!r} (see 'fabcoord orders list')")
    if to not in ALLOWED[order.status]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[order.status])) or "none (final)"
        raise IllegalTransition(
            f"order {order.reference} is {order.status.value}: it cannot become {to.value} "
            f"(allowed next: {allowed})"
        )
    now = utc_now()
    session.add(
        OrderEvent(
            order_id=order.id or 0,
            from_status=order.status,
            to_status=to,
            actor=actor,
            reason=reason,
            at=now,
        )
    )
    order.status, order.updated_at = to, now
    session.add(order)
    session.flush()
    return order


def accept_order(*, session: Session, reference: str, actor: str, reason: str = "") -> Order:
    return transition(
        session=session, reference=reference, to=S.ACCEPTED, actor=actor, reason=reason
    )


def reject_order(*, session: Session, reference: str, actor: str, reason: str) -> Order:
    return transition(
        session=session, reference=reference, to=S.REJECTED, actor=actor, reason=reason
    )


def cancel_order(*, session: Session, reference: str, actor: str, reason: str) -> Order:
    return transition(
        session=session, reference=reference, to=S.CANCELLED, actor=actor, reason=reason
    )


def plan_order(
    *,
    session: Session,
    reference: str,
    actor: str,
    expected_delivery: date,
    allocated: int | None = None,
    reason: str = "",
) -> Order:
    """Plan an accepted order: how many visors are allocated and when they should arrive."""
    if expected_delivery < utc_now().date():
        raise InvalidInput("the expected delivery date is in the past")
    order = transition(
        session=session, reference=reference, to=S.PLANNED, actor=actor, reason=reason
    )
    count = order.quantity if allocated is None else allocated
    if not 0 < count <= order.quantity:
        raise InvalidInput(f"allocated must be between 1 and {order.quantity}")
    order.allocated, order.expected_delivery = count, expected_delivery
    session.add(order)
    session.flush()
    return order


def start_production(*, session: Session, reference: str, actor: str, reason: str = "") -> Order:
    return transition(
        session=session, reference=reference, to=S.IN_PRODUCTION, actor=actor, reason=reason
    )


def mark_shipped(*, session: Session, reference: str, actor: str, reason: str = "") -> Order:
    return transition(
        session=session, reference=reference, to=S.SHIPPED, actor=actor, reason=reason
    )


def mark_delivered(*, session: Session, reference: str, actor: str, reason: str = "") -> Order:
    return transition(
        session=session, reference=reference, to=S.DELIVERED, actor=actor, reason=reason
    )
