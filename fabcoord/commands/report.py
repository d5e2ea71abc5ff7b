"""The ``report`` commands: ``fabcoord report weekly``.

Mounted by ``cli.py`` with ``app.add_typer(fabcoord.commands.report.app)``. pandas and reportlab
are imported by the command when it runs, never at start-up; matplotlib only with ``--charts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabcoord.commands import face

app = typer.Typer()
report_app = typer.Typer(
    help="Weekly production reports (PDF, charts, data).", no_args_is_help=True
)
app.add_typer(report_app, name="report")

FORMATS = ("pdf", "csv", "xlsx", "json")


@report_app.command("weekly")
def weekly(
    out: Annotated[
        Path, typer.Option("--out", help="File to write (FILE.pdf, .csv, .xlsx, .json).")
    ],
    week: Annotated[
        str | None,
        typer.Option(
            "--week", help="ISO week, e.g. 2026-W47 (default: the last complete week, Paris time)."
        ),
    ] = None,
    fablab: Annotated[
        str | None, typer.Option("--fablab", help="Only this fablab's production and stock.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Only this region's fablabs and hospitals.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf, csv, xlsx or json.")] = "pdf",
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Also write the charts as PNG into this folder.")
    ] = None,
) -> None:
    """Write the weekly production report of one ISO week (Europe/Paris)."""
    from fabcoord.reports import providers
    from fabcoord.reports.weekly import ReportFormat, ReportRequest, build, write

    chosen = face.parse_enum(ReportFormat, fmt, "--format")
    context = face.context()
    with face.work(read_only=True) as session:
        report = build(
            session=session,
            request=ReportRequest(week=week, fablab=fablab, region=region),
            database_url=context.settings.database_url,
            registry=providers.providers,
        )
    written = write(report, out=out, fmt=chosen, charts=charts)
    week_label = report.figures.scope.week.label
    activity = "" if report.figures.active else " (no activity that week)"
    face.say(f"weekly report {week_label}{activity}: {', '.join(str(p) for p in written)}")
