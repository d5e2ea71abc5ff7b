"""Which queued job goes to which idle printer: a pure function, property-tested.

Rules: a printer takes a job only when it is enabled, reachable, idle and operational, its bed is
confirmed clear, no job of its own is pending, its loaded material is the design's material, the
job is not reserved for another fablab, and the loaded lot has at least the design's grams left.
Jobs are served in dispatch order (priority, needed-by date with no date last, age); each job takes
the fitting free printer with the fewest grams left (spools are used up before fresh ones), then
the first by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class QueuedJob:
    id: int
    priority: int
    needed_by: datetime | None
    material: str
    grams: int
    fablab_id: int | None = None


@dataclass(frozen=True)
class PrinterSlot:
    id: int
    name: str
    fablab_id: int
    material: str
    lot: str
    grams_left: int
    enabled: bool = True
    reachable: bool = True
    idle: bool = True  # operational and not printing, per OctoPrint
    bed_clear: bool = True
    has_job: bool = False


@dataclass(frozen=True)
class Assignment:
    job_id: int
    printer_id: int


def dispatch_key(job: QueuedJob) -> tuple[int, bool, datetime, int]:
    """Sort key: highest priority, earliest needed-by (none last), oldest job."""
    return (-job.priority, job.needed_by is None, job.needed_by or datetime.max, job.id)


def available(printer: PrinterSlot) -> bool:
    """The printer could start a print now, whatever the job."""
    return (
        printer.enabled
        and printer.reachable
        and printer.idle
        and printer.bed_clear
        and not printer.has_job
        and bool(printer.material)
    )


def fits(job: QueuedJob, printer: PrinterSlot) -> bool:
    """The printer's spool and fablab suit the job."""
    return (
        printer.material == job.material
        and (job.fablab_id is None or job.fablab_id == printer.fablab_id)
        and printer.grams_left >= job.grams
    )


def plan_dispatch(jobs: Sequence[QueuedJob], printers: Sequence[PrinterSlot]) -> list[Assignment]:
    """Assign queued jobs to available printers; each job and printer at most once."""
    free = sorted((p for p in printers if available(p)), key=lambda p: (p.grams_left, p.name, p.id))
    plan: list[Assignment] = []
    for job in sorted(jobs, key=dispatch_key):
        if not free:
            break
        for index, printer in enumerate(free):
            if fits(job, printer):
                plan.append(Assignment(job_id=job.id, printer_id=printer.id))
                del free[index]
                break
    return plan


def explain_idle(
    jobs: Sequence[QueuedJob], printers: Sequence[PrinterSlot], plan: Sequence[Assignment]
) -> dict[int, str]:
    """What the operator should do for each idle printer that got no job while jobs wait."""
    assigned_jobs = {a.job_id for a in plan}
    assigned_printers = {a.printer_id for a in plan}
    waiting = sorted((j for j in jobs if j.id not in assigned_jobs), key=dispatch_key)
    notices: dict[int, str] = {}
    if not waiting:
        return notices
    for printer in printers:
        if printer.id in assigned_printers or not printer.enabled or printer.has_job:
            continue
        if not printer.reachable or not printer.idle:
            continue
        if not printer.bed_clear:
            notices[printer.id] = f"clear the bed, then run 'fabcoord farm clear {printer.name}'"
            continue
        mine = [j for j in waiting if j.fablab_id in (None, printer.fablab_id)]
        if not mine:
            continue
        if not printer.material:
            notices[printer.id] = f"load a spool of {mine[0].material}"
            continue
        same = [j for j in mine if j.material == printer.material]
        if not same:
            notices[printer.id] = (
                f"loaded {printer.material} but the next job needs {mine[0].material}: "
                "change the spool"
            )
        elif all(j.grams > printer.grams_left for j in same):
            notices[printer.id] = (
                f"change the spool: {printer.grams_left} g of {printer.material} lot "
                f"{printer.lot} left, the next job needs {same[0].grams} g"
            )
    return notices
