"""What the orders package adds to the weekly report (see ``fabcoord.reports.providers``).

Every order is stated as it stood at the end of the report's week (and at the end of each week of
the trend), from its event log: its status is that of the last event recorded before that moment,
its quantity, needed-by and promised dates those the event recorded (the order's current values
for events recorded before they were kept, and for orders without events). An order received
after that moment does not exist yet; a rejected or cancelled one is no demand. So a report on a
past week gives the same demand however the orders changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from fabcoord.clock import as_utc
from fabcoord.reports.providers import Rows, Scope
from orders.models import Order, OrderEvent, OrderStatus

_WITHDRAWN = {OrderStatus.REJECTED, OrderStatus.CANCELLED}
_FINISHED = _WITHDRAWN | {OrderStatus.DELIVERED}


@dataclass(frozen=True)
class Stated:
    """An order as it stood at one moment."""

    hospital_id: int
    created: datetime
    status: OrderStatus
    quantity: int
    needed_by: date | None
    expected_delivery: date | None


@dataclass(frozen=True)
class _Event:
    at: datetime
    status: OrderStatus
    quantity: int | None
    needed_by: date | None
    expected_delivery: date | None


def figures(*, session: Session, scope: Scope) -> Mapping[str, Rows]:
    """Per hospital as of the week's end: visors ordered, the earliest needed-by and promised
    dates and the oldest order still open, orders received in the week; ordered per trend week."""
    history = _history(session, scope)
    if not history:
        return {}
    per_hospital: dict[int, dict[str, Any]] = {}
    for stated in _states(history, scope.end):
        entry = per_hospital.setdefault(stated.hospital_id, _entry(stated.hospital_id))
        if stated.created >= scope.start:
            entry["orders_received"] += 1
        if stated.status not in _WITHDRAWN:
            entry["ordered"] += stated.quantity
        if stated.status not in _FINISHED:
            entry["oldest_open"] = _earliest(entry["oldest_open"], stated.created)
            entry["needed_by"] = _earliest(entry["needed_by"], stated.needed_by)
            entry["expected_delivery"] = _earliest(
                entry["expected_delivery"], stated.expected_delivery
            )
    cumulative = [
        {"week_start": week.monday, "ordered": _ordered(_states(history, week.end))}
        for week in scope.trend_weeks
    ]
    return {"hospitals": list(per_hospital.values()), "ordered_cumulative": cumulative}


def state_at(order: Stated, events: list[_Event], moment: datetime) -> Stated | None:
    """``order`` (its current values) as it stood just before ``moment``; None if not received
    yet. ``events`` in the order they were recorded."""
    if order.created >= moment:
        return None
    before = [event for event in events if event.at < moment]
    if not before:
        return order
    last = before[-1]
    if last.quantity is None:  # recorded before events kept what the order said
        return Stated(order.hospital_id, order.created, last.status, order.quantity,
                      order.needed_by, order.expected_delivery)  # fmt: skip
    return Stated(order.hospital_id, order.created, last.status, last.quantity, last.needed_by,
                  last.expected_delivery)  # fmt: skip


def _history(session: Session, scope: Scope) -> list[tuple[Stated, list[_Event]]]:
    """Every order received before the week's end, with its events up to then."""
    query = select(
        col(Order.id),
        col(Order.hospital_id),
        col(Order.created_at),
        col(Order.status),
        col(Order.quantity),
        col(Order.needed_by),
        col(Order.expected_delivery),
    ).where(col(Order.created_at) < scope.end)
    if scope.hospital_ids is not None:
        query = query.where(col(Order.hospital_id).in_(sorted(scope.hospital_ids)))
    orders: dict[int, Stated] = {}
    for order_id, hospital, created, status, quantity, needed_by, expected in session.execute(
        query
    ).all():
        if order_id is not None:
            orders[order_id] = Stated(hospital, as_utc(created), status, quantity, needed_by, expected)  # fmt: skip
    if not orders:
        return []
    events: dict[int, list[_Event]] = {order_id: [] for order_id in orders}
    rows = session.execute(
        select(
            col(OrderEvent.order_id),
            col(OrderEvent.at),
            col(OrderEvent.to_status),
            col(OrderEvent.quantity),
            col(OrderEvent.needed_by),
            col(OrderEvent.expected_delivery),
        )
        .join(Order, col(Order.id) == OrderEvent.order_id)
        .where(col(Order.created_at) < scope.end, col(OrderEvent.at) < scope.end)
        .order_by(col(OrderEvent.order_id), col(OrderEvent.id))
    ).all()
    for order_id, at, status, quantity, needed_by, expected in rows:
        if order_id in events:
            events[order_id].append(_Event(as_utc(at), status, quantity, needed_by, expected))
    return [(order, events[order_id]) for order_id, order in orders.items()]


def _states(history: list[tuple[Stated, list[_Event]]], moment: datetime) -> list[Stated]:
    stated = (state_at(order, events, moment) for order, events in history)
    return [s for s in stated if s is not None]


def _ordered(states: list[Stated]) -> int:
    return sum(s.quantity for s in states if s.status not in _WITHDRAWN)


def _entry(hospital_id: int) -> dict[str, Any]:
    return {
        "hospital_id": hospital_id,
        "ordered": 0,
        "needed_by": None,
        "expected_delivery": None,
        "oldest_open": None,
        "orders_received": 0,
    }


def _earliest(current: Any, candidate: date | datetime | None) -> Any:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current
