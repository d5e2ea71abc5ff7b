"""Hand-offs end to end on both databases: record, send through the outbox, sync deliveries into the
ledger exactly once, cancel, and the manual fallback; against the stand-in (or a real Odoo)."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from fabcoord import demand
from fabcoord.clock import utc_now
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.errors import InvalidInput, UnknownLocation
from fabcoord.ledger.models import Location, Posting, StockMove
from fabcoord.records import Hospital
from fabcoord.reference import load_reference_data
from suppliers.handoff import export, outbox, partners, service
from suppliers.handoff.errors import (
    BelowMinimum,
    HandoffStateError,
    NotSent,
    TooSoon,
    UnknownPartner,
)
from suppliers.handoff.models import CommandState, HandoffCommand, HandoffState
from suppliers.handoff.sync import sync
from tests.suppliers.handoff.conftest import Partner

ENV = "FABCOORD_TEST_PARTNER_KEY"
NAME = "Plastiques de l'Ouest"
REF = "CMD-2026-000042"


class World:
    def __init__(self, engine: Engine, partner: Partner) -> None:
        self.engine, self.partner = engine, partner
        self.environ = {ENV: partner.api_key}
        with unit_of_work(engine) as session:
            load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
            hospital = session.exec(select(Hospital).order_by(Hospital.id)).first()  # type: ignore[arg-type]
            assert hospital is not None and hospital.id is not None
            self.hospital = f"hospital/{hospital.slug}"
            demand.publish(
                session=session,
                reference=REF,
                hospital_id=hospital.id,
                lines=[demand.LineSpec(1, "visor", 500)],
                needed_by=date(2026, 12, 31),
                state=demand.DemandState.OPEN,
                status="accepted",
            )
            partners.add_partner(
                session=session,
                name=NAME,
                odoo_url=partner.url,
                database=partner.database,
                login=partner.login,
                api_key_env=ENV,
                protocol=partner.protocol,
                minimum_order=50,
                lead_time_days=5,
                timeout_s=5,
            )

    def create(self, quantity: int = 100, **options: object) -> int:
        with unit_of_work(self.engine) as session:
            created = service.create_handoff(
                session=session,
                partner=NAME,
                quantity=quantity,
                needed_by=options.pop("needed_by", utc_now().date() + timedelta(days=10)),  # type: ignore[arg-type]
                destination=options.pop("destination", self.hospital),  # type: ignore[arg-type]
                actor="tester",
                orders=options.pop("orders", [REF]),  # type: ignore[arg-type]
                **options,  # type: ignore[arg-type]
            )
            return created.handoff.id or 0

    def send(self, handoff_id: int) -> None:
        with unit_of_work(self.engine) as session:
            service.queue_send(session=session, handoff_id=handoff_id)

    def worker(self, **options: object) -> outbox.Worker:
        backoff = outbox.Backoff(base_s=0.05, cap_s=0.2)
        return outbox.Worker(self.engine, environ=self.environ, backoff=backoff, **options)  # type: ignore[arg-type]

    def drain(self, timeout_s: float = 20.0) -> None:
        worker = self.worker()
        deadline = time.monotonic() + timeout_s
        try:
            while outbox.pending_count(self.engine) and time.monotonic() < deadline:
                if not worker.run_once():
                    time.sleep(0.05)
        finally:
            worker.close()

    def handoff(self, handoff_id: int) -> service.Handoff:
        with unit_of_work(self.engine, read_only=True) as session:
            return service.get_handoff(session=session, handoff_id=handoff_id)

    def at(self, location: str, doc_id: int) -> int:
        with unit_of_work(self.engine, read_only=True) as session:
            total = session.exec(
                select(func.coalesce(func.sum(StockMove.qty), 0))
                .join(Location, Location.id == StockMove.location_id)  # type: ignore[arg-type]
                .where(Location.code == location, StockMove.doc_type == "handoff")
                .where(StockMove.doc_id == str(doc_id))
            ).one()
            return int(total)

    def sync(self, handoff_id: int | None = None) -> list[service.SyncResult]:
        return sync(self.engine, environ=self.environ, actor="tester", handoff_id=handoff_id)[0]


@pytest.fixture
def world(engine: Engine, partner: Partner) -> World:
    return World(engine, partner)


def test_bad_input_is_refused_and_changes_nothing(world: World) -> None:
    soon = utc_now().date() + timedelta(days=1)
    cases: list[tuple[type[Exception], dict[str, object]]] = [
        (BelowMinimum, {"quantity": 10}),
        (TooSoon, {"needed_by": soon}),
        (UnknownLocation, {"destination": "fablab/nowhere"}),
        (InvalidInput, {"destination": "partner"}),
        (demand.UnknownDemand, {"orders": ["CMD-NOPE"]}),
    ]
    for error, options in cases:
        quantity = int(options.pop("quantity", 100))  # type: ignore[call-overload]
        with pytest.raises(error):
            world.create(quantity, **options)
    with pytest.raises(UnknownPartner, match="known: Plastiques"), unit_of_work(world.engine) as s:
        service.create_handoff(
            session=s,
            partner="Nobody",
            quantity=100,
            needed_by=date(2030, 1, 1),
            destination=world.hospital,
            actor="t",
        )
    with unit_of_work(world.engine, read_only=True) as session:
        assert service.list_handoffs(session=session) == []


def test_a_date_inside_the_lead_time_is_allowed_with_force_and_warned(world: World) -> None:
    with unit_of_work(world.engine) as session:
        created = service.create_handoff(
            session=session,
            partner=NAME,
            quantity=100,
            needed_by=utc_now().date(),
            destination=world.hospital,
            actor="t",
            force=True,
        )
    assert "needs 5 days" in created.warnings[0]


def test_send_and_sync_posts_partial_deliveries_once_into_the_hospital(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    world.send(handoff_id)  # a duplicate send: still one command, one order
    world.drain()
    sent = world.handoff(handoff_id)
    assert sent.state is HandoffState.SENT and sent.remote_state == "sale"
    assert world.partner.orders_by_ref()[sent.ref] == 1
    world.partner.control("deliver", ref=sent.ref, quantity=60)
    [result] = world.sync(handoff_id)
    assert (result.state, result.delivered, result.posted_now) == (HandoffState.PARTIAL, 60, 60)
    assert world.sync(handoff_id)[0].posted_now == 0  # a repeated sync posts nothing more
    world.partner.control("deliver", ref=sent.ref, quantity=40)  # the backorder
    [result] = world.sync()
    assert (result.state, result.delivered, result.posted_now) == (HandoffState.DELIVERED, 100, 40)
    assert world.at(world.hospital, handoff_id) == 100
    assert world.at("partner", handoff_id) == -100
    with unit_of_work(world.engine, read_only=True) as session:
        linked = demand.demand_of(session=session, doc_type="handoff", doc_id=str(handoff_id))
        assert [(d.reference, d.line) for d in linked] == [(REF, 1)]
        receipts = service.receipts_of(session=session, handoff_id=handoff_id)
        assert [(r.posted, r.state) for r in receipts] == [(60, "done"), (40, "done")]
        reasons = session.exec(select(Posting.reason).where(Posting.doc_type == "handoff")).all()
        assert [r.value for r in reasons] == ["handoff", "handoff"]


def test_internal_route_steps_are_not_counted_as_deliveries(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    world.drain()
    ref = world.handoff(handoff_id).ref
    world.partner.control("internal_step", ref=ref, quantity=100)  # pick step, not a delivery
    [result] = world.sync(handoff_id)
    assert (result.delivered, result.posted_now) == (0, 0)
    world.partner.control("deliver", ref=ref, quantity=100)
    [result] = world.sync(handoff_id)
    assert (result.state, result.delivered, result.posted_now) == (HandoffState.DELIVERED, 100, 100)


def test_the_partner_down_mid_send_delays_and_never_duplicates(world: World) -> None:
    ids = [world.create(100) for _ in range(3)]
    for handoff_id in ids:
        world.send(handoff_id)
    world.partner.control("fault", model="sale.order", method="create", mode="drop", times=2)
    worker = world.worker()
    try:
        worker.run_once()  # first reply lost: the partner counts as down for this batch
        with unit_of_work(world.engine, read_only=True) as session:
            commands = session.exec(select(HandoffCommand)).all()
            assert all(c.state is CommandState.PENDING for c in commands)
            assert all("unreachable" in c.last_error for c in commands)
    finally:
        worker.close()
    world.drain()
    refs = world.partner.orders_by_ref()
    assert [refs[world.handoff(i).ref] for i in ids] == [1, 1, 1]
    assert all(world.handoff(i).state is HandoffState.SENT for i in ids)


def test_an_outage_delays_the_outbox_which_drains_after_it(world: World) -> None:
    ids = [world.create(100) for _ in range(4)]
    for handoff_id in ids:
        world.send(handoff_id)
    world.partner.control("outage", seconds=1.5)
    time.sleep(0.2)
    stop = threading.Event()
    worker = world.worker()
    thread = threading.Thread(target=worker.run, kwargs={"stop": stop, "idle_s": 0.05})
    thread.start()
    deadline = time.monotonic() + 20
    while outbox.pending_count(world.engine) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join()
    worker.close()
    refs = world.partner.orders_by_ref()
    assert [refs.get(world.handoff(i).ref) for i in ids] == [1, 1, 1, 1]
    with unit_of_work(world.engine, read_only=True) as session:
        attempts = [c.attempts for c in session.exec(select(HandoffCommand))]
    assert max(attempts) > 1  # it did meet the outage


def test_a_wrong_api_key_stops_with_a_clear_state(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    world.environ[ENV] = "not-the-key"
    world.drain()
    refused = world.handoff(handoff_id)
    assert refused.state is HandoffState.REFUSED
    assert "refused login 'admin' or its API key" in refused.last_error
    assert "not-the-key" not in refused.last_error
    world.environ[ENV] = world.partner.api_key  # fixed: it may be sent again
    world.send(handoff_id)
    world.drain()
    assert world.handoff(handoff_id).state is HandoffState.SENT


def test_a_missing_key_variable_refuses_the_command(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    world.environ.clear()
    world.drain()
    assert f"environment variable {ENV}" in world.handoff(handoff_id).last_error


def test_cancel_after_a_partial_delivery_keeps_what_was_delivered(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    world.drain()
    ref = world.handoff(handoff_id).ref
    world.partner.control("deliver", ref=ref, quantity=30)
    with unit_of_work(world.engine) as session:
        assert service.queue_cancel(session=session, handoff_id=handoff_id) is not None
    world.drain()
    assert world.handoff(handoff_id).state is HandoffState.CANCELLED
    [result] = world.sync()  # a cancelled order is still read once: its delivery counts
    assert (result.state, result.delivered, result.remote_state) == (
        HandoffState.CANCELLED,
        30,
        "cancel",
    )
    assert world.at(world.hospital, handoff_id) == 30
    assert world.sync() == []


def test_a_draft_cancels_at_once_and_a_sync_of_a_draft_says_it_was_never_sent(
    world: World,
) -> None:
    handoff_id = world.create(100)
    with pytest.raises(NotSent, match="never sent"):
        world.sync(handoff_id)
    with unit_of_work(world.engine) as session:
        assert service.queue_cancel(session=session, handoff_id=handoff_id) is None
    assert world.handoff(handoff_id).state is HandoffState.CANCELLED
    with pytest.raises(HandoffStateError), unit_of_work(world.engine) as session:
        service.queue_send(session=session, handoff_id=handoff_id)


def test_the_manual_fallback_exports_confirms_and_receives(world: World, tmp_path: Path) -> None:
    handoff_id = world.create(100)
    with unit_of_work(world.engine, read_only=True) as session:
        order = export.purchase_order(session=session, handoff_id=handoff_id)
    pdf, csv_path = export.write(order, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert f"FABCOORD-HO-{handoff_id}" in csv_path.read_text()
    with unit_of_work(world.engine) as session:
        service.confirm_by_hand(session=session, handoff_id=handoff_id, partner_reference="SO-77")
    with unit_of_work(world.engine) as session:
        first = service.receive_by_hand(
            session=session, handoff_id=handoff_id, quantity=70, actor="t"
        )
    with unit_of_work(world.engine) as session:
        second = service.receive_by_hand(
            session=session, handoff_id=handoff_id, quantity=30, actor="t"
        )
    assert (first.state, second.state, second.delivered) == (
        HandoffState.PARTIAL,
        HandoffState.DELIVERED,
        100,
    )
    assert world.at(world.hospital, handoff_id) == 100
    with pytest.raises(HandoffStateError), unit_of_work(world.engine) as session:
        service.queue_send(session=session, handoff_id=handoff_id)


def test_an_export_that_cannot_write_its_files_names_the_folder(
    world: World, tmp_path: Path
) -> None:
    handoff_id = world.create(100)
    with unit_of_work(world.engine, read_only=True) as session:
        order = export.purchase_order(session=session, handoff_id=handoff_id)
    (tmp_path / f"{order.reference}.csv").mkdir()  # in the way, whoever runs the test
    with pytest.raises(InvalidInput, match=f"--to {tmp_path}: cannot write there"):
        export.write(order, tmp_path)


def test_from_plan_without_a_plan_says_it_recommends_nothing(world: World) -> None:
    with (
        pytest.raises(InvalidInput, match="recommends no hand-off"),
        unit_of_work(world.engine) as s,
    ):
        service.plan_recommendation(session=s)


@pytest.mark.postgresql_only
def test_concurrent_workers_share_the_outbox_without_duplicates(world: World) -> None:
    ids = [world.create(100) for _ in range(12)]
    for handoff_id in ids:
        world.send(handoff_id)
    workers = [world.worker(batch=3) for _ in range(3)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, kwargs={"stop": stop, "until_idle": True, "idle_s": 0.05})
        for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for worker in workers:
        worker.close()
    refs = world.partner.orders_by_ref()
    assert sorted(refs.get(world.handoff(i).ref, 0) for i in ids) == [1] * 12


def _session(engine: Engine) -> Session:
    return Session(engine)


def test_a_worker_never_starts_a_job_late_in_its_lease(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    worker = world.worker(lease_s=0.0)  # every job would start past half its lease: given back
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    with unit_of_work(world.engine, read_only=True) as session:
        [command] = session.exec(select(HandoffCommand)).all()
    assert (command.state, command.attempts, command.leased_until) == (
        CommandState.PENDING,
        0,
        None,
    )
    assert world.partner.orders_by_ref() == {}
    assert outbox.lease_for(120, 30) == 540 and outbox.lease_for(120, 5) == 120


def test_no_order_is_created_once_the_claim_runs_short(world: World) -> None:
    handoff_id = world.create(100)
    world.send(handoff_id)
    worker = world.worker(lease_s=1.0)  # the partner's timeout is longer than the whole lease
    try:
        worker.run_once()
    finally:
        worker.close()
    assert world.partner.orders_by_ref() == {}  # retried later, never created late
    assert world.handoff(handoff_id).state is HandoffState.QUEUED
