"""The print farm's answer to the planner: frames a day per fablab, and frames under way per order.

Per printer: its working hours a day (the fablab's, 10 h by default) ÷ the design's minutes × the
frames per print, with the fastest frame design whose material the fablab's printers use (any
design when none is loaded). Per fablab: the sum, times the utilisation observed over the last
7 days (frames posted by its prints ÷ what its printers could have made), when it printed at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, cast, func
from sqlmodel import Session, col, select

from fabcoord import fablabs
from fabcoord.demand import DemandDocument
from fabcoord.ledger.models import Item, Location, MoveReason, StockMove
from fabcoord.planning.capacity import FablabCapacity, Providers
from fabcoord.planning.models import FablabHours
from fabcoord.records import Fablab
from print_farm.models import JOB_DOCUMENT, Design, FarmPrinter, JobState, PrintJob

DEFAULT_HOURS = 10.0
WINDOW = timedelta(days=7)
FRAME_ITEM = "visor-frame"


def best_design(designs: list[Design], materials: set[str]) -> Design | None:
    """The design giving the most frames per minute, preferring the materials loaded."""
    fitting = [d for d in designs if d.material in materials] or designs
    if not fitting:
        return None
    return max(fitting, key=lambda d: (d.units_per_print / d.minutes, -d.grams, d.name))


def fablab_capacity(*, session: Session, now: datetime) -> list[FablabCapacity]:
    """Every fablab with enabled printers, with its rate and filament per frame."""
    # columns only, not printer and fablab objects (a plan reads thousands of printers)
    printers = session.exec(
        select(FarmPrinter.fablab_id, FarmPrinter.loaded_material).where(
            col(FarmPrinter.enabled).is_(True), col(FarmPrinter.removed).is_(False)
        )
    ).all()
    designs = list(session.exec(select(Design)))
    if not printers or not designs:
        return []
    hours = {row.fablab_id: row.hours_per_day for row in session.exec(select(FablabHours))}
    slugs = dict(session.exec(select(Fablab.id, Fablab.slug)).all())
    produced = _frames_posted_since(session, now - WINDOW)
    by_lab: dict[int, list[str]] = {}  # per fablab, its printers' loaded materials
    for fablab_id, material in printers:
        by_lab.setdefault(fablab_id, []).append(material)
    result = []
    for lab_id, own in sorted(by_lab.items()):
        slug = slugs[lab_id]
        design = best_design(designs, {m for m in own if m})
        assert design is not None
        day_hours = hours.get(lab_id, DEFAULT_HOURS)
        per_printer = day_hours * 60 / design.minutes * design.units_per_print
        nominal = per_printer * len(own)
        made = produced.get(fablabs.stock_location_code(slug), 0)
        utilisation = None if made == 0 else round(min(1.0, made / (nominal * 7)), 3)
        effective = nominal * (utilisation if utilisation is not None else 1.0)
        used = (
            f"utilisation {utilisation:.0%} over the last 7 days ({made} frames printed)"
            if utilisation is not None
            else "no print in the last 7 days, so its full rate is counted"
        )
        notes = (
            f"{len(own)} printer(s), {day_hours:g} h a day, design {design.name!r} "
            f"({design.units_per_print} frame(s) in {design.minutes} min): "
            f"{nominal:.0f} frames a day at full use; {used}",
        )
        result.append(
            FablabCapacity(
                fablab=slug,
                printers=len(own),
                hours_per_day=day_hours,
                nominal_per_day=round(nominal, 2),
                utilisation=utilisation,
                frames_per_day=round(effective, 2),
                material=design.material,
                grams_per_frame=design.grams / design.units_per_print,
                notes=notes,
            )
        )
    return result


def _frames_posted_since(session: Session, since: datetime) -> dict[str, int]:
    """Frames that print jobs put into each location since ``since``."""
    rows = session.exec(
        select(Location.code, func.sum(StockMove.qty))
        .join(Location, col(Location.id) == StockMove.location_id)
        .join(Item, col(Item.id) == StockMove.item_id)
        .where(
            StockMove.reason == MoveReason.PRINT_OUTPUT,
            StockMove.doc_type == JOB_DOCUMENT,
            Item.code == FRAME_ITEM,
            StockMove.qty > 0,
            StockMove.posted_at >= since,
        )
        .group_by(col(Location.code))
    ).all()
    return {code: int(total) for code, total in rows}


def committed_frames(*, session: Session) -> dict[tuple[str, int], int]:
    """Frames of jobs started or done for each order line (queued jobs may still be re-planned)."""
    rows = session.exec(
        select(DemandDocument.reference, DemandDocument.line, func.sum(Design.units_per_print))
        .join(PrintJob, cast(PrintJob.id, String(120)) == DemandDocument.doc_id)
        .join(Design, col(Design.id) == PrintJob.design_id)
        .where(
            DemandDocument.doc_type == JOB_DOCUMENT,
            col(PrintJob.status).in_((JobState.STARTING, JobState.PRINTING, JobState.DONE)),
        )
        .group_by(col(DemandDocument.reference), col(DemandDocument.line))
    ).all()
    return {(ref, line): int(frames) for ref, line, frames in rows}


def provide(providers: Providers) -> None:
    """Offer the planner the farm's capacity and the frames under way per order line (this
    module alone: a plan does not import the queue, designs and printers' registry)."""
    providers.register(capacity=fablab_capacity, committed=committed_frames)
