"""The order lifecycle: received → accepted/rejected → planned → in production → shipped →
delivered, or cancelled. Every transition is an :class:`OrderEvent` (who, when, why, through which
link) and is published to the core's demand projection in the same transaction.

Production may start before a plan, and goods may leave from stock before production: the
events other packages announce (:mod:`orders.handlers`) may skip steps."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from fabcoord.errors import InvalidInput
from fabcoord.ledger.posting import utc_now
from orders import notify, projection
from orders.errors import IllegalTransition, UnknownOrder
from orders.models import Order, OrderEvent, OrderStatus

S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PLANNED, S.IN_PRODUCTION, S.SHIPPED, S.CANCELLED}),
    S.PLANNED: frozenset({S.IN_PRODUCTION, S.SHIPPED, S.CANCELLED}),
    S.IN_PRODUCTION: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}
NEEDS_REASON = frozenset({S.REJECTED, S.CANCELLED})


def locked(*, session: Session, reference: str, hospital_id: int | None = None) -> Order:
    """The order, locked for update until the end of the transaction.

    Raises:
        UnknownOrder (also when it is not ``hospital_id``'s).
    """
    query = select(Order).where(Order.reference == reference.strip().upper())
    if hospital_id is not None:
        query = query.where(Order.hospital_id == hospital_id)
    order = session.exec(query.with_for_update()).first()
    if order is None:
        raise UnknownOrder(f"unknown order {reference[:40]!r} (see 'fabcoord orders list')")
    return order


def clean_reason(reason: str, *, required: bool, what: str) -> str:
    """A reason on one line, at most 500 characters.

    Raises:
        InvalidInput: missing when required, or too long.
    """
    reason = " ".join(reason.split())
    if required and not reason:
        raise InvalidInput(f"--reason is required to {what}")
    if len(reason) > 500:
        raise InvalidInput("the reason is too long (500 characters at most)")
    return reason


def record(
    *,
    session: Session,
    order: Order,
    to: OrderStatus,
    actor: str,
    reason: str,
    link_id: int | None = None,
    tell: bool = True,
) -> Order:
    """Write the event, move the order and publish its projection (no checks); queue the
    hospital's e-mail about the new state unless ``tell`` is false (a step passed through)."""
    now = utc_now()
    before = order.status
    session.add(
        OrderEvent(
            order_id=order.id or 0,
            from_status=order.status,
            to_status=to,
            actor=actor,
            reason=reason,
            at=now,
            link_id=link_id,
            quantity=order.quantity,
            needed_by=order.needed_by,
            expected_delivery=order.expected_delivery,
        )
    )
    order.status, order.updated_at = to, now
    session.add(order)
    session.flush()
    projection.publish(session=session, order=order)
    # the e-mail is queued in this transaction: it leaves only if it commits
    if tell and to is not before:
        notify.status_changed(session=session, order=order, reason=reason)
    return order


def transition(
    *,
    session: Session,
    reference: str,
    to: OrderStatus,
    actor: str,
    reason: str = "",
    link_id: int | None = None,
    hospital_id: int | None = None,
) -> Order:
    """Move an order to state ``to`` and record who, when and why.

    Raises:
        UnknownOrder, IllegalTransition, InvalidInput (a rejection or cancellation without reason).
    """
    reason = clean_reason(reason, required=to in NEEDS_REASON, what=f"mark an order {to.value}")
    order = locked(session=session, reference=reference, hospital_id=hospital_id)
    if to not in ALLOWED[order.status]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[order.status])) or "none (final)"
        raise IllegalTransition(
            f"order {order.reference} is {order.status.value}: it cannot become {to.value} "
            f"(allowed next: {allowed})"
        )
    return record(session=session, order=order, to=to, actor=actor, reason=reason, link_id=link_id)


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
    """Plan an accepted order: how many visors are allocated and when they should arrive.

    Raises:
        UnknownOrder, IllegalTransition, InvalidInput (a past date, an allocation outside
        1…the quantity ordered).
    """
    if expected_delivery < utc_now().date():
        raise InvalidInput("the expected delivery date is in the past")
    order = locked(session=session, reference=reference)
    count = order.quantity if allocated is None else allocated
    if not 0 < count <= order.quantity:
        raise InvalidInput(
            f"--allocated must be between 1 and {order.quantity} (the visors ordered)"
        )
    order.allocated, order.expected_delivery = count, expected_delivery
    return transition(
        session=session, reference=reference, to=S.PLANNED, actor=actor, reason=reason
    )


REPLANNABLE = frozenset({S.PLANNED, S.IN_PRODUCTION})


def replan_order(
    *,
    session: Session,
    reference: str,
    actor: str,
    expected_delivery: date,
    reason: str,
    allocated: int | None = None,
) -> Order:
    """Move a planned (or in production) order's delivery date, with the reason (recorded as an
    event that keeps the state, shown to the hospital).

    Raises:
        UnknownOrder, IllegalTransition (not planned yet, or already shipped), InvalidInput.
    """
    reason = clean_reason(reason, required=True, what="re-plan an order")
    if expected_delivery < utc_now().date():
        raise InvalidInput("the expected delivery date is in the past")
    order = locked(session=session, reference=reference)
    if order.status not in REPLANNABLE:
        raise IllegalTransition(
            f"order {order.reference} is {order.status.value}: only a planned or in-production "
            "order can be re-planned"
        )
    if allocated is not None:
        if not 0 < allocated <= order.quantity:
            raise InvalidInput(
                f"--allocated must be between 1 and {order.quantity} (the visors ordered)"
            )
        order.allocated = allocated
    order.expected_delivery = expected_delivery
    when = expected_delivery.strftime("%d/%m/%Y")
    text = f"livraison prévue le {when} : {reason}"[:500]
    record(session=session, order=order, to=order.status, actor=actor, reason=text)
    notify.replanned(session=session, order=order, reason=reason)
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
