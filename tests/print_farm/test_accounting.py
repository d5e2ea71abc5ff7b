"""Print outcomes in the ledger: exactly once per attempt, whoever records them."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from print_farm import accounting, claims, registry
from print_farm.models import JobState
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff


def printing_job(engine: Engine, *, grams: int = 30, units: int = 2) -> tuple[ff.Farm, str, int]:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    printer = ff.add_printer(engine, farm)
    ff.load(engine, printer, lot="L1", grams=500)
    design = ff.add_design(engine, grams=grams, units=units)
    [job_id] = ff.enqueue(engine, design, units, order_ref="CHU-1")
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        printer_id = ff.printer(engine, printer).id or 0
        job = claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
        assert job is not None and job.attempts == 1
        assert claims.mark_start_sent(session=session, job_id=job_id, attempt=1)
        assert claims.mark_printing(session=session, job_id=job_id, attempt=1)
    return farm, printer, job_id


def test_a_finished_print_posts_frames_and_filament(engine: Engine) -> None:
    farm, printer, job_id = printing_job(engine)
    with unit_of_work(engine) as session:
        outcome = accounting.record_done(session=session, job_id=job_id, attempt=1, actor="d1")
    assert outcome is not None and outcome.frames == 2 and outcome.grams == 30
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    assert ff.qty(engine, "petg", f"printer/{printer}", lot="L1") == 470
    assert ff.qty(engine, "petg", "production", lot="L1") == 30
    row = ff.job(engine, job_id)
    assert row.status is JobState.DONE and row.finished_at is not None and row.lot == "L1"
    after = ff.printer(engine, printer)
    assert after.bed_clear is False and after.current_job_id is None
    with engine.connect() as connection:
        reason, doc, key = connection.execute(
            text(
                "SELECT reason, doc_type || ':' || doc_id, idempotency_key FROM posting "
                "WHERE doc_type = 'print_job'"
            )
        ).one()
    assert (reason, doc, key) == (
        "print_output",
        f"print_job:{job_id}",
        f"print_job/{job_id}/attempt/1",
    )


def test_recording_the_same_end_twice_posts_once(engine: Engine) -> None:
    _, _, job_id = printing_job(engine)
    with unit_of_work(engine) as session:
        accounting.record_done(session=session, job_id=job_id, attempt=1, actor="d1")
    before = ledger_snapshot(engine)
    with unit_of_work(engine) as session:
        assert accounting.record_done(session=session, job_id=job_id, attempt=1, actor="d2") is None
        assert (
            accounting.record_failure(
                session=session, job_id=job_id, attempt=1, completion=50.0, why="x", actor="d2"
            )
            is None
        )
    assert ledger_snapshot(engine) == before


def test_two_dispatchers_recording_at_once_post_once(engine: Engine, settings: Settings) -> None:
    farm, _, job_id = printing_job(engine)
    engines = [make_engine(settings) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[object] = []

    def record(other: Engine) -> None:
        barrier.wait()
        with unit_of_work(other) as session:
            results.append(
                accounting.record_done(session=session, job_id=job_id, attempt=1, actor="race")
            )

    threads = [threading.Thread(target=record, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in engines:
        other.dispose()
    assert sum(r is not None for r in results) == 1
    assert ff.qty(engine, "visor-frame", farm.stock) == 2


def test_a_failed_print_scraps_what_it_used_and_requeues(engine: Engine) -> None:
    farm, printer, job_id = printing_job(engine, grams=40)
    with unit_of_work(engine) as session:
        outcome = accounting.record_failure(
            session=session,
            job_id=job_id,
            attempt=1,
            completion=25.0,
            why="thermal runaway",
            actor="d1",
        )
    assert outcome is not None and outcome.grams == 10 and outcome.status == "queued"
    assert ff.qty(engine, "petg", "scrap", lot="L1") == 10
    assert ff.qty(engine, "petg", f"printer/{printer}", lot="L1") == 490
    assert ff.qty(engine, "visor-frame", farm.stock) == 0
    row = ff.job(engine, job_id)
    assert row.status is JobState.QUEUED and row.attempts == 1 and row.printer_id is None
    assert "thermal runaway" in row.last_error


def test_a_retry_after_a_failure_is_a_new_attempt_with_its_own_posting(engine: Engine) -> None:
    farm, printer, job_id = printing_job(engine, grams=40)
    with unit_of_work(engine) as session:
        accounting.record_failure(
            session=session, job_id=job_id, attempt=1, completion=None, why="cancelled", actor="d1"
        )
        row = ff.printer(engine, printer)
    with unit_of_work(engine) as session:
        registry.clear_bed(session=session, name=printer)
        job = claims.claim_job(session=session, job_id=job_id, printer_id=row.id or 0, owner="d1")
        assert job is not None and job.attempts == 2
        claims.mark_start_sent(session=session, job_id=job_id, attempt=2)
        accounting.record_done(session=session, job_id=job_id, attempt=2, actor="d1")
    assert ff.qty(engine, "petg", "scrap", lot="L1") == 40
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    assert ff.qty(engine, "petg", f"printer/{printer}", lot="L1") == 500 - 40 - 40


def test_a_print_that_never_started_posts_nothing(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    printer = ff.add_printer(engine, farm)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        claims.claim_job(
            session=session,
            job_id=job_id,
            printer_id=ff.printer(engine, printer).id or 0,
            owner="d1",
        )
    before = ledger_snapshot(engine)
    with unit_of_work(engine) as session:
        assert claims.requeue_not_started(session=session, job_id=job_id, attempt=1, why="silent")
    assert ledger_snapshot(engine) == before
    assert ff.job(engine, job_id).status is JobState.QUEUED
    assert ff.printer(engine, printer).bed_clear is True


def test_a_job_is_claimed_once_and_a_printer_leased_once(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    printer_id = ff.printer(engine, printer).id or 0
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="d1", lease_s=30) == {printer_id}
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="d2", lease_s=30) == set()
        assert (
            claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d2")
            is None
        )
    with unit_of_work(engine) as session:
        assert claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
    with unit_of_work(engine) as session:
        assert (
            claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
            is None
        )


def test_an_expired_lease_is_taken_over(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer_id = ff.printer(engine, ff.add_printer(engine, farm)).id
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="dead", lease_s=0.001)
    time.sleep(0.01)
    with unit_of_work(engine) as session:
        assert claims.acquire_leases(session=session, owner="alive", lease_s=30) == {printer_id}
