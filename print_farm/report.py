"""What the print farm adds to the weekly report (see ``fabcoord.reports.providers``).

Per fablab: its printers and the hours they spent printing during the week (each job from its
start to its end, cut at the week's bounds; a job still printing counts until now), hence their
utilisation. Per week of the trend: the frames the printers could print in a week, at the designs'
average rate (frames per print over minutes per print), printing round the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from fabcoord.clock import as_utc
from fabcoord.reports.providers import Rows, Scope
from print_farm.models import Design, FarmPrinter, PrintJob


def figures(*, session: Session, scope: Scope) -> Mapping[str, Rows]:
    printers = list(
        session.exec(
            select(
                col(FarmPrinter.id), col(FarmPrinter.fablab_id), col(FarmPrinter.created_at)
            ).where(col(FarmPrinter.removed).is_(False))
        )
    )
    if scope.fablab_ids is not None:
        printers = [p for p in printers if p[1] in scope.fablab_ids]
    if not printers:
        return {}
    fablab_of = {printer_id: fablab_id for printer_id, fablab_id, _ in printers}
    per_fablab: dict[int, dict[str, Any]] = {}
    for _, fablab_id, created_at in printers:
        if as_utc(created_at) < scope.end:
            entry = per_fablab.setdefault(fablab_id, _entry(fablab_id))
            entry["printers"] += 1
    jobs = session.exec(
        select(col(PrintJob.printer_id), col(PrintJob.started_at), col(PrintJob.finished_at)).where(
            col(PrintJob.printer_id).in_(sorted(fablab_of)),
            col(PrintJob.started_at) < scope.end,
            or_(col(PrintJob.finished_at).is_(None), col(PrintJob.finished_at) > scope.start),
        )
    )
    for printer_id, started_at, finished_at in jobs:
        hours = _overlap_hours(started_at, finished_at, scope)
        entry = per_fablab.setdefault(fablab_of[printer_id], _entry(fablab_of[printer_id]))
        entry["printing_hours"] += hours
    week_hours = scope.week.hours
    for entry in per_fablab.values():
        available = entry["printers"] * week_hours
        entry["printing_hours"] = round(entry["printing_hours"], 2)
        entry["utilisation"] = round(entry["printing_hours"] / available, 4) if available else None
    return {
        "fablabs": list(per_fablab.values()),
        "capacity_weekly": _capacity(session, scope, printers),
    }


def _entry(fablab_id: int) -> dict[str, Any]:
    return {"fablab_id": fablab_id, "printers": 0, "printing_hours": 0.0, "utilisation": None}


def _overlap_hours(started: datetime | None, finished: datetime | None, scope: Scope) -> float:
    if started is None:
        return 0.0
    begin = max(as_utc(started), scope.start)
    end = min(as_utc(finished) if finished is not None else scope.now, scope.end)
    return max((end - begin).total_seconds(), 0.0) / 3600


def _capacity(
    session: Session, scope: Scope, printers: list[tuple[int | None, int, datetime]]
) -> list[dict[str, Any]]:
    rates = [
        units / minutes
        for units, minutes in session.exec(select(col(Design.units_per_print), col(Design.minutes)))
        if minutes > 0
    ]
    if not rates:
        return []
    per_minute = sum(rates) / len(rates)
    rows = []
    for week in scope.trend_weeks:
        count = sum(1 for _, _, created in printers if as_utc(created) < week.end)
        rows.append(
            {"week_start": week.monday, "capacity": round(count * week.hours * 60 * per_minute)}
        )
    return rows
