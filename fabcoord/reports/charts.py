"""The report's charts, drawn with matplotlib (the only module that imports it) as PNG images.

The same images go into the PDF and, with ``--charts DIR``, into files a person can paste into an
e-mail or a slide. A chart with nothing to show says so instead of showing empty axes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fabcoord.reports.figures import WeeklyFigures
from fabcoord.reports.output import atomic_write

DPI = 110
SIZE = (7.2, 3.4)
TOP = 8
_DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
_PLAIN = {"left": 0.1, "right": 0.97, "top": 0.95, "bottom": 0.12}
_LEGEND = {"left": 0.1, "right": 0.78, "top": 0.95, "bottom": 0.16}
_LABELS = {"left": 0.36, "right": 0.97, "top": 0.95, "bottom": 0.15}
_DISPLAY = {"g": ("kg", 1000.0), "mm": ("m", 1000.0)}


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    png: bytes


def draw_all(figures: WeeklyFigures) -> dict[str, Chart]:
    """Every chart of the report, by file name stem."""
    charts = [
        ("production_quotidienne", "Production quotidienne par fablab (montures)", _daily, _LEGEND),
        ("carnet_vs_capacite", "Carnet de commandes et capacité, 8 semaines", _trend, _PLAIN),
        ("matieres", "Stock de matières et jours de couverture", _materials, _LABELS),
        ("livraisons_hopitaux", "Livraisons de la semaine par hôpital", _deliveries, _LABELS),
    ]
    return {
        name: Chart(name, title, _render(draw, figures, margins))
        for name, title, draw, margins in charts
    }


def save_png(charts: dict[str, Chart], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [atomic_write(folder / f"{chart.name}.png", chart.png) for chart in charts.values()]


def _render(draw: Any, figures: WeeklyFigures, margins: dict[str, float]) -> bytes:
    """One chart as PNG bytes (a bare Figure: no pyplot state, no layout solver)."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(**margins)
    if not draw(ax, figures):
        ax.set_axis_off()
        ax.text(0.5, 0.5, "Aucune donnée pour cette période", ha="center", va="center",
                fontsize=12, color="#555555", transform=ax.transAxes)  # fmt: skip
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _daily(ax: Any, figures: WeeklyFigures) -> bool:
    daily = figures.daily
    if daily.empty or daily["frames"].sum() == 0:
        return False
    table = daily.pivot_table(index="day", columns="fablab", values="frames", aggfunc="sum")
    table = table.reindex(figures.scope.week.days).fillna(0)
    order = table.sum().sort_values(ascending=False).index
    if len(order) > TOP:
        kept = list(order[: TOP - 1])
        table = table[kept].assign(autres=table[list(order[TOP - 1 :])].sum(axis=1))
    else:
        table = table[list(order)]
    labels = [f"{_DAYS[d.weekday()]}\n{d.day:02d}/{d.month:02d}" for d in table.index]
    bottom = [0.0] * len(table)
    for fablab in table.columns:
        values = list(table[fablab])
        ax.bar(labels, values, bottom=bottom, label=str(fablab))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("montures")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return True


def _trend(ax: Any, figures: WeeklyFigures) -> bool:
    trend = figures.trend
    has_backlog = trend["ordered_cumulative"].notna().any()
    has_capacity = trend["capacity"].notna().any()
    if trend["printed"].sum() == 0 and not has_backlog and not has_capacity:
        return False
    labels = [w.split("-")[1] for w in trend["week"]]
    ax.bar(labels, trend["printed"], color="#8fb3d9", label="montures imprimées")
    if has_capacity:
        ax.plot(labels, trend["capacity"], color="#2a7a2a", marker="o", label="capacité")
    if has_backlog:
        ax.plot(labels, trend["backlog"], color="#c0392b", marker="s", label="carnet (à livrer)")
    ax.set_ylabel("pièces")
    ax.legend(fontsize=7)
    return True


def _materials(ax: Any, figures: WeeklyFigures) -> bool:
    materials = figures.materials
    if materials.empty:
        return False
    labels, values = [], []
    for row in materials.itertuples():
        unit, factor = _DISPLAY.get(str(row.unit), (str(row.unit), 1.0))
        days = "—" if _missing(row.days_cover) else f"{row.days_cover:.0f} j"
        labels.append(f"{row.item} ({unit}) · {days}")
        values.append(float(row.stock) / factor)
    ax.barh(labels, values, color="#d9a441")
    ax.invert_yaxis()
    ax.set_xlabel("stock en fin de semaine · jours de couverture")
    return True


def _deliveries(ax: Any, figures: WeeklyFigures) -> bool:
    hospitals = figures.hospitals
    week = hospitals[hospitals["delivered_week"] > 0] if not hospitals.empty else hospitals
    if week.empty:
        return False
    top = week.sort_values("delivered_week", ascending=False).head(15)
    ax.barh([_short(h) for h in top["hospital"]], top["delivered_week"], color="#5b8c5a")
    ax.invert_yaxis()
    ax.set_xlabel("visières livrées")
    return True


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)
