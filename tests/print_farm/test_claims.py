"""Printer leases judged by the database's clock, and job claims that re-check the loaded spool."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.ledger.posting import utc_now
from print_farm import claims, spools
from print_farm.claims import aware
from print_farm.db_clock import database_now
from print_farm.errors import LeaseLost
from print_farm.models import FarmPrinter, JobState
from tests.factories import database_snapshot, ledger_snapshot
from tests.print_farm import farm_factories as ff


def skewed(by: timedelta) -> datetime:
    return utc_now() + by


@pytest.mark.postgresql_only
def test_a_dispatcher_with_a_clock_an_hour_ahead_does_not_steal_an_unexpired_lease(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm)
    printer_id = ff.printer(engine, printer).id
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="a", lease_s=30) == {printer_id}
    with unit_of_work(engine) as session:
        taken = claims.acquire_leases(
            session=session, owner="b", lease_s=30, clock=lambda: skewed(timedelta(hours=1))
        )
    assert taken == set()
    assert ff.printer(engine, printer).lease_owner == "a"


@pytest.mark.postgresql_only
def test_a_dispatcher_with_a_clock_behind_sets_its_lease_by_server_time(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    printer_id = ff.printer(engine, printer).id or 0
    behind = timedelta(hours=-1)
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="a", lease_s=30, clock=lambda: skewed(behind))
        server_now = database_now(session)
    expires = aware(ff.printer(engine, printer).lease_expires_at)
    assert expires is not None
    assert timedelta(seconds=29) < expires - server_now <= timedelta(seconds=31)
    with unit_of_work(engine) as session:  # its own lease is judged by server time too
        job = claims.claim_job(
            session=session,
            job_id=job_id,
            printer_id=printer_id,
            owner="a",
            clock=lambda: skewed(-behind),
        )
    assert job is not None and job.status is JobState.STARTING


def test_an_expired_lease_is_judged_by_the_database_clock(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer_id = ff.printer(engine, ff.add_printer(engine, farm)).id
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="dead", lease_s=1)
        expires = database_now(session) + timedelta(seconds=1)
    with unit_of_work(engine) as session:
        while database_now(session) <= expires:
            pass
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="alive", lease_s=30) == {printer_id}


def claimable(engine: Engine, *, grams: int = 30) -> tuple[ff.Farm, str, int, int]:
    """A printer with 100 g of PETG lot L1, leased by "d1", and one queued job of ``grams``."""
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.stock_filament(engine, farm, lot="L2", grams=100)
    printer = ff.add_printer(engine, farm)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, ff.add_design(engine, grams=grams), 2)
    printer_id = ff.printer(engine, printer).id or 0
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="d1", lease_s=30) == {printer_id}
    return farm, printer, printer_id, job_id


def claim(engine: Engine, job_id: int, printer_id: int) -> bool:
    with unit_of_work(engine) as session:
        job = claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
        return job is not None


def test_a_spool_unloaded_after_planning_wins_over_the_claim(engine: Engine) -> None:
    _, printer, printer_id, job_id = claimable(engine)
    with unit_of_work(engine) as session:  # between the plan and the claim
        spools.unload_spool(session=session, name=printer, actor="tester")
    before = ledger_snapshot(engine)
    assert claim(engine, job_id, printer_id) is False
    assert ledger_snapshot(engine) == before
    row = ff.job(engine, job_id)
    assert row.status is JobState.QUEUED and row.attempts == 0 and row.printer_id is None
    after = ff.printer(engine, printer)
    assert after.current_job_id is None and after.notice == "load a spool of petg"


def test_a_spool_swapped_for_a_short_lot_after_planning_wins_over_the_claim(
    engine: Engine,
) -> None:
    _, printer, printer_id, job_id = claimable(engine, grams=30)
    with unit_of_work(engine) as session:
        spools.load_spool(
            session=session, name=printer, material="petg", lot="L2", grams=20, actor="tester"
        )
    assert claim(engine, job_id, printer_id) is False
    assert ff.job(engine, job_id).status is JobState.QUEUED
    notice = ff.printer(engine, printer).notice
    assert notice == "change the spool: 20 g of petg lot L2 left, the next job needs 30 g"
    with unit_of_work(engine) as session:  # a spool with enough on it: claimed
        spools.load_spool(
            session=session, name=printer, material="petg", lot="L1", grams=None, actor="tester"
        )
    assert claim(engine, job_id, printer_id) is True
    assert ff.job(engine, job_id).lot == "L1"
    assert ff.printer(engine, printer).notice == ""


def claim_with_balances_read(
    engine: Engine, job_id: int, printer_id: int, balances: dict[claims.SpoolKey, int]
) -> str:
    """Claim as the plan's transaction does, handing over the balances it read; the notice."""
    with unit_of_work(engine) as session:
        claims.claim_for_start(
            session=session,
            job_id=job_id,
            printer_id=printer_id,
            owner="d1",
            balances_read=balances,
        )
        printer = session.get(FarmPrinter, printer_id)
        assert printer is not None
        return printer.notice


def test_a_claim_in_the_plans_transaction_reuses_the_balance_it_read_only_on_sqlite(
    engine: Engine,
) -> None:
    _, printer, printer_id, job_id = claimable(engine, grams=30)
    location = ff.printer(engine, printer).location_id
    # a balance said to have been read earlier in the same transaction: SQLite's write lock
    # guarantees it, so the claim believes it; on PostgreSQL the claim reads it under its lock
    notice = claim_with_balances_read(engine, job_id, printer_id, {("petg", "L1", location): 10})
    if engine.dialect.name == "sqlite":
        assert notice == "change the spool: 10 g of petg lot L1 left, the next job needs 30 g"
        assert ff.job(engine, job_id).status is JobState.QUEUED
    else:
        assert notice == "" and ff.job(engine, job_id).status is JobState.STARTING


def test_a_claim_reads_the_balance_again_when_another_lot_is_loaded_than_the_plan_read(
    engine: Engine,
) -> None:
    _, printer, printer_id, job_id = claimable(engine, grams=30)
    location = ff.printer(engine, printer).location_id
    with unit_of_work(engine) as session:
        spools.load_spool(
            session=session, name=printer, material="petg", lot="L2", grams=20, actor="tester"
        )
    notice = claim_with_balances_read(engine, job_id, printer_id, {("petg", "L1", location): 100})
    assert notice == "change the spool: 20 g of petg lot L2 left, the next job needs 30 g"
    assert ff.job(engine, job_id).status is JobState.QUEUED


@pytest.mark.parametrize("lost", ["expired", "taken"])
def test_a_start_is_not_recorded_on_a_lease_no_longer_held(engine: Engine, lost: str) -> None:
    _, _, printer_id, job_id = claimable(engine)
    assert claim(engine, job_id, printer_id)
    with unit_of_work(engine) as session:
        printer = session.get(FarmPrinter, printer_id)
        assert printer is not None
        printer.lease_expires_at = database_now(session) - timedelta(seconds=1)
        if lost == "taken":
            printer.lease_owner = "d2"
            printer.lease_expires_at += timedelta(seconds=60)
        session.add(printer)
    before = database_snapshot(engine)
    with unit_of_work(engine) as session, pytest.raises(LeaseLost, match="d1 no longer holds"):
        claims.mark_start_sent(session=session, job_id=job_id, attempt=1, owner="d1")
    assert database_snapshot(engine) == before
    with unit_of_work(engine) as session:  # the holder of the lease may record it
        owner = "d2" if lost == "taken" else "d1"
        if lost == "expired":
            claims.acquire_leases(session=session, owner="d1", lease_s=30)
        assert claims.mark_start_sent(session=session, job_id=job_id, attempt=1, owner=owner)
    assert ff.job(engine, job_id).start_sent_at is not None
