"""The orders' contribution to the weekly report: promised dates, age of the open demand, and the
visors ordered week by week (quantities from the core's demand lines)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand
from fabcoord.db import unit_of_work
from fabcoord.records import Hospital
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, build
from orders import lifecycle, service
from orders import report as orders_report
from orders.schemas import OrderCreate
from tests.orders.conftest import HOSPITAL, valid_order

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def order_at(engine: Engine, monkeypatch: pytest.MonkeyPatch, when: datetime, qty: int) -> str:
    """An order received at ``when``, with its demand line published as the orders package will."""
    monkeypatch.setattr(service, "utc_now", lambda: when)
    with unit_of_work(engine) as session:
        hospital = session.exec(select(Hospital).where(Hospital.name == HOSPITAL)).one()
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital.id or 0,
            order=OrderCreate.model_validate(valid_order(quantity=qty, needed_by="2026-12-31")),
            actor="tester",
            channel="api",
        )
        demand.publish(
            session=session,
            reference=order.reference,
            hospital_id=order.hospital_id,
            lines=[demand.LineSpec(1, "visor", qty)],
            needed_by=order.needed_by,
            state=demand.DemandState.OPEN,
            status="accepted",
        )
        return order.reference


def test_orders_give_promised_dates_open_age_and_ordered_per_week(
    reference_loaded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orders of 100 (W45, Wednesday 4 Nov 12:00 UTC), 50 (W47) and 30 (W47, cancelled). For W47:
    ordered 100 by W45, 150 by W47 (the cancelled one left out); the oldest open order is 18.5
    days old at the week's end (Sunday 22 Nov 23:00 UTC); promised date of the planned one."""
    engine = reference_loaded
    first = order_at(engine, monkeypatch, datetime(2026, 11, 4, 12, tzinfo=UTC), 100)
    order_at(engine, monkeypatch, datetime(2026, 11, 17, 9, tzinfo=UTC), 50)
    cancelled = order_at(engine, monkeypatch, datetime(2026, 11, 18, 9, tzinfo=UTC), 30)
    monkeypatch.undo()
    with unit_of_work(engine) as session:
        lifecycle.accept_order(session=session, reference=first, actor="t")
        lifecycle.plan_order(
            session=session,
            reference=first,
            expected_delivery=date(2099, 12, 1),
            allocated=100,
            actor="t",
        )
        lifecycle.cancel_order(session=session, reference=cancelled, actor="t", reason="double")
    registry = ProviderRegistry()
    registry.register("orders", orders_report.figures)
    with unit_of_work(engine, read_only=True) as session:
        result = build(
            session=session,
            request=ReportRequest(week="2026-W47"),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )
    trend = result.figures.trend
    assert list(trend["ordered_cumulative"]) == [0, 0, 0, 0, 0, 100, 100, 150]
    assert list(trend["backlog"])[-1] == 150
    key = result.figures.key.set_index("figure")["value"]
    assert key["backlog_age_days"] == pytest.approx(18.5)
    poitiers = result.figures.hospitals.set_index("hospital").loc[HOSPITAL]
    assert poitiers["expected_delivery"] == date(2099, 12, 1)
