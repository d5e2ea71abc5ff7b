"""What keeps several dispatchers from stepping on each other: printer leases and job claims.

A printer is driven by the dispatcher holding its lease (owner id + expiry), taken or renewed by one
conditional ``UPDATE``; a dispatcher that dies stops renewing and its leases expire. Lease times are
the DATABASE's clock (:func:`print_farm.db_clock.database_now`: PostgreSQL's server time; SQLite is a
local file, so the local clock is its clock): dispatchers on machines whose clocks disagree by more
than a lease still agree on who holds a printer. A job is claimed
by moving it from ``queued`` to ``starting`` under a row lock (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``), so it is started at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from fabcoord import events
from fabcoord.ledger.posting import utc_now
from print_farm.attempts import requeue_state
from print_farm.db_clock import (
    database_now,
    database_now_parameter,
    database_now_sql,
    is_postgres,
)
from print_farm.designs import file_name_for
from print_farm.errors import LeaseLost
from print_farm.models import Design, FarmPrinter, GcodeBlob, JobState, PrintJob
from print_farm.spools import LoadedSpool, grams_left

_JOB = PrintJob.__table__  # type: ignore[attr-defined]
_PRINTER = FarmPrinter.__table__  # type: ignore[attr-defined]


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def acquire_leases(
    *,
    session: Session,
    owner: str,
    lease_s: float,
    max_printers: int | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> set[int]:
    """Renew this dispatcher's leases and take free or expired ones (at most ``max_printers`` in
    all); return the printers it holds.

    Expiry is set and judged by the database's clock; ``clock`` (this machine's UTC clock) is only
    read where it is the database's clock (SQLite).
    """
    now = database_now(session, clock)
    expires = now + timedelta(seconds=lease_s)
    table = FarmPrinter.__table__  # type: ignore[attr-defined]
    # the rows in id order first, the order every multi-printer write of a pass takes (PostgreSQL
    # would otherwise lock them in scan order and can deadlock with a pass; SQLite locks the file)
    session.execute(
        sa_select(table.c.id)
        .where(table.c.lease_owner == owner)
        .order_by(table.c.id)
        .with_for_update()
    )
    session.execute(
        update(table).where(table.c.lease_owner == owner).values(lease_expires_at=expires)
    )
    owned = _owned(session, owner)
    room = None if max_printers is None else max_printers - len(owned)
    if room is None or room > 0:
        free = and_(
            table.c.removed.is_(False),
            or_(
                table.c.lease_owner == "",
                table.c.lease_expires_at.is_(None),
                table.c.lease_expires_at < now,
            ),
        )
        candidates = select(table.c.id).where(free).order_by(table.c.name).limit(room)
        wanted = [row[0] for row in session.execute(candidates)]
        if wanted:
            session.execute(
                update(table)
                .where(table.c.id.in_(wanted), free)
                .values(lease_owner=owner, lease_expires_at=expires)
            )
            owned = _owned(session, owner)
    return owned


def _owned(session: Session, owner: str) -> set[int]:
    rows = session.exec(
        select(FarmPrinter.id).where(
            FarmPrinter.lease_owner == owner, col(FarmPrinter.removed).is_(False)
        )
    )
    return {printer_id for printer_id in rows if printer_id is not None}


def release_leases(*, session: Session, owner: str) -> None:
    """Give up every lease of this dispatcher (on a clean exit), so another may take over at once."""
    table = FarmPrinter.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table)
        .where(table.c.lease_owner == owner)
        .values(lease_owner="", lease_expires_at=None)
    )


def claim_job(
    *,
    session: Session,
    job_id: int,
    printer_id: int,
    owner: str,
    clock: Callable[[], datetime] = utc_now,
) -> PrintJob | None:
    """:func:`claim`, returning the job claimed (or None)."""
    if claim(session=session, job_id=job_id, printer_id=printer_id, owner=owner, clock=clock):
        return session.get(PrintJob, job_id)
    return None


def claim(
    *,
    session: Session,
    job_id: int,
    printer_id: int,
    owner: str,
    clock: Callable[[], datetime] = utc_now,
) -> int | None:
    """Move a queued job to ``starting`` on a printer this dispatcher holds and return its
    attempt number, or return None when the job was taken, the lease lost, or the printer is no
    longer free (the lease judged by the database's clock, in the statement locking the printer).

    The loaded spool is checked again under the printer's row lock (the plan read it earlier): a
    ``printers load/unload`` in between wins, and the printer's notice says what to do. Four to
    five statements, built once.
    """
    claimed = claim_for_start(
        session=session, job_id=job_id, printer_id=printer_id, owner=owner, clock=clock
    )
    return None if claimed is None else claimed[0]


def claim_for_start(
    *,
    session: Session,
    job_id: int,
    printer_id: int,
    owner: str,
    clock: Callable[[], datetime] = utc_now,
    balances_read: Mapping[SpoolKey, int] | None = None,
) -> tuple[int, str] | None:
    """:func:`claim`, returning the attempt and the printer file name of the job's design (read
    with the job: no statement of its own).

    ``balances_read``: grams of each ``(material, lot, location)`` read earlier in this same
    transaction while it held the database's write lock (SQLite's ``BEGIN IMMEDIATE``: no other
    writer since, and a claim moves no grams), used instead of reading the loaded lot's balance
    again when the printer, read under its lock here, still has that lot loaded. Never on
    PostgreSQL, where only the row lock taken here orders this read after a ``printers load``.
    """
    session.flush()  # the caller's pending changes (``farm clear``…) are seen below
    parameters = {"pid": printer_id, "owner": owner, **database_now_parameter(session, clock)}
    printer = session.execute(_claim_printer(is_postgres(session)), parameters).first()
    if (
        printer is None
        or not printer.held
        or printer.current_job_id is not None
        or not printer.bed_clear
        or not printer.enabled
        or printer.removed
    ):
        return None
    job = session.execute(_CLAIM_JOB, {"job_id": job_id}).first()
    if job is None:
        return None
    loaded = _Loaded(printer.loaded_material, printer.loaded_lot, printer.location_id)
    known = None
    if balances_read is not None and not is_postgres(session):
        known = balances_read.get(spool_key(loaded))
    misfit = spool_misfit(session, loaded, material=job.material, grams=job.grams, left=known)
    if misfit:
        session.execute(_SET_NOTICE, {"pid": printer_id, "v_notice": misfit[:300]})
        written_printer(session, printer_id, notice=misfit[:300])
        return None
    now, lot = utc_now(), printer.loaded_lot
    attempt: int = session.execute(
        _START_JOB, {"job_id": job_id, "pid": printer_id, "lot": lot, "now": now}
    ).scalar_one()
    session.execute(_TAKE_PRINTER, {"pid": printer_id, "job_id": job_id})
    written(
        session,
        job_id,
        status=JobState.STARTING,
        printer_id=printer_id,
        lot=lot,
        attempts=attempt,
        claimed_at=now,
        start_sent_at=None,
        started_at=None,
        last_error="",
    )
    written_printer(session, printer_id, current_job_id=job_id, notice="")
    return attempt, file_name_for(job.sha256)


@dataclass(frozen=True)
class _Loaded:
    loaded_material: str
    loaded_lot: str
    location_id: int


@cache
def _claim_printer(postgres: bool) -> Any:
    held = and_(
        _PRINTER.c.lease_owner == bindparam("owner"),
        _PRINTER.c.lease_expires_at > database_now_sql(postgres),
    )
    return (
        sa_select(
            held.label("held"),
            _PRINTER.c.current_job_id,
            _PRINTER.c.bed_clear,
            _PRINTER.c.enabled,
            _PRINTER.c.removed,
            _PRINTER.c.loaded_material,
            _PRINTER.c.loaded_lot,
            _PRINTER.c.location_id,
        )
        .where(_PRINTER.c.id == bindparam("pid"))
        .with_for_update()
    )


_DESIGN = Design.__table__  # type: ignore[attr-defined]
_BLOB = GcodeBlob.__table__  # type: ignore[attr-defined]
_CLAIM_JOB = (
    select(_JOB.c.id, _DESIGN.c.material, _DESIGN.c.grams, _BLOB.c.sha256)
    .join(_DESIGN, _DESIGN.c.id == _JOB.c.design_id)
    .join(_BLOB, _BLOB.c.id == _DESIGN.c.blob_id)
    .where(_JOB.c.id == bindparam("job_id"), _JOB.c.status == JobState.QUEUED)
    .with_for_update(skip_locked=True, of=_JOB)
)
_SET_NOTICE = (
    update(_PRINTER).where(_PRINTER.c.id == bindparam("pid")).values(notice=bindparam("v_notice"))
)
_START_JOB = (
    update(_JOB)
    .where(_JOB.c.id == bindparam("job_id"))
    .values(
        status=JobState.STARTING,
        printer_id=bindparam("pid"),
        lot=bindparam("lot"),
        attempts=_JOB.c.attempts + 1,
        claimed_at=bindparam("now"),
        start_sent_at=None,
        started_at=None,
        last_error="",
    )
    .returning(_JOB.c.attempts)
)
_TAKE_PRINTER = (
    update(_PRINTER)
    .where(_PRINTER.c.id == bindparam("pid"))
    .values(current_job_id=bindparam("job_id"), notice="")
)


SpoolKey = tuple[str, str, int]  # the loaded material, lot and the printer's location


def spool_key(printer: LoadedSpool) -> SpoolKey:
    return (printer.loaded_material, printer.loaded_lot, printer.location_id)


def spool_misfit(
    session: Session, printer: LoadedSpool, *, material: str, grams: int, left: int | None = None
) -> str:
    """What the operator must do before a design of ``grams`` of ``material`` can print on
    ``printer`` ("" if it fits); ``left``: the grams left of the loaded lot, when the caller
    knows them (else read)."""
    if not printer.loaded_material:
        return f"load a spool of {material}"
    if printer.loaded_material != material:
        return (
            f"loaded {printer.loaded_material} but the next job needs {material}: change the spool"
        )
    if left is None:
        left = grams_left(session=session, printer=printer)
    if left < grams:
        return (
            f"change the spool: {left} g of {printer.loaded_material} lot {printer.loaded_lot} "
            f"left, the next job needs {grams} g"
        )
    return ""


def lock_attempt(session: Session, job_id: int, attempt: int) -> PrintJob | None:
    job = session.exec(select(PrintJob).where(PrintJob.id == job_id).with_for_update()).first()
    if job is None or job.attempts != attempt or not job.status.is_active:
        return None
    return job


def mark_start_sent(
    *,
    session: Session,
    job_id: int,
    attempt: int,
    owner: str,
    at: datetime | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> bool:
    """Record that the file is selected (its progress reset) and ``start`` is about to be sent
    (``at``: when the start's staggered slot came, taken before waiting for the row lock).
    False, and nothing written, when the attempt is no longer ours or an operator cancelled the
    job: it must not start. Two statements: the job's row locked and read, then the conditional
    ``UPDATE`` that checks the lease (a statement of its own, run once the lock is held, so that it
    sees a lease taken while this transaction waited for the lock).

    Raises:
        LeaseLost: ``owner`` no longer holds an unexpired lease on the job's printer, judged in
            this transaction by the database's clock (the lease expired or was taken while this
            write waited); nothing is written and the start must not be sent.
    """
    row = session.execute(_LOCK_ATTEMPT, {"job_id": job_id, "attempt": attempt}).first()
    if row is None or not JobState(row.status).is_active or row.cancel_requested:
        return False
    parameters = {"job_id": job_id, "owner": owner, "at": at or utc_now()}
    result = session.execute(
        _start_sent(is_postgres(session)), {**parameters, **database_now_parameter(session, clock)}
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(row.printer_id, owner)
    written(session, job_id, start_sent_at=parameters["at"])
    return True


_LOCK_ATTEMPT = (
    select(_JOB.c.status, _JOB.c.cancel_requested, _JOB.c.printer_id)
    .where(_JOB.c.id == bindparam("job_id"), _JOB.c.attempts == bindparam("attempt"))
    .with_for_update()
)


@cache
def _start_sent(postgres: bool) -> Any:
    """``start_sent_at`` written only while the job's printer is leased to ``owner``."""
    held = (
        select(_PRINTER.c.id)
        .where(
            _PRINTER.c.id == _JOB.c.printer_id,
            _PRINTER.c.lease_owner == bindparam("owner"),
            _PRINTER.c.lease_expires_at > database_now_sql(postgres),
        )
        .exists()
    )
    return (
        update(_JOB)
        .where(_JOB.c.id == bindparam("job_id"), held)
        .values(start_sent_at=bindparam("at"))
    )


def mark_printing(
    *, session: Session, job_id: int, attempt: int, at: datetime | None = None
) -> bool:
    """The printer confirmed the print is under way (one ``UPDATE`` when the job was starting);
    ``at``: when it confirmed it (now if not given), the job's ``started_at``."""
    now = at or utc_now()
    started = session.execute(
        _MARK_PRINTING, {"job_id": job_id, "attempt": attempt, "now": now}
    ).first()
    if started is None:  # printing already (ours: True), or the attempt is no longer ours
        status = session.execute(_ATTEMPT_STATUS, {"job_id": job_id, "attempt": attempt}).scalar()
        return status is not None and JobState(status) is JobState.PRINTING
    written(session, job_id, status=JobState.PRINTING, started_at=now)
    order_ref = started[0]
    if order_ref and _first_start(session, job_id, order_ref):
        events.publish(
            session=session,
            event=events.Event(
                "production_started",
                "print_farm",
                {"reference": order_ref, "doc_type": "print_job", "doc_id": str(job_id)},
            ),
        )
    return True


_MARK_PRINTING = (
    update(_JOB)
    .where(
        _JOB.c.id == bindparam("job_id"),
        _JOB.c.attempts == bindparam("attempt"),
        _JOB.c.status == JobState.STARTING,
    )
    .values(status=JobState.PRINTING, started_at=bindparam("now"))
    .returning(_JOB.c.order_ref)
)
_ATTEMPT_STATUS = select(_JOB.c.status).where(
    _JOB.c.id == bindparam("job_id"), _JOB.c.attempts == bindparam("attempt")
)


def written_printer(session: Session, printer_id: int, **values: object) -> None:
    """The printer's row was written without the ORM: a copy the session holds takes the values."""
    printer = session.identity_map.get(session.identity_key(FarmPrinter, printer_id))
    for name, value in values.items() if printer is not None else ():
        set_committed_value(printer, name, value)


def written(session: Session, job_id: int, **values: object) -> None:
    """The job's row was written without the ORM: a copy the session holds takes the values."""
    job = session.identity_map.get(session.identity_key(PrintJob, job_id))
    for name, value in values.items() if job is not None else ():
        set_committed_value(job, name, value)


def _first_start(session: Session, job_id: int, order_ref: str) -> bool:
    """No other job of the same order has started (or finished) before this one."""
    other = session.exec(
        select(PrintJob.id).where(
            PrintJob.order_ref == order_ref,
            PrintJob.id != job_id,
            col(PrintJob.started_at).is_not(None) | (PrintJob.status == JobState.DONE),
        )
    ).first()
    return other is None


def requeue_not_started(
    *, session: Session, job_id: int, attempt: int, why: str, max_attempts: int | None = None
) -> bool:
    """The print never started: the job goes back to the queue (held after ``max_attempts``
    attempts), nothing is posted.

    Only a job still ``starting`` is requeued: one another dispatcher saw printing is left alone.
    """
    job = lock_attempt(session, job_id, attempt)
    if job is None or job.status is not JobState.STARTING:
        return False
    printer = session.get(FarmPrinter, job.printer_id) if job.printer_id else None
    if printer is not None and printer.current_job_id == job.id:
        printer.current_job_id = None
        printer.notice = why[:300]
        session.add(printer)
    job.status = requeue_state(job, max_attempts)
    cancelled = job.status is JobState.CANCELLED
    job.printer_id, job.lot = None, ""
    job.claimed_at = job.start_sent_at = job.started_at = None
    job.finished_at = utc_now() if cancelled else None
    job.last_error = why[:300]
    session.add(job)
    return True


def active_jobs(*, session: Session, printer_ids: set[int]) -> list[PrintJob]:
    """The jobs starting or printing on these printers."""
    if not printer_ids:
        return []
    return list(
        session.exec(
            select(PrintJob).where(
                col(PrintJob.printer_id).in_(printer_ids),
                col(PrintJob.status).in_((JobState.STARTING, JobState.PRINTING)),
            )
        )
    )
