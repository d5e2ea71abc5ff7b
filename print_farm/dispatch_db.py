"""The dispatcher's database reads and writes, each a short unit of work's worth of queries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from fabcoord.ledger.models import Item, StockBalance
from fabcoord.ledger.posting import utc_now
from print_farm.claims import aware
from print_farm.db_clock import is_postgres
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
    query = _owned_printers(owner is not None, ids is not None)
    parameters = {"owner": owner, "ids": list(ids) if ids is not None else None}
    return [PrinterRow(*row) for row in session.execute(query, parameters)]


@cache
def _owned_printers(by_owner: bool, by_ids: bool) -> Any:
    """Built once per filter (building a statement costs several times running it)."""
    query = sa_select(*_PRINTER_COLUMNS).where(_PRINTER.c.removed.is_(False))
    if by_owner:
        query = query.where(_PRINTER.c.lease_owner == bindparam("owner"))
    if by_ids:
        query = query.where(_PRINTER.c.id.in_(bindparam("ids", expanding=True)))
    return query.order_by(_PRINTER.c.name)


def free_printer_marks(*, session: Session, owner: str) -> dict[int, tuple[object, ...]]:
    """For each printer leased by ``owner`` that has no job: what an operator may change on it
    to make it printable (see :func:`free_marks`), read without building whole rows."""
    return {row[0]: tuple(row[1:]) for row in session.execute(_FREE_MARKS, {"owner": owner})}


_FREE_MARKS = sa_select(_PRINTER.c.id, *(_PRINTER.c[name] for name in FREE_MARKS)).where(
    _PRINTER.c.lease_owner == bindparam("owner"),
    _PRINTER.c.removed.is_(False),
    _PRINTER.c.current_job_id.is_(None),
)


def cancels_asked(*, session: Session, owner: str) -> dict[int, int]:
    """Job -> printer of the jobs starting or printing on ``owner``'s printers whose cancel an
    operator asked for (``farm cancel``)."""
    active = [state.value for state in _ACTIVE]
    rows = session.execute(_CANCELS, {"owner": owner, "active": active})
    return {job_id: printer_id for job_id, printer_id in rows}


_CANCELS = (
    sa_select(_JOB.c.id, _JOB.c.printer_id)
    .join(_PRINTER, _PRINTER.c.id == _JOB.c.printer_id)
    .where(
        _PRINTER.c.lease_owner == bindparam("owner"),
        _JOB.c.status.in_(bindparam("active", expanding=True)),
        _JOB.c.cancel_requested.is_(True),
    )
)


def free_marks(row: PrinterRow) -> tuple[object, ...]:
    """What :func:`free_printer_marks` reads, from a row already read."""
    return tuple(getattr(row, name) for name in FREE_MARKS)


def active_jobs(
    *, session: Session, owner: str | None = None, printer_ids: Iterable[int] | None = None
) -> list[ActiveJob]:
    """The jobs starting or printing on the printers leased by ``owner`` (or of ``printer_ids``)."""
    query = _active_jobs(owner is not None, printer_ids is not None)
    parameters = {
        "owner": owner,
        "ids": list(printer_ids) if printer_ids is not None else None,
        "active": [state.value for state in _ACTIVE],
    }
    return [
        ActiveJob(
            id=job_id,
            attempt=attempt,
            printer_id=printer_id,
            status=JobState(status),
            file_name=file_name_for(sha256),
            start_sent_at=aware(start_sent_at),
            claimed_at=aware(claimed_at),
            cancel_requested=cancel_requested,
        )
        for job_id, attempt, printer_id, status, sha256, start_sent_at, claimed_at, cancel_requested in session.execute(
            query, parameters
        )
    ]


@cache
def _active_jobs(by_owner: bool, by_ids: bool) -> Any:
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
        .where(_JOB.c.status.in_(bindparam("active", expanding=True)))
    )
    if by_owner:
        query = query.join(_PRINTER, _PRINTER.c.id == _JOB.c.printer_id).where(
            _PRINTER.c.lease_owner == bindparam("owner")
        )
    if by_ids:
        query = query.where(_JOB.c.printer_id.in_(bindparam("ids", expanding=True)))
    return query


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
    query = _queued_jobs(materials is not None, fablab_ids is not None, max_grams is not None)
    parameters = {
        "queued": JobState.QUEUED.value,
        "limit": limit,
        "materials": sorted(materials) if materials is not None else None,
        "fablab_ids": sorted(fablab_ids) if fablab_ids is not None else None,
        "max_grams": max_grams,
    }
    return [
        QueuedJob(
            id=job_id or 0,
            priority=priority,
            needed_by=aware(needed_by),
            material=material,
            grams=grams,
            fablab_id=fablab_id,
        )
        for job_id, priority, needed_by, material, grams, fablab_id in session.execute(
            query, parameters
        )
    ]


@cache
def _queued_jobs(by_material: bool, by_fablab: bool, by_grams: bool) -> Any:
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
        .where(col(PrintJob.status) == bindparam("queued"))
    )
    if by_material:
        query = query.where(col(Design.material).in_(bindparam("materials", expanding=True)))
    if by_fablab:
        query = query.where(
            or_(
                col(PrintJob.fablab_id).is_(None),
                col(PrintJob.fablab_id).in_(bindparam("fablab_ids", expanding=True)),
            )
        )
    if by_grams:
        query = query.where(col(Design.grams) <= bindparam("max_grams"))
    return query.order_by(*dispatch_order()).limit(bindparam("limit"))


def lot_balances(*, session: Session, printers: Sequence[PrinterLike]) -> dict[int, int]:
    """Grams left of each printer's loaded lot, in one query."""
    loaded = [p for p in printers if p.loaded_material]
    if not loaded:
        return {}
    parameters = {
        "codes": sorted({p.loaded_material for p in loaded}),
        "locations": sorted({p.location_id for p in loaded}),
    }
    by_key = {
        (code, location_id, lot): qty
        for code, location_id, lot, qty in session.execute(_LOT_BALANCES, parameters)
    }
    return {
        p.id or 0: by_key.get((p.loaded_material, p.location_id, p.loaded_lot), 0) for p in loaded
    }


_BALANCE = StockBalance.__table__  # type: ignore[attr-defined]
_ITEM = Item.__table__  # type: ignore[attr-defined]
_LOT_BALANCES = (
    sa_select(_ITEM.c.code, _BALANCE.c.location_id, _BALANCE.c.lot, _BALANCE.c.qty)
    .join(_ITEM, _ITEM.c.id == _BALANCE.c.item_id)
    .where(
        _ITEM.c.code.in_(bindparam("codes", expanding=True)),
        _BALANCE.c.location_id.in_(bindparam("locations", expanding=True)),
    )
)


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


def store_observations(
    *, session: Session, observed: Sequence[Observed], locked: bool = False
) -> None:
    """Write what was observed of each printer: one batched ``UPDATE`` per kind (seen or not);
    ``locked``: the caller locked their rows already (:func:`lock_printers`)."""
    now = utc_now()
    observed = sorted(observed, key=lambda item: item.printer_id)
    if len(observed) > 1 and not locked:  # rows locked in id order, as lease renewal does
        lock_printers(session=session, printer_ids=[o.printer_id for o in observed])
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
            session.connection().execute(_store_observations(seen), batch)


def lock_printers(*, session: Session, printer_ids: Collection[int]) -> None:
    """Lock the printers' rows in id order (the order lease renewal locks them), for a write
    that goes on to several of them (PostgreSQL; a SQLite write already holds the file's lock)."""
    if printer_ids and is_postgres(session):
        session.connection().execute(_LOCK_PRINTERS, {"ids": sorted(printer_ids)})


_LOCK_PRINTERS = (
    sa_select(_PRINTER.c.id)
    .where(_PRINTER.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_PRINTER.c.id)
    .with_for_update()
)


@cache
def _store_observations(seen: bool) -> Any:
    columns = ["state", "reachable", "completion", "time_left_s"] + (
        ["last_seen_at"] if seen else []
    )
    return (
        update(_PRINTER)
        .where(_PRINTER.c.id == bindparam("pid"))
        .values({column: bindparam("v_" + column) for column in columns})
    )


def store_notices(*, session: Session, notices: dict[int, str]) -> None:
    if notices:
        batch = [{"pid": pid, "v_notice": notice[:300]} for pid, notice in sorted(notices.items())]
        session.connection().execute(_STORE_NOTICE, batch)


_STORE_NOTICE = (
    update(_PRINTER).where(_PRINTER.c.id == bindparam("pid")).values(notice=bindparam("v_notice"))
)
_REPLACE_NOTICE = (
    update(_PRINTER)
    .where(
        _PRINTER.c.id == bindparam("pid"),
        or_(bindparam("v_notice") != "", _PRINTER.c.notice == bindparam("old")),
    )
    .values(notice=bindparam("v_notice"))
)


def replace_notices(*, session: Session, notices: dict[int, tuple[str, str]]) -> None:
    """Set each ``(old, new)`` notice; an empty ``new`` only clears the printer's notice if it is
    still ``old``."""
    if notices:
        batch = [
            {"pid": pid, "old": old, "v_notice": new[:300]} for pid, (old, new) in notices.items()
        ]
        session.connection().execute(_REPLACE_NOTICE, batch)


def job_file_name(*, session: Session, job_id: int) -> str:
    """The printer file name of a job's design (without reading the G-code)."""
    return file_name_for(session.execute(_JOB_SHA256, {"job_id": job_id}).scalar_one())


_JOB_SHA256 = (
    sa_select(_BLOB.c.sha256)
    .join(_DESIGN, _DESIGN.c.blob_id == _BLOB.c.id)
    .join(_JOB, _JOB.c.design_id == _DESIGN.c.id)
    .where(_JOB.c.id == bindparam("job_id"))
)


def job_file(*, session: Session, job_id: int) -> tuple[str, bytes]:
    job = session.get(PrintJob, job_id)
    assert job is not None
    design = session.get(Design, job.design_id)
    assert design is not None
    return design_file(session=session, design=design)
