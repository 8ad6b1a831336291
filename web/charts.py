"""Bar charts as SVG, built from plain series: no script, no chart library, no I/O.

    svg = bar_chart(BarChart(chart_id="first-response", title="First response met",
                             labels=["16 Nov", "23 Nov"], values=[50.0, None],
                             unit="%", y_label="Met in time (%)", x_label="Week starting",
                             maximum=100))

The SVG is an image with a title and a description (`role="img"`, `aria-labelledby`) that
say what it shows, value by value; the page puts the title in a heading above it and the
same numbers in a table beside it.
A missing value (None) draws no bar and is labelled "no data". Elements are built with
ElementTree, so every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 24, 56
"""The plot area's margins: room for the y axis labels, the top value, the x labels."""
TICKS = 4
MAX_BAR_WIDTH = 72


@dataclass(frozen=True)
class BarChart:
    """What one chart shows: a value (or None) per label, on an axis from 0 to `maximum`
    (None: the largest value, rounded up to a readable number)."""

    chart_id: str
    title: str
    labels: Sequence[str]
    values: Sequence[float | None]
    unit: str = ""
    x_label: str = ""
    y_label: str = ""
    maximum: float | None = None


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    x: float
    y: float
    width: float
    height: float


def nice_maximum(largest: float) -> float:
    """The axis top for `largest`: 1, 2, 2.5 or 5 times a power of ten, at least `largest`
    (1 for nothing to show)."""
    if largest <= 0 or not math.isfinite(largest):
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 2.5, 5, 10):
        if largest <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def axis_maximum(chart: BarChart) -> float:
    """The value at the top of the chart's y axis."""
    if chart.maximum is not None:
        return chart.maximum
    return nice_maximum(max((v for v in chart.values if v is not None), default=0.0))


def count_maximum(largest: float) -> float:
    """An axis top for counts: a multiple of the ticks, so every tick is a whole number."""
    return float(max(TICKS, math.ceil(largest / TICKS) * TICKS))


def bars(chart: BarChart) -> list[Bar]:
    """Where each bar goes in the plot area (x, y from the top left; a bar of None or 0 has
    no height)."""
    top = axis_maximum(chart)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(chart.labels), 1)
    width = min(slot * 0.6, MAX_BAR_WIDTH)
    result = []
    for index, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        height = 0.0 if value is None else plot_height * min(max(value, 0.0), top) / top
        x = LEFT + index * slot + (slot - width) / 2
        result.append(Bar(label, value, round(x, 2), round(TOP + plot_height - height, 2),
                          round(width, 2), round(height, 2)))
    return result


def format_value(value: float | None, unit: str = "") -> str:
    """A value as the chart and its table show it: `92.5%`, `45 min`, `no data`."""
    if value is None:
        return "no data"
    number = f"{value:g}" if value == round(value, 1) else f"{value:.1f}"
    return f"{number}{unit}" if unit in ("%", "") else f"{number} {unit}"


def describe(chart: BarChart) -> str:
    """The chart in words: every label and its value."""
    values = "; ".join(f"{label}: {format_value(value, chart.unit)}"
                       for label, value in zip(chart.labels, chart.values, strict=True))
    return f"{chart.title}. {values or 'No data'}."


def _text(parent: ET.Element, x: float, y: float, content: str, **attributes: str) -> None:
    element = ET.SubElement(parent, "text", {"x": f"{x:g}", "y": f"{y:g}", **attributes})
    element.text = content


def bar_chart(chart: BarChart) -> str:
    """The chart as an SVG document (a string to put in a page as it is)."""
    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    svg = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {WIDTH} {HEIGHT}",
        "role": "img", "aria-labelledby": f"{title_id} {desc_id}", "class": "chart",
        "id": chart.chart_id})
    ET.SubElement(svg, "title", {"id": title_id}).text = chart.title
    ET.SubElement(svg, "desc", {"id": desc_id}).text = describe(chart)
    _axes(svg, chart)
    for bar in bars(chart):
        _bar(svg, bar, chart.unit)
    return ET.tostring(svg, encoding="unicode")


def _axes(svg: ET.Element, chart: BarChart) -> None:
    top, bottom = TOP, HEIGHT - BOTTOM
    maximum = axis_maximum(chart)
    for step in range(TICKS + 1):
        value = maximum * step / TICKS
        y = bottom - (bottom - top) * step / TICKS
        ET.SubElement(svg, "line", {"x1": f"{LEFT}", "x2": f"{WIDTH - RIGHT}", "y1": f"{y:g}",
                                    "y2": f"{y:g}", "class": "chart-grid"})
        _text(svg, LEFT - 8, y + 4, format_value(value, chart.unit if chart.unit == "%"
                                                 else ""), **{"text-anchor": "end",
                                                              "class": "chart-tick"})
    ET.SubElement(svg, "line", {"x1": f"{LEFT}", "x2": f"{LEFT}", "y1": f"{top}",
                                "y2": f"{bottom}", "class": "chart-axis"})
    if chart.y_label:
        _text(svg, 14, (top + bottom) / 2, chart.y_label, **{
            "text-anchor": "middle", "class": "chart-axis-label",
            "transform": f"rotate(-90 14 {(top + bottom) / 2:g})"})
    if chart.x_label:
        _text(svg, (LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, chart.x_label,
              **{"text-anchor": "middle", "class": "chart-axis-label"})


def _bar(svg: ET.Element, bar: Bar, unit: str) -> None:
    group = ET.SubElement(svg, "g", {"class": "chart-bar"})
    centre = bar.x + bar.width / 2
    if bar.value is not None:
        ET.SubElement(group, "rect", {"x": f"{bar.x:g}", "y": f"{bar.y:g}",
                                      "width": f"{bar.width:g}", "height": f"{bar.height:g}"})
    # The description and the table say "no data"; the chart shows a dash.
    shown = "–" if bar.value is None else format_value(bar.value, unit)
    _text(group, centre, bar.y - 6, shown, **{"text-anchor": "middle", "class": "chart-value"})
    _text(group, centre, HEIGHT - BOTTOM + 18, bar.label,
          **{"text-anchor": "middle", "class": "chart-label"})
