"""The report's charts drawn with reportlab's own graphics, as vector drawings in the PDF.

The PDF never imports matplotlib (a large share of a report's time): the same
:class:`~fabcoord.reports.charts.ChartSpec` is drawn here for the PDF and by
:mod:`fabcoord.reports.png_charts` for the PNG files.
"""

from __future__ import annotations

import math

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.units import cm

from fabcoord.reports import fmt
from fabcoord.reports.charts import NO_DATA, ChartSpec, Kind

WIDTH = 17.5 * cm
HEIGHT = WIDTH * 3.4 / 7.2
_LEGEND_WIDTH = 115.0
_GREY = colors.HexColor("#555555")


def drawing(chart: ChartSpec) -> Drawing:
    """The chart as a reportlab Drawing (a flowable the PDF places like an image)."""
    canvas = Drawing(WIDTH, HEIGHT)
    if chart.empty:
        canvas.add(String(WIDTH / 2, HEIGHT / 2, NO_DATA, textAnchor="middle", fontSize=12,
                          fillColor=_GREY))  # fmt: skip
    elif chart.kind is Kind.HORIZONTAL:
        _horizontal(canvas, chart)
    else:
        _vertical(canvas, chart)
    return canvas


def _vertical(canvas: Drawing, chart: ChartSpec) -> None:
    stacked = chart.kind is Kind.STACKED
    left, bottom, top_margin = 48.0, 36.0, 18.0
    width = WIDTH - left - _LEGEND_WIDTH - 8
    height = HEIGHT - bottom - top_margin
    if stacked:
        highest = max((sum(v) for v in zip(*(s.values for s in chart.bars), strict=True)), default=0.0)  # fmt: skip
    else:
        highest = max((v for s in chart.bars for v in s.values), default=0.0)
    highest = max([highest, *(v for s in chart.lines for v in s.values if not math.isnan(v))])
    ceiling = _ceiling(highest)
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = left, bottom, width, height
    bars.data = [list(s.values) for s in chart.bars]
    for index, series in enumerate(chart.bars):
        bars.bars[index].fillColor = colors.HexColor(series.color)
        bars.bars[index].strokeColor = None
    bars.categoryAxis.categoryNames = list(chart.categories)
    bars.categoryAxis.labels.fontSize = 7
    bars.categoryAxis.labels.boxAnchor = "n"
    if stacked:
        bars.categoryAxis.style = "stacked"
    bars.barSpacing = 0
    bars.groupSpacing = 6
    _value_axis(bars.valueAxis, ceiling)
    canvas.add(bars)
    if chart.lines:
        lines = HorizontalLineChart()
        lines.x, lines.y, lines.width, lines.height = left, bottom, width, height
        lines.data = [[None if math.isnan(v) else v for v in s.values] for s in chart.lines]
        for index, series in enumerate(chart.lines):
            lines.lines[index].strokeColor = colors.HexColor(series.color)
            lines.lines[index].strokeWidth = 1.5
            lines.lines[index].symbol = makeMarker("FilledCircle" if index == 0 else "FilledSquare", size=4)  # fmt: skip
            lines.lines[index].symbol.fillColor = colors.HexColor(series.color)
        lines.categoryAxis.categoryNames = list(chart.categories)
        lines.categoryAxis.visible = False
        lines.categoryAxis.labels.fontSize = 0.1
        _value_axis(lines.valueAxis, ceiling)
        lines.valueAxis.visible = False
        canvas.add(lines)
    canvas.add(String(left, HEIGHT - 10, chart.axis_label, fontSize=7, fillColor=_GREY))
    legend = Legend()
    legend.x, legend.y = WIDTH - _LEGEND_WIDTH, HEIGHT - top_margin
    legend.fontSize = 7
    legend.alignment = "right"
    legend.columnMaximum = 12
    legend.dx = legend.dy = 7
    legend.deltay = 10
    legend.colorNamePairs = [(colors.HexColor(s.color), s.label) for s in (*chart.bars, *chart.lines)]  # fmt: skip
    canvas.add(legend)


def _horizontal(canvas: Drawing, chart: ChartSpec) -> None:
    left, bottom, top_margin = WIDTH * 0.36, 30.0, 10.0
    series = chart.bars[0]
    bars = HorizontalBarChart()
    bars.x, bars.y = left, bottom
    bars.width, bars.height = WIDTH - left - 16, HEIGHT - bottom - top_margin
    bars.data = [list(series.values)]
    bars.bars[0].fillColor = colors.HexColor(series.color)
    bars.bars[0].strokeColor = None
    bars.categoryAxis.categoryNames = list(chart.categories)
    bars.categoryAxis.reverseDirection = True
    bars.categoryAxis.labels.fontSize = 7
    bars.categoryAxis.labels.boxAnchor = "e"
    bars.categoryAxis.labels.dx = -3
    _value_axis(bars.valueAxis, _ceiling(max(series.values, default=0.0)))
    canvas.add(bars)
    canvas.add(String(left + bars.width / 2, 4, chart.axis_label, textAnchor="middle", fontSize=7,
                      fillColor=_GREY))  # fmt: skip


def _value_axis(axis: object, ceiling: float) -> None:
    axis.valueMin = 0  # type: ignore[attr-defined]
    axis.valueMax = ceiling  # type: ignore[attr-defined]
    axis.valueStep = _step(ceiling)  # type: ignore[attr-defined]
    axis.labels.fontSize = 7  # type: ignore[attr-defined]
    axis.labelTextFormat = _tick  # type: ignore[attr-defined]


def _ceiling(highest: float) -> float:
    """A round top for the value axis, at or above ``highest``."""
    if highest <= 0 or math.isnan(highest):
        return 1.0
    step = _step(highest * 1.05)
    return math.ceil(highest * 1.05 / step) * step


def _step(span: float) -> float:
    """A tick step of 1, 2 or 5 × 10ⁿ giving four to ten ticks."""
    raw = span / 5
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _tick(value: float) -> str:
    return fmt.number(value, decimals=0 if float(value).is_integer() else 1)
