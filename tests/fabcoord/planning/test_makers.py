"""Makers: registered for a fablab, their deliveries posted into its stock and linked to the order,
their reliability measured from what they delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand, makers
from fabcoord.db import unit_of_work
from fabcoord.errors import AlreadyExists, InvalidInput, UnknownFablab
from fabcoord.ledger.models import Posting
from fabcoord.planning.models import Maker
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff


def test_a_delivery_posts_frames_into_the_fablab_stock_linked_to_the_order(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    order = ff.open_order(engine, quantity=40)
    with unit_of_work(engine) as session:
        makers.add_maker(session=session, name="Ann", fablab=farm.fablab, declared_per_day=10)
    with unit_of_work(engine) as session:
        report = makers.deliver(session=session, name="Ann", frames=12, actor="t", reference=order)
    assert ff.qty(engine, "visor-frame", farm.stock) == 12
    with unit_of_work(engine, read_only=True) as session:
        posting = session.exec(select(Posting)).one()
        assert (posting.doc_type, posting.doc_id) == ("maker_delivery", str(report.delivery_id))
        [doc] = demand.documents_serving(session=session, references=[order])
        assert (doc.doc_type, doc.doc_id, doc.quantity) == (
            "maker_delivery",
            str(report.delivery_id),
            12,
        )


def test_reliability_is_delivered_over_declared_and_unmeasured_on_the_first_day() -> None:
    now = datetime(2026, 12, 10, tzinfo=UTC)
    assert (
        makers.measured_reliability(declared_per_day=10, delivered=0, joined=now, now=now) is None
    )
    week_ago = now - timedelta(days=9)
    assert (
        makers.measured_reliability(declared_per_day=10, delivered=35, joined=week_ago, now=now)
        == 0.5
    )
    assert (
        makers.measured_reliability(declared_per_day=10, delivered=300, joined=week_ago, now=now)
        == 1.0
    )
    assert (
        makers.measured_reliability(declared_per_day=0, delivered=0, joined=week_ago, now=now)
        == 0.0
    )
    two_days = now - timedelta(days=2)
    assert (
        makers.measured_reliability(declared_per_day=10, delivered=10, joined=two_days, now=now)
        == 0.5
    )


def test_listing_counts_the_last_week_and_the_effective_rate(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    with unit_of_work(engine) as session:
        makers.add_maker(session=session, name="Bob", fablab=farm.fablab, declared_per_day=10)
    with unit_of_work(engine) as session:
        row = session.exec(select(Maker)).one()
        row.created_at = datetime.now(UTC) - timedelta(days=10)
        session.add(row)
    with unit_of_work(engine) as session:
        makers.deliver(session=session, name="Bob", frames=35, actor="t")
    with unit_of_work(engine, read_only=True) as session:
        [bob] = makers.list_makers(session=session)
    assert (bob.delivered_7d, bob.reliability, bob.effective_per_day) == (35, 0.5, 5.0)


@pytest.mark.parametrize(
    ("name", "fablab", "per_day", "error"),
    [
        ("", None, 3, InvalidInput),
        ("Cid", None, -1, InvalidInput),
        ("Cid", "Nowhere lab", 3, UnknownFablab),
        ("Ann", None, 3, AlreadyExists),
    ],
)
def test_bad_makers_are_refused(
    engine: Engine, name: str, fablab: str | None, per_day: int, error: type[Exception]
) -> None:
    farm = ff.make_fablab(engine)
    with unit_of_work(engine) as session:
        makers.add_maker(session=session, name="Ann", fablab=farm.fablab, declared_per_day=1)
    with unit_of_work(engine) as session, pytest.raises(error):
        makers.add_maker(
            session=session, name=name, fablab=fablab or farm.fablab, declared_per_day=per_day
        )


def test_a_delivery_for_a_closed_order_is_refused_and_changes_nothing(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    order = ff.open_order(engine, state=demand.DemandState.CLOSED)
    with unit_of_work(engine) as session:
        makers.add_maker(session=session, name="Ann", fablab=farm.fablab, declared_per_day=5)
    before = ledger_snapshot(engine)
    with unit_of_work(engine) as session, pytest.raises(demand.DemandClosed):
        makers.deliver(session=session, name="Ann", frames=3, actor="t", reference=order)
    with unit_of_work(engine) as session, pytest.raises(makers.UnknownMaker):
        makers.deliver(session=session, name="Zed", frames=3, actor="t")
    assert ledger_snapshot(engine) == before
