"""Print outcomes in the ledger: exactly once per attempt, whoever records them."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, text

from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.ledger import operations
from print_farm import accounting, claims, dispatch_db, queue, registry
from print_farm.errors import JobNotRetryable, UnknownJob
from print_farm.models import JobState
from tests.factories import ledger_snapshot
from tests.print_farm import farm_factories as ff


def claimed_job(engine: Engine, *, grams: int = 30, units: int = 2) -> tuple[ff.Farm, str, int]:
    """A job claimed by dispatcher ``d1`` on a printer loaded with 500 g of lot L1."""
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    printer = ff.add_printer(engine, farm)
    ff.load(engine, printer, lot="L1", grams=500)
    design = ff.add_design(engine, grams=grams, units=units)
    [job_id] = ff.enqueue(engine, design, units, order_ref=ff.open_order(engine))
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        printer_id = ff.printer(engine, printer).id or 0
        job = claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
        assert job is not None and job.attempts == 1
    return farm, printer, job_id


def printing_job(engine: Engine, *, grams: int = 30, units: int = 2) -> tuple[ff.Farm, str, int]:
    farm, printer, job_id = claimed_job(engine, grams=grams, units=units)
    with unit_of_work(engine) as session:
        assert claims.mark_start_sent(session=session, job_id=job_id, attempt=1, owner="d1")
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
        claims.mark_start_sent(session=session, job_id=job_id, attempt=2, owner="d1")
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


def lower_printer_stock(engine: Engine, printer: str, to_grams: int) -> None:
    """Someone weighed the spool mid-print and adjusted the ledger down."""
    left = ff.qty(engine, "petg", f"printer/{printer}", lot="L1")
    with unit_of_work(engine) as session:
        operations.adjust(
            session=session,
            item="petg",
            change=str(to_grams - left),
            unit=None,
            location=f"printer/{printer}",
            reason="weighed",
            actor="tester",
            lot="L1",
        )


def posting_note(engine: Engine, job_id: int, reason: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                text(
                    "SELECT note FROM posting WHERE doc_type = 'print_job' AND doc_id = :d "
                    "AND reason = :r"
                ),
                {"d": str(job_id), "r": reason},
            ).scalar_one()
        )


def test_a_print_using_more_than_the_lot_has_on_the_printer_says_it_ran_short(
    engine: Engine,
) -> None:
    farm, printer, job_id = printing_job(engine, grams=30)
    lower_printer_stock(engine, printer, 10)
    with unit_of_work(engine) as session:
        outcome = accounting.record_done(session=session, job_id=job_id, attempt=1, actor="d1")
    assert outcome is not None and outcome.grams == 10 and outcome.short_g == 20
    assert ff.qty(engine, "petg", f"printer/{printer}", lot="L1") == 0  # never negative
    assert ff.qty(engine, "visor-frame", farm.stock) == 2
    note = posting_note(engine, job_id, "print_output")
    assert "used 30 g but only 10 g of lot L1 were on the printer (short by 20 g)" in note
    notice = ff.printer(engine, printer).notice
    assert notice.startswith(
        "lot L1 ran short by 20 g: weigh the spool and correct with 'fabcoord stock adjust'"
    )
    assert "fabcoord farm clear" in notice  # the bed still has to be cleared


def test_a_failed_print_using_more_than_the_lot_has_says_it_ran_short(engine: Engine) -> None:
    _, printer, job_id = printing_job(engine, grams=40)
    lower_printer_stock(engine, printer, 5)
    with unit_of_work(engine) as session:
        outcome = accounting.record_failure(
            session=session, job_id=job_id, attempt=1, completion=50.0, why="jam", actor="d1"
        )
    assert outcome is not None and outcome.grams == 5 and outcome.short_g == 15
    assert ff.qty(engine, "petg", "scrap", lot="L1") == 5
    assert "short by 15 g" in posting_note(engine, job_id, "print_scrap")
    assert ff.printer(engine, printer).notice.startswith("lot L1 ran short by 15 g")


def test_a_print_within_the_lot_says_nothing_about_shortness(engine: Engine) -> None:
    _, printer, job_id = printing_job(engine, grams=30)
    with unit_of_work(engine) as session:
        outcome = accounting.record_done(session=session, job_id=job_id, attempt=1, actor="d1")
    assert outcome is not None and outcome.short_g == 0
    assert "short" not in posting_note(engine, job_id, "print_output")
    assert "short" not in ff.printer(engine, printer).notice


def fail_attempt(engine: Engine, job_id: int, printer_id: int, *, limit: int) -> str:
    """Claim the job, send its start, and record that it did not start; return its state."""
    with unit_of_work(engine) as session:
        claims.acquire_leases(session=session, owner="d1", lease_s=30)
        job = claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
        assert job is not None
        attempt = job.attempts
        assert claims.mark_start_sent(session=session, job_id=job_id, attempt=attempt, owner="d1")
    with unit_of_work(engine) as session:
        assert claims.requeue_not_started(
            session=session,
            job_id=job_id,
            attempt=attempt,
            why=f"did not start (attempt {attempt})",
            max_attempts=limit,
        )
    return ff.job(engine, job_id).status.value


def test_a_job_that_keeps_not_starting_is_held_after_its_attempts_then_retried(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    printer = ff.add_printer(engine, farm)
    ff.load(engine, printer, lot="L1", grams=100)
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    printer_id = ff.printer(engine, printer).id or 0
    states = [fail_attempt(engine, job_id, printer_id, limit=3) for _ in range(3)]
    assert states == ["queued", "queued", "held"]
    held = ff.job(engine, job_id)
    assert held.attempts == 3 and held.last_error == "did not start (attempt 3)"
    with unit_of_work(engine, read_only=True) as session:
        listed = {j.id: j.status for j in queue.list_jobs(session=session)}
        assert dispatch_db.queued_jobs(session=session) == []  # not dispatched
    assert listed == {job_id: "held"}
    with unit_of_work(engine) as session:
        assert (
            claims.claim_job(session=session, job_id=job_id, printer_id=printer_id, owner="d1")
            is None
        )
    with unit_of_work(engine) as session:
        queue.retry_job(session=session, job_id=job_id)
    assert ff.job(engine, job_id).status is JobState.QUEUED
    # a fresh allowance: attempt numbers go on (they key the postings), the limit counts anew
    states = [fail_attempt(engine, job_id, printer_id, limit=3) for _ in range(3)]
    assert states == ["queued", "queued", "held"] and ff.job(engine, job_id).attempts == 6


def test_a_job_that_keeps_failing_is_held_with_its_scrap_posted(engine: Engine) -> None:
    _, printer, job_id = printing_job(engine, grams=40)
    with unit_of_work(engine) as session:
        outcome = accounting.record_failure(
            session=session,
            job_id=job_id,
            attempt=1,
            completion=50.0,
            why="thermal runaway",
            actor="d1",
            max_attempts=1,
        )
    assert outcome is not None and outcome.status == "held" and outcome.grams == 20
    row = ff.job(engine, job_id)
    assert row.status is JobState.HELD and row.printer_id is None
    assert row.last_error == "thermal runaway"
    assert ff.printer(engine, printer).current_job_id is None


def test_only_a_held_job_is_retried(engine: Engine) -> None:
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    before = ledger_snapshot(engine)
    with unit_of_work(engine) as session, pytest.raises(JobNotRetryable, match="not held"):
        queue.retry_job(session=session, job_id=job_id)
    with unit_of_work(engine) as session, pytest.raises(UnknownJob):
        queue.retry_job(session=session, job_id=job_id + 1000)
    assert ledger_snapshot(engine) == before
    assert ff.job(engine, job_id).status is JobState.QUEUED


def test_a_job_cancelled_between_its_claim_and_its_start_is_never_started(engine: Engine) -> None:
    _, printer, job_id = claimed_job(engine)
    with unit_of_work(engine) as session:
        queue.cancel_job(session=session, job_id=job_id)  # the job is starting: a request
    before = ledger_snapshot(engine)
    with unit_of_work(engine) as session:
        assert not claims.mark_start_sent(session=session, job_id=job_id, attempt=1, owner="d1")
        assert claims.requeue_not_started(session=session, job_id=job_id, attempt=1, why="x")
    job = ff.job(engine, job_id)
    assert job.status is JobState.CANCELLED and job.start_sent_at is None
    assert ff.printer(engine, printer).current_job_id is None
    assert ledger_snapshot(engine) == before
