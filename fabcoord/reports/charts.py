"""What the report's four charts show, as plain data, drawn by two renderers.

The PDF draws them with reportlab's own graphics (:mod:`fabcoord.reports.pdf_charts`), so making
a PDF never imports matplotlib; the PNG files of ``--charts DIR`` are drawn by matplotlib
(:mod:`fabcoord.reports.png_charts`, imported only then). Both read the same :class:`ChartSpec`,
so they show the same numbers. A chart with nothing to show has no series and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from fabcoord.reports.figures import WeeklyFigures

TOP = 8
_DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
_DISPLAY = {"g": ("kg", 1000.0), "mm": ("m", 1000.0)}
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
)  # fmt: skip
NO_DATA = "Aucune donnée pour cette période"


class Kind(StrEnum):
    STACKED = "stacked"  # vertical bars stacked per category, with a legend
    BARS_AND_LINES = "bars_and_lines"  # vertical bars, lines over the same categories
    HORIZONTAL = "horizontal"  # one horizontal bar per category, top to bottom


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float, ...]
    color: str


@dataclass(frozen=True)
class ChartSpec:
    """One chart: categories along an axis, bar series (stacked for ``STACKED``), line series."""

    name: str
    title: str
    kind: Kind
    categories: tuple[str, ...] = ()
    bars: tuple[Series, ...] = ()
    lines: tuple[Series, ...] = ()
    axis_label: str = ""

    @property
    def empty(self) -> bool:
        return not self.bars and not self.lines


def specs(figures: WeeklyFigures) -> list[ChartSpec]:
    """The report's four charts, in the order the PDF shows them."""
    return [_daily(figures), _trend(figures), _materials(figures), _deliveries(figures)]


def _daily(figures: WeeklyFigures) -> ChartSpec:
    spec = ChartSpec(
        "production_quotidienne", "Production quotidienne par fablab (montures)", Kind.STACKED
    )
    daily = figures.daily
    if daily.empty or daily["frames"].sum() == 0:
        return spec
    table = daily.pivot_table(index="day", columns="fablab", values="frames", aggfunc="sum")
    table = table.reindex(figures.scope.week.days).fillna(0)
    order = table.sum().sort_values(ascending=False).index
    if len(order) > TOP:
        kept = list(order[: TOP - 1])
        table = table[kept].assign(autres=table[list(order[TOP - 1 :])].sum(axis=1))
    else:
        table = table[list(order)]
    labels = tuple(f"{_DAYS[d.weekday()]}\n{d.day:02d}/{d.month:02d}" for d in table.index)
    bars = tuple(
        Series(str(name), tuple(float(v) for v in table[name]), PALETTE[i % len(PALETTE)])
        for i, name in enumerate(table.columns)
    )
    return ChartSpec(spec.name, spec.title, spec.kind, labels, bars, (), "montures")


def _trend(figures: WeeklyFigures) -> ChartSpec:
    spec = ChartSpec(
        "carnet_vs_capacite", "Carnet de commandes et capacité, 8 semaines", Kind.BARS_AND_LINES
    )
    trend = figures.trend
    has_backlog = trend["ordered_cumulative"].notna().any()
    has_capacity = trend["capacity"].notna().any()
    if trend["printed"].sum() == 0 and not has_backlog and not has_capacity:
        return spec
    lines = []
    if has_capacity:
        lines.append(Series("capacité", _floats(trend["capacity"]), "#2a7a2a"))
    if has_backlog:
        lines.append(Series("carnet (à livrer)", _floats(trend["backlog"]), "#c0392b"))
    return ChartSpec(
        spec.name,
        spec.title,
        spec.kind,
        tuple(w.split("-")[1] for w in trend["week"]),
        (Series("montures imprimées", _floats(trend["printed"]), "#8fb3d9"),),
        tuple(lines),
        "pièces",
    )


def _materials(figures: WeeklyFigures) -> ChartSpec:
    spec = ChartSpec("matieres", "Stock de matières et jours de couverture", Kind.HORIZONTAL)
    if figures.materials.empty:
        return spec
    labels, values = [], []
    for row in figures.materials.itertuples():
        unit, factor = _DISPLAY.get(str(row.unit), (str(row.unit), 1.0))
        days = "—" if _missing(row.days_cover) else f"{row.days_cover:.0f} j"
        labels.append(f"{row.item} ({unit}) · {days}")
        values.append(float(row.stock) / factor)
    return ChartSpec(
        spec.name,
        spec.title,
        spec.kind,
        tuple(labels),
        (Series("stock", tuple(values), "#d9a441"),),
        (),
        "stock en fin de semaine · jours de couverture",
    )


def _deliveries(figures: WeeklyFigures) -> ChartSpec:
    spec = ChartSpec("livraisons_hopitaux", "Livraisons de la semaine par hôpital", Kind.HORIZONTAL)
    hospitals = figures.hospitals
    week = hospitals[hospitals["delivered_week"] > 0] if not hospitals.empty else hospitals
    if week.empty:
        return spec
    top = week.sort_values("delivered_week", ascending=False).head(15)
    return ChartSpec(
        spec.name,
        spec.title,
        spec.kind,
        tuple(_short(str(h)) for h in top["hospital"]),
        (Series("livrées", _floats(top["delivered_week"]), "#5b8c5a"),),
        (),
        "visières livrées",
    )


def _floats(column: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in column)


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)
