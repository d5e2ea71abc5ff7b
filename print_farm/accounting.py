"""Posting print outcomes to the ledger, exactly once per (job, attempt).

A finished print posts, in one posting (reason ``print_output``, document ``print_job:<id>``):
the design's frames from production into the printer's fablab stock, and the design's grams of the
loaded lot from the printer to production. A failed or cancelled print posts the filament it used
(the design's grams × the last known completion, all of it when unknown) to scrap (``print_scrap``)
and puts the job back in the queue. The job row is locked and its state checked in the same
transaction as the posting, and the posting's idempotency key is ``print_job/<id>/attempt/<n>``: two
dispatchers, or a restarted one, seeing the same end can never post twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlmodel import Session

from fabcoord import fablabs
from fabcoord.errors import IdempotencyConflict
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, utc_now
from print_farm.claims import lock_attempt
from print_farm.models import Design, FarmPrinter, JobState, PrintJob
from print_farm.registry import fablab_of, location_code
from print_farm.spools import grams_left

FRAME_ITEM = "visor-frame"


@dataclass(frozen=True)
class Outcome:
    """What was recorded for one attempt (None fields when nothing was posted)."""

    job_id: int
    attempt: int
    status: str
    frames: int
    grams: int
    posting_id: int | None


def idempotency_key(job_id: int, attempt: int) -> str:
    return f"print_job/{job_id}/attempt/{attempt}"


def record_done(*, session: Session, job_id: int, attempt: int, actor: str) -> Outcome | None:
    """Record a print that ran to its end; None if this attempt's outcome is already recorded."""
    job = lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer, design = _printer_and_design(session, job)
    stock = fablabs.stock_location_code(fablab_of(session=session, printer=printer).slug)
    grams = _available(session, printer, job, design.grams)
    legs = [
        Leg(FRAME_ITEM, catalogue.PRODUCTION, -design.units_per_print),
        Leg(FRAME_ITEM, stock, design.units_per_print),
    ]
    if grams > 0:
        legs += [
            Leg(design.material, location_code(printer.name), -grams, job.lot),
            Leg(design.material, catalogue.PRODUCTION, grams, job.lot),
        ]
    posting_id = _post(session, job, attempt, MoveReason.PRINT_OUTPUT, legs, actor, "done")
    _finish(session, job, printer, JobState.DONE, "")
    return Outcome(job_id, attempt, JobState.DONE.value, design.units_per_print, grams, posting_id)


def record_failure(
    *,
    session: Session,
    job_id: int,
    attempt: int,
    completion: float | None,
    why: str,
    actor: str,
) -> Outcome | None:
    """Record a failed or cancelled print: filament used goes to scrap, the job is requeued (or
    cancelled when an operator asked); None if this attempt's outcome is already recorded."""
    job = lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer, design = _printer_and_design(session, job)
    used = scrap_grams(design.grams, completion)
    grams = _available(session, printer, job, used)
    posting_id = None
    if grams > 0:
        legs = [
            Leg(design.material, location_code(printer.name), -grams, job.lot),
            Leg(design.material, catalogue.SCRAP, grams, job.lot),
        ]
        posting_id = _post(session, job, attempt, MoveReason.PRINT_SCRAP, legs, actor, why)
    status = JobState.CANCELLED if job.cancel_requested else JobState.QUEUED
    _finish(session, job, printer, status, why)
    return Outcome(job_id, attempt, status.value, 0, grams, posting_id)


def scrap_grams(design_grams: int, completion: float | None) -> int:
    """Filament used by a print that stopped at ``completion`` percent (all of it if unknown)."""
    if completion is None:
        return design_grams
    fraction = min(max(completion, 0.0), 100.0) / 100.0
    return min(design_grams, math.ceil(design_grams * fraction))


def _printer_and_design(session: Session, job: PrintJob) -> tuple[FarmPrinter, Design]:
    printer = session.get(FarmPrinter, job.printer_id, with_for_update=True)
    design = session.get(Design, job.design_id)
    assert printer is not None and design is not None
    return printer, design


def _available(session: Session, printer: FarmPrinter, job: PrintJob, wanted: int) -> int:
    """The grams to post: what the print used, but never more than the lot has on the printer."""
    if printer.loaded_lot != job.lot or printer.loaded_material == "":
        return 0
    return max(0, min(wanted, grams_left(session=session, printer=printer)))


def _post(
    session: Session,
    job: PrintJob,
    attempt: int,
    reason: MoveReason,
    legs: list[Leg],
    actor: str,
    note: str,
) -> int | None:
    order = f"order {job.order_ref}; " if job.order_ref else ""
    try:
        posting = post(
            session=session,
            request=PostingRequest(
                reason=reason,
                doc_type="print_job",
                doc_id=str(job.id),
                legs=tuple(legs),
                actor=actor,
                idempotency_key=idempotency_key(job.id or 0, attempt),
                note=f"{order}attempt {attempt}, lot {job.lot}: {note}"[:500],
            ),
        )
    except IdempotencyConflict:
        return None  # this attempt was recorded with another outcome: keep the first
    return posting.id


def _finish(
    session: Session, job: PrintJob, printer: FarmPrinter, status: JobState, why: str
) -> None:
    now = utc_now()
    job.status, job.last_error = status, why[:300]
    if status is JobState.QUEUED:
        job.printer_id, job.lot = None, ""
        job.claimed_at = job.start_sent_at = job.started_at = None
    else:
        job.finished_at = now
    if printer.current_job_id == job.id:
        printer.current_job_id = None
    printer.bed_clear = printer.auto_clear
    printer.cleared_at = now if printer.auto_clear else printer.cleared_at
    printer.completion = None
    printer.time_left_s = None
    if not printer.auto_clear:
        printer.notice = "remove the parts, then run 'fabcoord farm clear " + printer.name + "'"
    session.add_all([job, printer])
