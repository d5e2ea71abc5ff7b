"""The report's charts as PNG files (``--charts DIR``), drawn with matplotlib: the only module that
imports it, and only when PNG files are asked for (the PDF draws its charts with reportlab)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fabcoord.reports.charts import NO_DATA, ChartSpec, Kind
from fabcoord.reports.output import all_or_nothing, atomic_write

DPI = 110
SIZE = (7.2, 3.4)
_MARGINS = {
    Kind.STACKED: {"left": 0.1, "right": 0.78, "top": 0.95, "bottom": 0.16},
    Kind.BARS_AND_LINES: {"left": 0.1, "right": 0.97, "top": 0.95, "bottom": 0.12},
    Kind.HORIZONTAL: {"left": 0.36, "right": 0.97, "top": 0.95, "bottom": 0.15},
}


def save_png(charts: list[ChartSpec], folder: Path) -> list[Path]:
    """Every chart as ``folder/<name>.png`` (all written, or none left behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    with all_or_nothing() as written:
        for chart in charts:
            written.append(atomic_write(folder / f"{chart.name}.png", render(chart)))
    return written


def render(chart: ChartSpec) -> bytes:
    """One chart as PNG bytes (a bare Figure: no pyplot state, no layout solver)."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(**_MARGINS[chart.kind])
    if chart.empty:
        ax.set_axis_off()
        ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=12, color="#555555",
                transform=ax.transAxes)  # fmt: skip
    elif chart.kind is Kind.HORIZONTAL:
        _horizontal(ax, chart)
    else:
        _vertical(ax, chart)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _vertical(ax: Any, chart: ChartSpec) -> None:
    labels = list(chart.categories)
    bottom = [0.0] * len(labels)
    stacked = chart.kind is Kind.STACKED
    for series in chart.bars:
        ax.bar(labels, series.values, bottom=bottom if stacked else None, label=series.label,
               color=series.color)  # fmt: skip
        if stacked:
            bottom = [b + v for b, v in zip(bottom, series.values, strict=True)]
    markers = iter("osd^v")
    for series in chart.lines:
        ax.plot(labels, series.values, color=series.color, marker=next(markers, "o"),
                label=series.label)  # fmt: skip
    ax.set_ylabel(chart.axis_label)
    ax.tick_params(axis="x", labelsize=8)
    if stacked:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.legend(fontsize=7)


def _horizontal(ax: Any, chart: ChartSpec) -> None:
    series = chart.bars[0]
    ax.barh(list(chart.categories), series.values, color=series.color)
    ax.invert_yaxis()
    ax.set_xlabel(chart.axis_label)
