"""The dispatcher's database reads and writes, each a short unit of work's worth of queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from fabcoord.ledger.models import Item, StockBalance
from fabcoord.ledger.posting import utc_now
from print_farm.claims import aware
from print_farm.designs import design_file, file_name_for
from print_farm.models import Design, FarmPrinter, GcodeBlob, JobState, PrintJob
from print_farm.planning import PrinterSlot, QueuedJob
from print_farm.queue import dispatch_order


@dataclass(frozen=True)
class ActiveJob:
    """A job starting or printing on one of our printers, as the tracker needs it."""

    id: int
    attempt: int
    printer_id: int
    status: JobState
    file_name: str
    start_sent_at: datetime | None
    claimed_at: datetime | None
    cancel_requested: bool


@dataclass(frozen=True)
class Observed:
    """What to store about a printer after polling or an event."""

    printer_id: int
    state: str
    reachable: bool
    completion: float | None
    time_left_s: int | None
    seen: bool


def owned_printers(*, session: Session, ids: Iterable[int]) -> list[FarmPrinter]:
    wanted = list(ids)
    if not wanted:
        return []
    query = select(FarmPrinter).where(col(FarmPrinter.id).in_(wanted))
    return list(session.exec(query.order_by(col(FarmPrinter.name))))


def active_jobs(*, session: Session, printer_ids: Iterable[int]) -> list[ActiveJob]:
    wanted = list(printer_ids)
    if not wanted:
        return []
    rows = session.exec(
        select(PrintJob, GcodeBlob.sha256)
        .join(Design, col(Design.id) == PrintJob.design_id)
        .join(GcodeBlob, col(GcodeBlob.id) == Design.blob_id)
        .where(
            col(PrintJob.printer_id).in_(wanted),
            col(PrintJob.status).in_((JobState.STARTING, JobState.PRINTING)),
        )
    ).all()
    result = []
    for job, sha256 in rows:
        assert job.id is not None and job.printer_id is not None
        result.append(
            ActiveJob(
                id=job.id,
                attempt=job.attempts,
                printer_id=job.printer_id,
                status=job.status,
                file_name=file_name_for(sha256),
                start_sent_at=aware(job.start_sent_at),
                claimed_at=aware(job.claimed_at),
                cancel_requested=job.cancel_requested,
            )
        )
    return result


def queued_jobs(*, session: Session, limit: int = 5000) -> list[QueuedJob]:
    """The first ``limit`` queued jobs in dispatch order, as plain tuples (no ORM objects: this
    runs whenever a printer is free)."""
    rows = session.execute(
        sa_select(
            col(PrintJob.id),
            col(PrintJob.priority),
            col(PrintJob.needed_by),
            col(Design.material),
            col(Design.grams),
            col(PrintJob.fablab_id),
        )
        .join(Design, col(Design.id) == PrintJob.design_id)
        .where(col(PrintJob.status) == JobState.QUEUED)
        .order_by(*dispatch_order())
        .limit(limit)
    ).all()
    return [
        QueuedJob(
            id=job_id or 0,
            priority=priority,
            needed_by=aware(needed_by),
            material=material,
            grams=grams,
            fablab_id=fablab_id,
        )
        for job_id, priority, needed_by, material, grams, fablab_id in rows
    ]


def lot_balances(*, session: Session, printers: Sequence[FarmPrinter]) -> dict[int, int]:
    """Grams left of each printer's loaded lot, in one query."""
    loaded = [p for p in printers if p.loaded_material]
    if not loaded:
        return {}
    items = {i.code: i.id or 0 for i in session.exec(select(Item))}
    rows = session.exec(
        select(StockBalance).where(
            col(StockBalance.location_id).in_([p.location_id for p in loaded])
        )
    ).all()
    by_key = {(b.item_id, b.location_id, b.lot): b.qty for b in rows}
    return {
        p.id or 0: by_key.get((items.get(p.loaded_material, 0), p.location_id, p.loaded_lot), 0)
        for p in loaded
    }


def printer_slot(
    printer: FarmPrinter, *, grams_left: int, reachable: bool, idle: bool
) -> PrinterSlot:
    return PrinterSlot(
        id=printer.id or 0,
        name=printer.name,
        fablab_id=printer.fablab_id,
        material=printer.loaded_material,
        lot=printer.loaded_lot,
        grams_left=grams_left,
        enabled=printer.enabled,
        reachable=reachable,
        idle=idle,
        bed_clear=printer.bed_clear,
        has_job=printer.current_job_id is not None,
    )


def store_observations(*, session: Session, observed: Sequence[Observed]) -> None:
    table = FarmPrinter.__table__  # type: ignore[attr-defined]
    now = utc_now()
    for item in observed:
        values: dict[str, object] = {
            "state": item.state[:80],
            "reachable": item.reachable,
            "completion": item.completion,
            "time_left_s": item.time_left_s,
        }
        if item.seen:
            values["last_seen_at"] = now
        session.execute(update(table).where(table.c.id == item.printer_id).values(**values))


def store_notices(*, session: Session, notices: dict[int, str]) -> None:
    table = FarmPrinter.__table__  # type: ignore[attr-defined]
    for printer_id, notice in notices.items():
        session.execute(update(table).where(table.c.id == printer_id).values(notice=notice[:300]))


def replace_notices(*, session: Session, notices: dict[int, tuple[str, str]]) -> None:
    """Set each ``(old, new)`` notice; an empty ``new`` only clears the printer's notice if it is
    still ``old``."""
    table = FarmPrinter.__table__  # type: ignore[attr-defined]
    for printer_id, (old, new) in notices.items():
        statement = update(table).where(table.c.id == printer_id)
        if not new:
            statement = statement.where(table.c.notice == old)
        session.execute(statement.values(notice=new[:300]))


def job_file(*, session: Session, job_id: int) -> tuple[str, bytes]:
    job = session.get(PrintJob, job_id)
    assert job is not None
    design = session.get(Design, job.design_id)
    assert design is not None
    return design_file(session=session, design=design)
