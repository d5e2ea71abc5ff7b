"""The print queue: operators (and the planning capability) enqueue frames, list and cancel jobs.

``--count`` is a number of **frames** (visor frames, the unit hospitals ask for). A job is one print
of a design, so ``count`` frames become ``ceil(count / units_per_print)`` jobs; the last print may
give a few frames more than asked, never fewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from fabcoord import demand, fablabs
from fabcoord.errors import InvalidInput
from fabcoord.ledger.posting import utc_now
from fabcoord.records import Fablab
from print_farm.designs import get_design
from print_farm.errors import JobNotCancellable, JobNotRetryable, UnknownJob
from print_farm.models import JOB_DOCUMENT, Design, FarmPrinter, JobState, PrintJob

MAX_FRAMES = 1_000_000
MAX_PRIORITY = 1000


@dataclass(frozen=True)
class JobPublic:
    id: int
    design: str
    frames: int
    status: str
    priority: int
    needed_by: datetime | None
    order_ref: str
    fablab: str
    printer: str
    lot: str
    attempts: int
    cancel_requested: bool
    last_error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class EnqueueReport:
    design: str
    frames_asked: int
    frames_planned: int
    job_ids: list[int]


def enqueue(
    *,
    session: Session,
    design: str,
    count: int,
    order_ref: str = "",
    fablab: str | None = None,
    priority: int = 0,
    needed_by: datetime | None = None,
    line: int | None = None,
) -> EnqueueReport:
    """Queue enough prints of ``design`` for ``count`` frames.

    With ``order_ref`` (a hospital order's ``CMD-…`` reference), each job is linked to that order's
    line (``line``, or its first) through the core's demand documents (``print_job``/id), so the
    frames it posts count as produced for the order.

    Raises:
        InvalidInput (count < 1, priority out of range), UnknownDesign, UnknownFablab,
        UnknownDemand, DemandClosed (the order takes no new work).
    """
    if count < 1 or count > MAX_FRAMES:
        raise InvalidInput(
            f"--count must be a number of frames from 1 to {MAX_FRAMES}, got {count}"
        )
    if abs(priority) > MAX_PRIORITY:
        raise InvalidInput(f"--priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    order_ref = order_ref.strip()
    if len(order_ref) > 120:
        raise InvalidInput("--order must be at most 120 characters")
    served = (
        demand.require_open(session=session, reference=order_ref, line=line) if order_ref else None
    )
    design_row = get_design(session=session, name=design)
    assert design_row.id is not None
    fablab_id = fablabs.get_fablab(session=session, name=fablab).id if fablab else None
    prints = math.ceil(count / design_row.units_per_print)
    now = utc_now()
    jobs = [
        PrintJob(
            design_id=design_row.id,
            fablab_id=fablab_id,
            order_ref=order_ref,
            priority=priority,
            needed_by=needed_by,
            created_at=now,
        )
        for _ in range(prints)
    ]
    session.add_all(jobs)
    session.flush()
    if served is not None:
        for job in jobs:
            demand.link(
                session=session,
                doc_type=JOB_DOCUMENT,
                doc_id=str(job.id),
                reference=served.reference,
                line=served.line,
                quantity=design_row.units_per_print,
            )
    return EnqueueReport(
        design=design_row.name,
        frames_asked=count,
        frames_planned=prints * design_row.units_per_print,
        job_ids=[job.id for job in jobs if job.id is not None],
    )


def list_jobs(
    *, session: Session, include_finished: bool = False, limit: int = 500
) -> list[JobPublic]:
    """Jobs in dispatch order (priority, then needed-by date, then age)."""
    query = (
        select(PrintJob, Design, Fablab, FarmPrinter)
        .join(Design, col(Design.id) == PrintJob.design_id)
        .join(Fablab, col(Fablab.id) == PrintJob.fablab_id, isouter=True)
        .join(FarmPrinter, col(FarmPrinter.id) == PrintJob.printer_id, isouter=True)
    )
    if not include_finished:
        query = query.where(col(PrintJob.status).in_(_OPEN))
    query = query.order_by(*dispatch_order()).limit(limit)
    return [
        _public(job, design, fablab, printer)
        for job, design, fablab, printer in session.exec(query)
    ]


def dispatch_order() -> tuple[Any, ...]:
    """Highest priority first, then the earliest needed-by date (none last), then the oldest."""
    return (
        col(PrintJob.priority).desc(),
        col(PrintJob.needed_by).is_(None),
        col(PrintJob.needed_by),
        col(PrintJob.id),
    )


def cancel_job(*, session: Session, job_id: int) -> PrintJob:
    """Cancel a queued job at once; a job on a printer is cancelled there by its dispatcher.

    Raises:
        UnknownJob, JobNotCancellable.
    """
    job = session.exec(select(PrintJob).where(PrintJob.id == job_id).with_for_update()).first()
    if job is None:
        raise UnknownJob(f"unknown print job {job_id} (see 'fabcoord farm queue')")
    if job.status in (JobState.DONE, JobState.CANCELLED):
        raise JobNotCancellable(f"print job {job_id} is {job.status.value} already")
    if job.status in (JobState.QUEUED, JobState.HELD):
        job.status, job.finished_at = JobState.CANCELLED, utc_now()
    else:
        job.cancel_requested = True
    session.add(job)
    return job


def retry_job(*, session: Session, job_id: int) -> PrintJob:
    """Put a held job back in the queue, with a fresh allowance of attempts.

    Raises:
        UnknownJob, JobNotRetryable (the job is not held).
    """
    job = session.exec(select(PrintJob).where(PrintJob.id == job_id).with_for_update()).first()
    if job is None:
        raise UnknownJob(f"unknown print job {job_id} (see 'fabcoord farm queue')")
    if job.status is not JobState.HELD:
        raise JobNotRetryable(
            f"print job {job_id} is {job.status.value}, not held: only held jobs are retried"
        )
    job.status, job.retry_base = JobState.QUEUED, job.attempts
    session.add(job)
    return job


_OPEN = (JobState.QUEUED, JobState.HELD, JobState.STARTING, JobState.PRINTING)


def _public(
    job: PrintJob, design: Design, fablab: Fablab | None, printer: FarmPrinter | None
) -> JobPublic:
    assert job.id is not None
    return JobPublic(
        id=job.id,
        design=design.name,
        frames=design.units_per_print,
        status=job.status.value,
        priority=job.priority,
        needed_by=job.needed_by,
        order_ref=job.order_ref,
        fablab=fablab.name if fablab else "",
        printer=printer.name if printer else "",
        lot=job.lot,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        last_error=job.last_error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
