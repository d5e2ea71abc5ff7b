"""The weekly report as a PDF in French, laid out with reportlab (the only module that imports it).

A first page of key figures with the change from the week before, the charts, then the tables.
Every page carries the period, the database, the production date and "page n / N". Tables are cut
into chunks of :data:`ROWS_PER_TABLE` rows so that reportlab never has to split one huge table.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from fabcoord.reports import fmt, pdf_charts
from fabcoord.reports.charts import ChartSpec
from fabcoord.reports.output import atomic_write
from fabcoord.reports.weekly import WeeklyReport

ROWS_PER_TABLE = 40
_STYLES = getSampleStyleSheet()
_SMALL = ParagraphStyle("small", parent=_STYLES["Normal"], fontSize=8, leading=10)
_CELL = ParagraphStyle("cell", parent=_STYLES["Normal"], fontSize=7.5, leading=9)
_NO_DATA = "Aucune donnée pour cette période."
_PLAIN_CELL = 26  # characters that fit the first column without wrapping

Column = tuple[str, str, Callable[[Any], str]]


def write_pdf(report: WeeklyReport, charts: list[ChartSpec], out: Path) -> Path:
    buffer = io.BytesIO()
    render(report, charts, buffer)
    return atomic_write(out, buffer.getvalue())


def render(report: WeeklyReport, charts: list[ChartSpec], target: Any) -> None:
    figures = report.figures
    week = figures.scope.week
    period = (
        f"Semaine {week.label}, du {fmt.day(week.monday)} au {fmt.day(week.days[-1])}"
        " (heure de Paris)"
    )
    footer = (
        f"{period} · produit le {fmt.moment(report.produced_at)}",
        f"base : {report.database}",
    )
    document = SimpleDocTemplate(
        target,
        pagesize=A4,
        leftMargin=1.6 * cm,
        rightMargin=1.6 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.8 * cm,
        title=f"Rapport hebdomadaire {week.label}",
        author="fabcoord",
    )
    story: list[Flowable] = [
        Paragraph(f"Rapport hebdomadaire de production — {week.label}", _STYLES["Title"]),
        Paragraph(period, _STYLES["Normal"]),
        Paragraph(f"Périmètre : {report.scope_label}", _STYLES["Normal"]),
        Paragraph(f"Base de données : {_escape(report.database)}", _SMALL),
        Paragraph(f"Produit le {fmt.moment(report.produced_at)}", _SMALL),
        Spacer(1, 0.4 * cm),
    ]
    if week.end > report.produced_at:
        story.append(Paragraph("<b>Semaine en cours : chiffres partiels.</b>", _STYLES["Normal"]))
    if not figures.active:
        story.append(Paragraph("<b>Aucune activité enregistrée cette semaine.</b>", _STYLES["Normal"]))  # fmt: skip
        story.append(Spacer(1, 0.3 * cm))
    story.append(Paragraph("Chiffres clés", _STYLES["Heading2"]))
    story += _tables(_key_rows(figures.key), ["Indicateur", "Semaine", "Semaine préc.", "Évolution"], [9.5 * cm, 2.6 * cm, 2.6 * cm, 2.6 * cm])  # fmt: skip
    story.append(Paragraph(_notes(report), _SMALL))
    story.append(PageBreak())
    story.append(Paragraph("Graphiques", _STYLES["Heading2"]))
    for chart in charts:
        drawn = pdf_charts.drawing(chart)
        story.append(KeepTogether([Paragraph(chart.title, _STYLES["Heading4"]), drawn]))
    story.append(PageBreak())
    story += _section("Par hôpital", figures.hospitals, _HOSPITAL_COLUMNS)
    story += _section("Par fablab", figures.fablabs, _FABLAB_COLUMNS)
    story += _section("Fournisseurs et partenaires", figures.suppliers, _SUPPLIER_COLUMNS)
    story += _section("Matières", figures.materials, _MATERIAL_COLUMNS)
    story += _section("Lots libérés", figures.batches, _BATCH_COLUMNS)
    for name, frame in figures.extra.items():
        story += _section(name, frame, [(c, c, _text) for c in frame.columns])
    document.build(story, canvasmaker=_numbered(footer))


def _key_rows(key: pd.DataFrame) -> list[list[str]]:
    return [
        [
            fmt.KEY_LABELS.get(row.figure, row.figure),
            fmt.key_value(row.figure, row.value),
            fmt.key_value(row.figure, row.previous),
            fmt.change(row.figure, row.change),
        ]
        for row in key.itertuples()
    ]


def _notes(report: WeeklyReport) -> str:
    missing = [
        label
        for name, label in (
            ("hospitals", "dates de livraison prévues (commandes)"),
            ("fablabs", "imprimantes et utilisation (parc d'impression)"),
            ("suppliers", "commandes fournisseurs et partenaires"),
        )
        if name not in report.figures.provided
    ]
    text = "Quantités en unités de base (pièces, grammes). " + (
        "Demande, livraisons et stocks sont arrêtés à la fin de la semaine."
        if report.figures.demand_as_of_week
        else "La demande par hôpital est celle enregistrée aujourd'hui ; livraisons et stocks "
        "sont arrêtés à la fin de la semaine."
    )
    if report.fablab:
        text += " Le filtre fablab s'applique à la production et aux stocks, pas à la demande."
    if missing:
        text += " Sans données : " + ", ".join(missing) + "."
    return text


def _text(value: Any) -> str:
    return fmt.MISSING if fmt.missing(value) else str(value)


def _int(value: Any) -> str:
    return fmt.number(value)


def _one(value: Any) -> str:
    return fmt.number(value, decimals=1)


_HOSPITAL_COLUMNS: list[Column] = [
    ("hospital", "Hôpital", _text),
    ("region", "Région", _text),
    ("ordered", "Commandé", _int),
    ("delivered_week", "Livré (sem.)", _int),
    ("delivered", "Livré (total)", _int),
    ("open", "Ouvert", _int),
    ("fill_rate", "Service", fmt.percent),
    ("needed_by", "Besoin au", fmt.day),
    ("expected_delivery", "Prévu le", fmt.day),
]
_FABLAB_COLUMNS: list[Column] = [
    ("fablab", "Fablab", _text),
    ("region", "Région", _text),
    ("printers", "Imprimantes", _int),
    ("printed", "Montures", _int),
    ("assembled", "Visières", _int),
    ("shipped", "Expédié", _int),
    ("utilisation", "Utilisation", fmt.percent),
    ("failures", "Échecs", _int),
    ("failure_rate", "Taux d'échec", fmt.percent),
]
_SUPPLIER_COLUMNS: list[Column] = [
    ("kind", "Type", _text),
    ("name", "Nom", _text),
    ("item", "Article", _text),
    ("unit", "Unité", _text),
    ("ordered", "Commandé", _int),
    ("received", "Reçu / transmis", _int),
]
_MATERIAL_COLUMNS: list[Column] = [
    ("item", "Matière", _text),
    ("unit", "Unité", _text),
    ("stock", "Stock fin de sem.", _int),
    ("consumed", "Consommé (sem.)", _int),
    ("per_day", "Par jour", _one),
    ("days_cover", "Jours de couverture", _one),
]
_BATCH_STATES = {
    "assembled": "assemblé",
    "released": "libéré",
    "quarantined": "en quarantaine",
    "scrapped": "mis au rebut",
    "recalled": "rappelé",
}
_BATCH_COLUMNS: list[Column] = [
    ("batch", "Lot", _text),
    ("fablab", "Fablab", _text),
    ("design", "Modèle", _text),
    ("quantity", "Visières", _int),
    ("released_at", "Libéré le", fmt.day),
    ("state", "État aujourd'hui", lambda v: _BATCH_STATES.get(str(v), _text(v))),
]


def _section(title: str, frame: pd.DataFrame, columns: Sequence[Column]) -> list[Flowable]:
    heading = Paragraph(title, _STYLES["Heading2"])
    if frame.empty:
        return [heading, Paragraph(_NO_DATA, _STYLES["Normal"])]
    present = [c for c in columns if c[0] in frame.columns]
    rows = [
        [show(getattr(row, name)) for name, _, show in present]
        for row in frame[[c[0] for c in present]].itertuples(index=False)
    ]
    first = 4.4 * cm if len(present) > 3 else 6 * cm
    rest = (17.8 * cm - first) / max(len(present) - 1, 1)
    widths = [first] + [rest] * (len(present) - 1)
    return [heading, *_tables(rows, [c[1] for c in present], widths)]


def _tables(rows: list[list[str]], header: list[str], widths: list[float]) -> list[Flowable]:
    """The rows as tables of at most ``ROWS_PER_TABLE`` rows, each with the header."""
    head = [Paragraph(f"<b>{_escape(h)}</b>", _CELL) for h in header]
    style = TableStyle(
        [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7fa")]),
        ]
    )
    tables: list[Flowable] = []
    for first in range(0, max(len(rows), 1), ROWS_PER_TABLE):
        chunk = rows[first : first + ROWS_PER_TABLE]
        body = [[_first_cell(chunk_row[0]), *chunk_row[1:]] for chunk_row in chunk]
        tables.append(Table([head, *body], colWidths=widths, repeatRows=1, style=style))
        tables.append(Spacer(1, 0.2 * cm))
    return tables


def _first_cell(text: str) -> Flowable | str:
    """A name that may need wrapping is a Paragraph; a short one is plain text (much cheaper to
    lay out in a long table)."""
    return Paragraph(_escape(text), _CELL) if len(text) > _PLAIN_CELL else text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _numbered(footer: tuple[str, str]) -> type[Canvas]:
    """A canvas that writes "page n / N" and the footer once the page count is known."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 7)
                self.setFillColor(colors.HexColor("#444444"))
                self.drawString(1.6 * cm, 1.1 * cm, footer[0][:140])
                self.drawString(1.6 * cm, 0.75 * cm, footer[1][:140])
                self.drawRightString(A4[0] - 1.6 * cm, 1.1 * cm, f"page {self._pageNumber} / {total}")  # fmt: skip
                super().showPage()
            super().save()

    return NumberedCanvas
