"""The dispatcher's database reads and writes, each a short unit of work's worth of queries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, or_, update
from sqlalchemy import select as sa_select
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


@dataclass(slots=True)
class PrinterRow:
    """A printer as the dispatcher's passes read it: plain values, read several times a second
    (an ORM object per printer and pass costs too much at a thousand printers)."""

    id: int
    name: str
    url: str
    fablab_id: int
    location_id: int
    api_key_env: str
    api_key_file: str
    enabled: bool
    bed_clear: bool
    loaded_material: str
    loaded_lot: str
    state: str
    notice: str
    current_job_id: int | None


class PrinterLike(Protocol):
    """What planning reads of a printer (a :class:`PrinterRow` or a ``FarmPrinter``)."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def fablab_id(self) -> int: ...
    @property
    def location_id(self) -> int: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def bed_clear(self) -> bool: ...
    @property
    def loaded_material(self) -> str: ...
    @property
    def loaded_lot(self) -> str: ...
    @property
    def current_job_id(self) -> int | None: ...


_PRINTER = FarmPrinter.__table__  # type: ignore[attr-defined]
_JOB = PrintJob.__table__  # type: ignore[attr-defined]
_DESIGN = Design.__table__  # type: ignore[attr-defined]
_BLOB = GcodeBlob.__table__  # type: ignore[attr-defined]
_PRINTER_COLUMNS = [_PRINTER.c[name] for name in PrinterRow.__slots__]
_ACTIVE = (JobState.STARTING, JobState.PRINTING)
# what an operator changes on a printer without a job: ``farm clear``, ``printers load|enable``
FREE_MARKS = ("enabled", "bed_clear", "loaded_material", "loaded_lot")


def owned_printers(
    *, session: Session, owner: str | None = None, ids: Iterable[int] | None = None
) -> list[PrinterRow]:
    """The printers leased by ``owner`` (or those of ``ids``), by name."""
    query = sa_select(*_PRINTER_COLUMNS).where(_PRINTER.c.removed.is_(False))
    if owner is not None:
        query = query.where(_PRINTER.c.lease_owner == owner)
    if ids is not None:
        query = query.where(_PRINTER.c.id.in_(list(ids)))
    return [PrinterRow(*row) for row in session.execute(query.order_by(_PRINTER.c.name))]


def free_printer_marks(*, session: Session, owner: str) -> dict[int, tuple[object, ...]]:
    """For each printer leased by ``owner`` that has no job: what an operator may change on it
    to make it printable (see :func:`free_marks`), read without building whole rows."""
    query = sa_select(_PRINTER.c.id, *(_PRINTER.c[name] for name in FREE_MARKS)).where(
        _PRINTER.c.lease_owner == owner,
        _PRINTER.c.removed.is_(False),
        _PRINTER.c.current_job_id.is_(None),
    )
    return {row[0]: tuple(row[1:]) for row in session.execute(query)}


def free_marks(row: PrinterRow) -> tuple[object, ...]:
    """What :func:`free_printer_marks` reads, from a row already read."""
    return tuple(getattr(row, name) for name in FREE_MARKS)


def active_jobs(
    *, session: Session, owner: str | None = None, printer_ids: Iterable[int] | None = None
) -> list[ActiveJob]:
    """The jobs starting or printing on the printers leased by ``owner`` (or of ``printer_ids``)."""
    query = (
        sa_select(
            _JOB.c.id,
            _JOB.c.attempts,
            _JOB.c.printer_id,
            _JOB.c.status,
            _BLOB.c.sha256,
            _JOB.c.start_sent_at,
            _JOB.c.claimed_at,
            _JOB.c.cancel_requested,
        )
        .join(_DESIGN, _DESIGN.c.id == _JOB.c.design_id)
        .join(_BLOB, _BLOB.c.id == _DESIGN.c.blob_id)
        .where(_JOB.c.status.in_(_ACTIVE))
    )
    if owner is not None:
        query = query.join(_PRINTER, _PRINTER.c.id == _JOB.c.printer_id).where(
            _PRINTER.c.lease_owner == owner
        )
    if printer_ids is not None:
        query = query.where(_JOB.c.printer_id.in_(list(printer_ids)))
    return [
        ActiveJob(
            id=job_id,
            attempt=attempt,
            printer_id=printer_id,
            status=status,
            file_name=file_name_for(sha256),
            start_sent_at=aware(start_sent_at),
            claimed_at=aware(claimed_at),
            cancel_requested=cancel_requested,
        )
        for job_id, attempt, printer_id, status, sha256, start_sent_at, claimed_at, cancel_requested in session.execute(
            query
        )
    ]


def queued_jobs(
    *,
    session: Session,
    limit: int = 5000,
    materials: Collection[str] | None = None,
    fablab_ids: Collection[int] | None = None,
    max_grams: int | None = None,
) -> list[QueuedJob]:
    """The first ``limit`` queued jobs in dispatch order, as plain tuples (no ORM objects: this
    runs whenever a printer is free); optionally only those of ``materials``, open to one of
    ``fablab_ids`` and needing at most ``max_grams``."""
    query = (
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
    )
    if materials is not None:
        query = query.where(col(Design.material).in_(sorted(materials)))
    if fablab_ids is not None:
        query = query.where(
            or_(col(PrintJob.fablab_id).is_(None), col(PrintJob.fablab_id).in_(sorted(fablab_ids)))
        )
    if max_grams is not None:
        query = query.where(col(Design.grams) <= max_grams)
    rows = session.execute(query.order_by(*dispatch_order()).limit(limit)).all()
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


def lot_balances(*, session: Session, printers: Sequence[PrinterLike]) -> dict[int, int]:
    """Grams left of each printer's loaded lot, in one query."""
    loaded = [p for p in printers if p.loaded_material]
    if not loaded:
        return {}
    codes = sorted({p.loaded_material for p in loaded})
    items = {i.code: i.id or 0 for i in session.exec(select(Item).where(col(Item.code).in_(codes)))}
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
    printer: PrinterLike, *, grams_left: int, reachable: bool, idle: bool
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
    """Write what was observed of each printer: one batched ``UPDATE`` per kind (seen or not)."""
    now = utc_now()
    for seen in (True, False):
        batch: list[dict[str, object]] = [
            {
                "pid": item.printer_id,
                "v_state": item.state[:80],
                "v_reachable": item.reachable,
                "v_completion": item.completion,
                "v_time_left_s": item.time_left_s,
                **({"v_last_seen_at": now} if seen else {}),
            }
            for item in observed
            if item.seen is seen
        ]
        if batch:
            columns = [key.removeprefix("v_") for key in batch[0] if key != "pid"]
            statement = (
                update(_PRINTER)
                .where(_PRINTER.c.id == bindparam("pid"))
                .values({column: bindparam("v_" + column) for column in columns})
            )
            session.connection().execute(statement, batch)


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


def job_file_name(*, session: Session, job_id: int) -> str:
    """The printer file name of a job's design (without reading the G-code)."""
    sha256 = session.execute(
        sa_select(_BLOB.c.sha256)
        .join(_DESIGN, _DESIGN.c.blob_id == _BLOB.c.id)
        .join(_JOB, _JOB.c.design_id == _DESIGN.c.id)
        .where(_JOB.c.id == job_id)
    ).scalar_one()
    return file_name_for(sha256)


def job_file(*, session: Session, job_id: int) -> tuple[str, bytes]:
    job = session.get(PrintJob, job_id)
    assert job is not None
    design = session.get(Design, job.design_id)
    assert design is not None
    return design_file(session=session, design=design)
