"""The orders' contribution to the weekly report: the demand of each hospital as it stood at the end
of the report's week (from the orders' event log), promised dates, age of the open demand, and the
visors ordered week by week."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger import posting as posting_module
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.records import Hospital
from fabcoord.reports.providers import ProviderRegistry
from fabcoord.reports.weekly import ReportRequest, WeeklyReport, build
from orders import amend, lifecycle, service
from orders import report as orders_report
from orders.schemas import OrderAmend, OrderCreate
from tests.orders.conftest import HOSPITAL, valid_order

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
POITIERS = "hospital/chu-de-poitiers"


def utc(*when: int) -> datetime:
    return datetime(*when, tzinfo=UTC)  # type: ignore[misc]


class Clock:
    """Every order and ledger service of the test acts at the moment set last."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def at(self, moment: datetime) -> None:
        for module in (service, lifecycle, amend, posting_module):
            self.monkeypatch.setattr(module, "utc_now", lambda: moment)


def hospital_id(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(Hospital.id).where(Hospital.name == HOSPITAL)).one() or 0


def order(engine: Engine, qty: int, needed_by: str) -> str:
    with unit_of_work(engine) as session:
        created, _ = service.create_order(
            session=session,
            hospital_id=hospital_id(engine),
            order=OrderCreate.model_validate(valid_order(quantity=qty, needed_by=needed_by)),
            actor="tester",
            channel="api",
        )
        return created.reference


def deliver(engine: Engine, qty: int) -> None:
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.DELIVERY,
                doc_type="delivery",
                doc_id=f"BL-{qty}",
                legs=(Leg("visor", catalogue.SUPPLIERS, -qty), Leg("visor", POITIERS, qty)),
                actor="tester",
            ),
        )


def weekly(engine: Engine, week: str) -> WeeklyReport:
    registry = ProviderRegistry()
    registry.register("orders", orders_report.figures)
    with unit_of_work(engine, read_only=True) as session:
        return build(
            session=session,
            request=ReportRequest(week=week),
            database_url="sqlite://",
            now=NOW,
            registry=registry,
        )


@pytest.fixture
def history(reference_loaded: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Orders of CHU de Poitiers (times UTC; 2026-W47 ends on Sunday 22 Nov at 23:00 UTC):

    - A: 100, needed 31 Dec, received Wed 4 Nov 12:00 (W45), accepted 5 Nov, planned on 18 Nov
      for delivery on 1 Dec;
    - B: 50, needed 30 Dec, received 17 Nov (W47); after the week: amended to 80 needed 28 Dec
      (23 Nov), then cancelled (24 Nov);
    - C: 30, received 18 Nov and cancelled 19 Nov (W47);
    - D: 40, needed 29 Dec, received 25 Nov (W48).

    Delivered to Poitiers: 30 on 20 Nov (W47), 20 on 26 Nov (W48).
    """
    engine, clock = reference_loaded, Clock(monkeypatch)
    clock.at(utc(2026, 11, 4, 12))
    a = order(engine, 100, "2026-12-31")
    clock.at(utc(2026, 11, 5, 9))
    with unit_of_work(engine) as session:
        lifecycle.accept_order(session=session, reference=a, actor="t")
    clock.at(utc(2026, 11, 17, 9))
    b = order(engine, 50, "2026-12-30")
    clock.at(utc(2026, 11, 18, 9))
    c = order(engine, 30, "2026-12-31")
    with unit_of_work(engine) as session:
        lifecycle.plan_order(session=session, reference=a, expected_delivery=date(2026, 12, 1), actor="t")  # fmt: skip
    clock.at(utc(2026, 11, 19, 9))
    with unit_of_work(engine) as session:
        lifecycle.cancel_order(session=session, reference=c, actor="t", reason="double")
    clock.at(utc(2026, 11, 20, 9))
    deliver(engine, 30)
    clock.at(utc(2026, 11, 23, 10))
    with unit_of_work(engine) as session:
        change = OrderAmend.model_validate({"lines": [{"item": "visor", "quantity": 80}], "needed_by": "2026-12-28"})  # fmt: skip
        amend.amend_order(session=session, reference=b, hospital_id=hospital_id(engine), change=change, actor="t")  # fmt: skip
    clock.at(utc(2026, 11, 24, 10))
    with unit_of_work(engine) as session:
        lifecycle.cancel_order(session=session, reference=b, actor="t", reason="plus besoin")
    clock.at(utc(2026, 11, 25, 10))
    order(engine, 40, "2026-12-29")
    clock.at(utc(2026, 11, 26, 10))
    deliver(engine, 20)
    monkeypatch.undo()
    return engine


def test_the_demand_of_a_past_week_is_the_demand_as_it_stood_at_its_end(history: Engine) -> None:
    """W47 at its end: A 100 (planned) + B 50 (its amendment and cancellation came later); C was
    cancelled within the week and D not received yet: 150 ordered, 30 delivered, 120 open, fill
    rate 20 %. Earliest needed-by of the open orders: B's 30 Dec (not the 28 Dec it was amended
    to); promised: A's 1 Dec; the oldest open order (A) is 18.5 days old at the week's end."""
    result = weekly(history, "2026-W47")
    poitiers = result.figures.hospitals.set_index("hospital").loc[HOSPITAL]
    assert (poitiers["ordered"], poitiers["delivered"], poitiers["open"]) == (150, 30, 120)
    assert poitiers["fill_rate"] == pytest.approx(0.2)
    assert poitiers["needed_by"] == date(2026, 12, 30)
    assert poitiers["expected_delivery"] == date(2026, 12, 1)
    key = result.figures.key.set_index("figure")["value"]
    assert key["backlog"] == 120
    assert key["backlog_age_days"] == pytest.approx(18.5)
    assert result.figures.demand_as_of_week
    trend = result.figures.trend
    assert list(trend["ordered_cumulative"]) == [0, 0, 0, 0, 0, 100, 100, 150]
    assert list(trend["backlog"])[-2:] == [100, 120]


def test_the_next_week_sees_the_changes_made_after_the_first(history: Engine) -> None:
    """W48 at its end: B cancelled, D received: 100 + 40 = 140 ordered, 50 delivered, 90 open;
    earliest needed-by of A and D: 29 Dec."""
    result = weekly(history, "2026-W48")
    poitiers = result.figures.hospitals.set_index("hospital").loc[HOSPITAL]
    assert (poitiers["ordered"], poitiers["delivered"], poitiers["open"]) == (140, 50, 90)
    assert poitiers["needed_by"] == date(2026, 12, 29)
    assert list(result.figures.trend["ordered_cumulative"])[-2:] == [150, 140]


def test_without_the_orders_provider_the_demand_is_the_current_one(history: Engine) -> None:
    """The core alone knows the demand lines as they stand now: A 100 + D 40 (B and C cancelled)."""
    with unit_of_work(history, read_only=True) as session:
        result = build(
            session=session,
            request=ReportRequest(week="2026-W47"),
            database_url="sqlite://",
            now=NOW,
            registry=ProviderRegistry(),
        )
    poitiers = result.figures.hospitals.set_index("hospital").loc[HOSPITAL]
    assert (poitiers["ordered"], poitiers["delivered"]) == (140, 30)
    assert not result.figures.demand_as_of_week
