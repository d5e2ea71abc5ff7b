"""What orders do when other packages announce something (:mod:`fabcoord.events`).

The composition root calls :func:`subscribe` with the process's subscribers. Each handler runs in
the announcer's transaction; a refusal (a typed error) refuses the announcer's operation too.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from fabcoord.errors import InvalidInput
from fabcoord.events import Event, Subscribers
from orders import lifecycle
from orders.errors import IllegalTransition, UnknownOrder
from orders.models import Order, OrderStatus

S = OrderStatus
_BEFORE_PRODUCTION = frozenset({S.ACCEPTED, S.PLANNED})
_BEFORE_SHIPPING = frozenset({S.ACCEPTED, S.PLANNED, S.IN_PRODUCTION})
_NOT_TAKING_WORK = frozenset({S.RECEIVED, S.REJECTED, S.CANCELLED})


def _text(event: Event, key: str) -> str:
    value = event.payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"event {event.kind} lacks {key!r}")
    return value


def _ours(session: Session, reference: str) -> Order | None:
    """The order, locked; None for demand this package did not publish (nothing to move)."""
    try:
        return lifecycle.locked(session=session, reference=reference)
    except UnknownOrder:
        return None


def _refuse(event: Event, reference: str, status: OrderStatus) -> IllegalTransition:
    return IllegalTransition(
        f"order {reference} is {status.value}: {event.kind.replace('_', ' ')} refused "
        "(only accepted orders take work)"
    )


def on_production_started(*, session: Session, event: Event) -> None:
    """accepted/planned → in_production; nothing when already further."""
    reference = _text(event, "reference")
    order = _ours(session, reference)
    if order is None:
        return
    if order.status in _NOT_TAKING_WORK:
        raise _refuse(event, order.reference, order.status)
    if order.status not in _BEFORE_PRODUCTION:
        return
    doc = f"{event.payload.get('doc_type', '')}/{event.payload.get('doc_id', '')}".strip("/")
    lifecycle.record(
        session=session,
        order=order,
        to=S.IN_PRODUCTION,
        actor=event.actor,
        reason=f"production commencée ({doc})" if doc else "production commencée",
    )


def on_order_planned(*, session: Session, event: Event) -> None:
    """accepted → planned, or a new date for a planned / in-production order, with the reason."""
    reference = _text(event, "reference")
    when = event.payload.get("expected_delivery")
    if not isinstance(when, date):
        raise InvalidInput(f"event {event.kind} lacks a date 'expected_delivery'")
    allocated = event.payload.get("allocated")
    count = allocated if isinstance(allocated, int) and not isinstance(allocated, bool) else None
    reason = str(event.payload.get("reason", ""))
    order = _ours(session, reference)
    if order is None:
        return
    if order.status is S.ACCEPTED:
        lifecycle.plan_order(
            session=session,
            reference=order.reference,
            actor=event.actor,
            expected_delivery=when,
            allocated=count,
            reason=reason,
        )
        return
    lifecycle.replan_order(
        session=session,
        reference=order.reference,
        actor=event.actor,
        expected_delivery=when,
        reason=reason or "nouveau plan",
        allocated=count,
    )


def on_shipment_posted(*, session: Session, event: Event) -> None:
    """→ shipped once everything ordered has left; a partial shipment changes no state."""
    reference = _text(event, "reference")
    order = _ours(session, reference)
    if order is None:
        return
    if order.status in _NOT_TAKING_WORK:
        raise _refuse(event, order.reference, order.status)
    if not event.payload.get("fully_shipped") or order.status not in _BEFORE_SHIPPING:
        return
    shipment = str(event.payload.get("shipment", ""))
    lifecycle.record(
        session=session,
        order=order,
        to=S.SHIPPED,
        actor=event.actor,
        reason=f"expédiée ({shipment})" if shipment else "expédiée",
    )


def on_receipt_confirmed(*, session: Session, event: Event) -> None:
    """→ delivered once everything has arrived (through shipped when that step was skipped);
    never refuses a receipt (goods that arrived did arrive), whatever the order's state."""
    reference = _text(event, "reference")
    order = _ours(session, reference)
    if order is None:
        return
    if not event.payload.get("fully_delivered") or order.status is S.DELIVERED:
        return
    if order.status in _NOT_TAKING_WORK:  # goods that arrived anyway are the ledger's business
        return
    shipment = str(event.payload.get("shipment", ""))
    suffix = f" ({shipment})" if shipment else ""
    if order.status in _BEFORE_SHIPPING:  # recorded, but the hospital gets one message
        lifecycle.record(
            session=session,
            order=order,
            to=S.SHIPPED,
            actor=event.actor,
            reason="expédiée",
            tell=False,
        )
    lifecycle.record(
        session=session,
        order=order,
        to=S.DELIVERED,
        actor=event.actor,
        reason=f"réception confirmée{suffix}",
    )


def subscribe(subscribers: Subscribers) -> None:
    """Subscribe the orders package's handlers."""
    subscribers.subscribe("production_started", on_production_started)
    subscribers.subscribe("order_planned", on_order_planned)
    subscribers.subscribe("shipment_posted", on_shipment_posted)
    subscribers.subscribe("receipt_confirmed", on_receipt_confirmed)
