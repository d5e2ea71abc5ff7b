"""The weekly report as a service: resolve what it covers, compute the figures, write the output.

``build`` reads (inside the caller's session, writing nothing); ``write`` renders the PDF or the
exports and the PNG charts, each file written beside its target and renamed into place, so a
failure never leaves a half-written file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from fabcoord import fablabs as fablab_records
from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from fabcoord.records import Fablab, Hospital
from fabcoord.reports.figures import WeeklyFigures, compute
from fabcoord.reports.ledger_frames import TREND_WEEKS
from fabcoord.reports.providers import ProviderRegistry, Scope
from fabcoord.reports.week import parse_week


class ReportFormat(StrEnum):
    PDF = "pdf"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


@dataclass(frozen=True)
class ReportRequest:
    """What the user asked for (``week`` as typed, None for the last complete week)."""

    week: str | None = None
    fablab: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class WeeklyReport:
    """Figures and what a reader must know about where they came from."""

    figures: WeeklyFigures
    database: str
    produced_at: datetime
    fablab: str | None
    region: str | None

    @property
    def scope_label(self) -> str:
        parts = [f"fablab {self.fablab}" if self.fablab else "", f"région {self.region}" if self.region else ""]  # fmt: skip
        return ", ".join(p for p in parts if p) or "tous les fablabs et hôpitaux"


def build(
    *,
    session: Session,
    request: ReportRequest,
    database_url: str,
    now: datetime | None = None,
    registry: ProviderRegistry | None = None,
) -> WeeklyReport:
    """Compute a weekly report.

    Raises:
        InvalidInput: malformed or future week, unknown region, fablab not in the region.
        UnknownFablab: no such fablab.
    """
    now = now or utc_now()
    week = parse_week(request.week, now=now)
    fablab_ids: frozenset[int] | None = None
    hospital_ids: frozenset[int] | None = None
    fablab_name = region_name = None
    region_id = None
    if request.region is not None:
        region = fablab_records.get_region(session=session, name=request.region)
        region_id, region_name = region.id, region.name
        fablab_ids = frozenset(
            i for i in session.exec(select(Fablab.id).where(Fablab.region_id == region_id)) if i
        )
        hospital_ids = frozenset(
            i
            for i in session.exec(select(col(Hospital.id)).where(Hospital.region_id == region_id))
            if i
        )
    if request.fablab is not None:
        fablab = fablab_records.get_fablab(session=session, name=request.fablab)
        if region_id is not None and fablab.region_id != region_id:
            raise InvalidInput(f"fablab {fablab.name!r} is not in the region {region_name}")
        assert fablab.id is not None
        fablab_ids, fablab_name = frozenset({fablab.id}), fablab.name
    scope = Scope(
        week=week,
        trend_weeks=tuple(week.shifted(i - TREND_WEEKS + 1) for i in range(TREND_WEEKS)),
        fablab_ids=fablab_ids,
        hospital_ids=hospital_ids,
        now=now,
    )
    figures = compute(session=session, scope=scope, registry=registry)
    return WeeklyReport(
        figures=figures,
        database=safe_database_label(database_url),
        produced_at=now,
        fablab=fablab_name,
        region=region_name,
    )


def safe_database_label(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as nothing rather than risk showing a secret
        return "(unknown)"


def write(
    report: WeeklyReport,
    *,
    out: Path,
    fmt: ReportFormat = ReportFormat.PDF,
    charts: Path | None = None,
) -> list[Path]:
    """Write the report (and the PNG charts when ``charts`` is a folder); the files written.

    Raises:
        ReportNotWritten: a target cannot be written (nothing half-written is left behind).
    """
    from fabcoord.reports import charts as chart_module
    from fabcoord.reports import exports
    from fabcoord.reports.output import check_writable

    check_writable(out)
    if charts is not None:
        check_writable(charts, folder=True)
    drawn = chart_module.specs(report.figures) if fmt is ReportFormat.PDF or charts else []
    written: list[Path] = []
    if fmt is ReportFormat.PDF:
        from fabcoord.reports import pdf

        written.append(pdf.write_pdf(report, drawn, out))
    else:
        written += exports.write_tables(report, out, fmt.value)
    if charts is not None:
        from fabcoord.reports import png_charts  # matplotlib: only for the PNG files

        written += png_charts.save_png(drawn, charts)
    return written
