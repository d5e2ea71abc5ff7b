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
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Row, bindparam, literal, select, update
from sqlmodel import Session

from fabcoord import fablabs
from fabcoord.errors import IdempotencyConflict
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import Location, MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, utc_now
from fabcoord.records import Fablab
from print_farm.attempts import requeue_state
from print_farm.claims import written, written_printer
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
    job = _lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer = _printer_and_design(session, job)
    stock = fablabs.stock_location_code(printer.slug)
    grams = _available(session, printer, job, printer.grams)
    short = printer.grams - grams
    legs = [
        Leg(FRAME_ITEM, catalogue.PRODUCTION, -printer.units_per_print),
        Leg(FRAME_ITEM, stock, printer.units_per_print),
    ]
    if grams > 0:
        legs += [
            Leg(printer.material, location_code(printer.name), -grams, job.lot),
            Leg(printer.material, catalogue.PRODUCTION, grams, job.lot),
        ]
    note = "done" + _short_note(job, printer.grams, grams)
    posting_id = _post(session, job, attempt, MoveReason.PRINT_OUTPUT, legs, actor, note)
    _finish(session, job, printer, JobState.DONE, "", short)
    return Outcome(
        job_id, attempt, JobState.DONE.value, printer.units_per_print, grams, posting_id, short
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
    job = _lock_attempt(session, job_id, attempt)
    if job is None:
        return None
    printer = _printer_and_design(session, job)
    used = scrap_grams(printer.grams, completion)
    grams = _available(session, printer, job, used)
    posting_id = None
    if grams > 0:
        legs = [
            Leg(printer.material, location_code(printer.name), -grams, job.lot),
            Leg(printer.material, catalogue.SCRAP, grams, job.lot),
        ]
        note = why + _short_note(job, used, grams)
        posting_id = _post(session, job, attempt, MoveReason.PRINT_SCRAP, legs, actor, note)
    status = requeue_state(job, max_attempts)
    _finish(session, job, printer, status, why, used - grams)  # a requeued job forgets its lot
    return Outcome(job_id, attempt, status.value, 0, grams, posting_id, used - grams)


def scrap_grams(design_grams: int, completion: float | None) -> int:
    """Filament used by a print that stopped at ``completion`` percent (all of it if unknown)."""
    if completion is None:
        return design_grams
    fraction = min(max(completion, 0.0), 100.0) / 100.0
    return min(design_grams, math.ceil(design_grams * fraction))


_JOB = PrintJob.__table__  # type: ignore[attr-defined]
_PRINTER = FarmPrinter.__table__  # type: ignore[attr-defined]
_DESIGN = Design.__table__  # type: ignore[attr-defined]
_FABLAB = Fablab.__table__  # type: ignore[attr-defined]
_LOCATION = Location.__table__  # type: ignore[attr-defined]
_LOCK_ATTEMPT = (
    select(
        _JOB.c.id,
        _JOB.c.status,
        _JOB.c.attempts,
        _JOB.c.retry_base,
        _JOB.c.cancel_requested,
        _JOB.c.printer_id,
        _JOB.c.design_id,
        _JOB.c.lot,
        _JOB.c.order_ref,
    )
    .where(_JOB.c.id == bindparam("job_id"))
    .with_for_update()
)
_PRINTER_AND_DESIGN = (
    select(
        _PRINTER.c.id,
        _PRINTER.c.name,
        _PRINTER.c.location_id,
        _PRINTER.c.loaded_material,
        _PRINTER.c.loaded_lot,
        _PRINTER.c.auto_clear,
        _PRINTER.c.current_job_id,
        _PRINTER.c.notice,
        _DESIGN.c.units_per_print,
        _DESIGN.c.material,
        _DESIGN.c.grams,
        _FABLAB.c.slug,
    )
    .join(_FABLAB, _FABLAB.c.id == _PRINTER.c.fablab_id)
    .join(_DESIGN, _DESIGN.c.id == bindparam("design_id"))
    .where(_PRINTER.c.id == bindparam("printer_id"))
    .with_for_update(of=_PRINTER)
)


@cache
def _update(table: Any, key: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE table SET column = :v_column… WHERE id = :key``, built once per set of columns
    (building a statement per print cost more than running it)."""
    values: dict[str, Any] = {column: bindparam("v_" + column) for column in columns}
    return update(table).where(table.c.id == bindparam(key)).values(values)


def _v(values: dict[str, object]) -> dict[str, object]:
    return {"v_" + column: value for column, value in values.items()}


def stock_location_ids(*, session: Session, printer_ids: Collection[int]) -> dict[int, int]:
    """Each printer's fablab stock location id: where a finished print posts its frames, the one
    balance row that printers of different dispatchers share."""
    if not printer_ids:
        return {}
    rows = session.execute(_STOCK_OF, {"ids": sorted(printer_ids)})
    return {printer_id: location_id for printer_id, location_id in rows}


_STOCK_OF = (
    select(_PRINTER.c.id, _LOCATION.c.id)
    .join(_FABLAB, _FABLAB.c.id == _PRINTER.c.fablab_id)
    .join(_LOCATION, _LOCATION.c.code == literal(fablabs.STOCK_PREFIX).op("||")(_FABLAB.c.slug))
    .where(_PRINTER.c.id.in_(bindparam("ids", expanding=True)))
)


def _lock_attempt(session: Session, job_id: int, attempt: int) -> Row[Any] | None:
    """The job's row, locked, while ``attempt`` is its current attempt and still active."""
    session.flush()  # the caller's pending changes are seen (and not written over) below
    job = session.execute(_LOCK_ATTEMPT, {"job_id": job_id}).first()
    if job is None or job.attempts != attempt or not JobState(job.status).is_active:
        return None
    return job


def _printer_and_design(session: Session, job: Row[Any]) -> Row[Any]:
    """The job's printer (its row locked), its design and the slug of the printer's fablab, in
    one query."""
    parameters = {"printer_id": job.printer_id, "design_id": job.design_id}
    return session.execute(_PRINTER_AND_DESIGN, parameters).one()


def _available(session: Session, printer: Row[Any], job: Row[Any], wanted: int) -> int:
    """The grams to post: what the print used, but never more than the lot has on the printer."""
    if printer.loaded_lot != job.lot or printer.loaded_material == "":
        return 0
    return max(0, min(wanted, grams_left(session=session, printer=printer)))


def _short_note(job: Row[Any], used: int, posted: int) -> str:
    if posted >= used:
        return ""
    return (
        f"; the print used {used} g but only {posted} g of lot {job.lot} were on the printer "
        f"(short by {used - posted} g)"
    )


def _short_warning(lot: str, short: int) -> str:
    """Tell the operator the ledger had less filament on the printer than the print used."""
    return (
        f"lot {lot} ran short by {short} g: weigh the spool and correct with "
        f"'fabcoord stock adjust'"
    )


def _post(
    session: Session,
    job: Row[Any],
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
                idempotency_key=idempotency_key(job.id, attempt),
                note=f"{order}attempt {attempt}, lot {job.lot}: {note}"[:500],
            ),
        )
    except IdempotencyConflict:
        return None  # this attempt was recorded with another outcome: keep the first
    return posting.id


def _finish(
    session: Session, job: Row[Any], printer: Row[Any], status: JobState, why: str, short: int
) -> None:
    """The job's and the printer's rows after the print: two ``UPDATE``s (the rows are locked)."""
    now = utc_now()
    values: dict[str, object] = {"status": status, "last_error": why[:300]}
    if status in (JobState.QUEUED, JobState.HELD):
        values |= {"printer_id": None, "lot": "", "claimed_at": None}
        values |= {"start_sent_at": None, "started_at": None}
    else:
        values["finished_at"] = now
    session.execute(_update(_JOB, "job_id", tuple(values)), {"job_id": job.id, **_v(values)})
    written(session, job.id, **values)
    notice = printer.notice
    if not printer.auto_clear:
        notice = "remove the parts, then run 'fabcoord farm clear " + printer.name + "'"
    if short > 0:
        notice = _short_warning(job.lot, short) + ("; " + notice if notice else "")
    changes: dict[str, object] = {
        "bed_clear": printer.auto_clear,
        "completion": None,
        "time_left_s": None,
        "notice": notice[:300],
    }
    if printer.current_job_id == job.id:
        changes["current_job_id"] = None
    if printer.auto_clear:
        changes["cleared_at"] = now
    parameters = {"printer_id": printer.id, **_v(changes)}
    session.execute(_update(_PRINTER, "printer_id", tuple(changes)), parameters)
    written_printer(session, printer.id, **changes)
