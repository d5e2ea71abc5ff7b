"""Posting print outcomes to the ledger, exactly once per (job, attempt).

A finished print posts, in one posting (reason ``print_output``, document ``print_job:<id>``):
the design's frames from production into the printer's fablab stock, and the design's grams of the
loaded lot from the printer to production. A failed or cancelled print posts the filament it used
(the design's grams × the last known completion, all of it when unknown) to scrap (``print_scrap``)
and puts the job back in the queue (or holds it once it has used up its attempts). Grams are capped
at the lot's balance on the printer (the ledger never goes negative); a capped posting says so in its
note, in the printer's notice and in :class:`Outcome` (``short_g``). The job row is locked and its state checked in the same
transaction as the posting, and the posting's idempotency key is ``print_job/<id>/attempt/<n>``: two
dispatchers, or a restarted one, seeing the same end can never post twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from fabcoord import fablabs
from fabcoord.errors import IdempotencyConflict
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, utc_now
from fabcoord.records import Fablab
from print_farm.attempts import requeue_state
from print_farm.claims import lock_attempt
from print_farm.models import Design, FarmPrinter, JobState, PrintJob
from print_farm.registry import location_code
from print_farm.spools import grams_left

FRAME_ITEM = "visor-frame"


@dataclass(frozen=True)
class Outcome:
    """What was recorded for one attempt (None fields when nothing was posted).

    ``short_g``: grams the print used that were not on the printer in the ledger (the posting was
    capped at the lot's balance there: the spool should be weighed and the stock adjusted).
    """

    job_id: int
    attempt: int
    status: str
    frames: int
    grams: int
    posting_id: int | None
    short_g: int = 0


def idempotency_key(job_id: int, attempt: int) -> str:
    return f"print_job/{job_id}/attempt/{attempt}"


def record_done(*, session: Session, job_id: int, attempt: int, actor: str) -> Outcome | None:
    """Record a print that ran to its end; None if this attempt's outcome is already recorded."""
    job = lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer, design, fablab = _printer_and_design(session, job)
    stock = fablabs.stock_location_code(fablab)
    grams = _available(session, printer, job, design.grams)
    short = design.grams - grams
    legs = [
        Leg(FRAME_ITEM, catalogue.PRODUCTION, -design.units_per_print),
        Leg(FRAME_ITEM, stock, design.units_per_print),
    ]
    if grams > 0:
        legs += [
            Leg(design.material, location_code(printer.name), -grams, job.lot),
            Leg(design.material, catalogue.PRODUCTION, grams, job.lot),
        ]
    note = "done" + _short_note(job, design.grams, grams)
    posting_id = _post(session, job, attempt, MoveReason.PRINT_OUTPUT, legs, actor, note)
    _finish(session, job, printer, JobState.DONE, "")
    _warn_short(printer, job.lot, short)
    return Outcome(
        job_id, attempt, JobState.DONE.value, design.units_per_print, grams, posting_id, short
    )


def record_failure(
    *,
    session: Session,
    job_id: int,
    attempt: int,
    completion: float | None,
    why: str,
    actor: str,
    max_attempts: int | None = None,
) -> Outcome | None:
    """Record a failed or cancelled print: filament used goes to scrap, the job is requeued (or
    cancelled when an operator asked, or held after ``max_attempts`` attempts); None if this
    attempt's outcome is already recorded."""
    job = lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer, design, _ = _printer_and_design(session, job)
    used = scrap_grams(design.grams, completion)
    grams = _available(session, printer, job, used)
    posting_id = None
    if grams > 0:
        legs = [
            Leg(design.material, location_code(printer.name), -grams, job.lot),
            Leg(design.material, catalogue.SCRAP, grams, job.lot),
        ]
        note = why + _short_note(job, used, grams)
        posting_id = _post(session, job, attempt, MoveReason.PRINT_SCRAP, legs, actor, note)
    status, lot = requeue_state(job, max_attempts), job.lot
    _finish(session, job, printer, status, why)  # a requeued job forgets its lot
    _warn_short(printer, lot, used - grams)
    return Outcome(job_id, attempt, status.value, 0, grams, posting_id, used - grams)


def scrap_grams(design_grams: int, completion: float | None) -> int:
    """Filament used by a print that stopped at ``completion`` percent (all of it if unknown)."""
    if completion is None:
        return design_grams
    fraction = min(max(completion, 0.0), 100.0) / 100.0
    return min(design_grams, math.ceil(design_grams * fraction))


def _printer_and_design(session: Session, job: PrintJob) -> tuple[FarmPrinter, Design, str]:
    """The job's printer (its row locked), its design and the slug of the printer's fablab, in
    one query."""
    printer, design, slug = session.execute(
        select(FarmPrinter, Design, Fablab.slug)  # type: ignore[call-overload]
        .join(Fablab, Fablab.id == FarmPrinter.fablab_id)
        .join(Design, Design.id == job.design_id)
        .where(FarmPrinter.id == job.printer_id)
        .with_for_update(of=FarmPrinter)
    ).one()
    return printer, design, slug


def _available(session: Session, printer: FarmPrinter, job: PrintJob, wanted: int) -> int:
    """The grams to post: what the print used, but never more than the lot has on the printer."""
    if printer.loaded_lot != job.lot or printer.loaded_material == "":
        return 0
    return max(0, min(wanted, grams_left(session=session, printer=printer)))


def _short_note(job: PrintJob, used: int, posted: int) -> str:
    if posted >= used:
        return ""
    return (
        f"; the print used {used} g but only {posted} g of lot {job.lot} were on the printer "
        f"(short by {used - posted} g)"
    )


def _warn_short(printer: FarmPrinter, lot: str, short: int) -> None:
    """Tell the operator the ledger had less filament on the printer than the print used."""
    if short <= 0:
        return
    warning = (
        f"lot {lot} ran short by {short} g: weigh the spool and correct with "
        f"'fabcoord stock adjust'"
    )
    printer.notice = (warning + ("; " + printer.notice if printer.notice else ""))[:300]


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
    if status in (JobState.QUEUED, JobState.HELD):
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
