"""What the orders package adds to the weekly report (see ``fabcoord.reports.providers``).

Quantities come from the core's demand lines; this module adds only what the orders alone know:
when each order was received (for the trend of ordered visors and the age of the open demand) and
the delivery date promised when it was planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from fabcoord.clock import as_utc
from fabcoord.demand import DemandLine
from fabcoord.reports.providers import Rows, Scope
from orders.models import Order, OrderStatus

_WITHDRAWN = {OrderStatus.REJECTED, OrderStatus.CANCELLED}
_FINISHED = _WITHDRAWN | {OrderStatus.DELIVERED}


def figures(*, session: Session, scope: Scope) -> Mapping[str, Rows]:
    """Per hospital: promised date, oldest open order, orders received; ordered per week."""
    query = select(
        col(Order.reference),
        col(Order.hospital_id),
        col(Order.created_at),
        col(Order.status),
        col(Order.expected_delivery),
    ).where(col(Order.created_at) < scope.end)
    if scope.hospital_ids is not None:
        query = query.where(col(Order.hospital_id).in_(sorted(scope.hospital_ids)))
    orders = list(session.execute(query).tuples())
    quantities = dict(
        session.execute(
            select(col(DemandLine.reference), func.sum(DemandLine.quantity)).group_by(
                col(DemandLine.reference)
            )
        )
        .tuples()
        .all()
    )
    per_hospital: dict[int, dict[str, Any]] = {}
    ends = [week.end for week in scope.trend_weeks]
    ordered = [0] * len(ends)
    for reference, hospital_id, created_at, status, expected in orders:
        created = as_utc(created_at)
        entry = per_hospital.setdefault(
            hospital_id,
            {
                "hospital_id": hospital_id,
                "expected_delivery": None,
                "oldest_open": None,
                "orders_received": 0,
            },
        )
        if created >= scope.start:
            entry["orders_received"] += 1
        if status not in _FINISHED:
            entry["oldest_open"] = _earliest(entry["oldest_open"], created)
            entry["expected_delivery"] = _earliest(entry["expected_delivery"], expected)
        if status not in _WITHDRAWN:
            for index, end in enumerate(ends):
                if created < end:
                    ordered[index] += int(quantities.get(reference) or 0)
    return {
        "hospitals": list(per_hospital.values()),
        "ordered_cumulative": [
            {"week_start": week.monday, "ordered": total}
            for week, total in zip(scope.trend_weeks, ordered, strict=True)
        ]
        if orders
        else [],
    }


def _earliest(current: Any, candidate: date | datetime | None) -> Any:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current
