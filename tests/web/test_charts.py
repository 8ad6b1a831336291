"""SVG bar charts by value: geometry, axis, labels and the text alternative."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from web.charts import (
    BOTTOM,
    HEIGHT,
    TOP,
    BarChart,
    axis_maximum,
    bar_chart,
    bars,
    count_maximum,
    describe,
    format_value,
    nice_maximum,
)

SVG = "{http://www.w3.org/2000/svg}"
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
ATTAINMENT = BarChart(chart_id="first", title="First response met in time",
                      labels=["16 Nov", "23 Nov", "30 Nov"], values=[50.0, 100.0, None],
                      unit="%", x_label="Week starting", y_label="Met in time", maximum=100)


@pytest.mark.parametrize("largest, expected", [
    (0, 1.0), (-3, 1.0), (0.4, 0.5), (1, 1.0), (7, 10.0), (12, 20.0), (21, 25.0),
    (45, 50.0), (50, 50.0), (51, 100.0), (240, 250.0), (1300, 2000.0),
    (float("inf"), 1.0),
])
def test_nice_maximum(largest, expected):
    assert nice_maximum(largest) == expected


@pytest.mark.parametrize("value, unit, expected", [
    (None, "%", "no data"), (50.0, "%", "50%"), (33.3, "%", "33.3%"), (12.25, "min", "12.2 min"),
    (45.0, "min", "45 min"), (0.0, "", "0"),
])
def test_format_value(value, unit, expected):
    assert format_value(value, unit) == expected


def test_bars_are_as_tall_as_their_share_of_the_axis():
    laid_out = bars(ATTAINMENT)
    assert [bar.height for bar in laid_out] == [PLOT_HEIGHT / 2, PLOT_HEIGHT, 0.0]
    assert [bar.y + bar.height for bar in laid_out] == [TOP + PLOT_HEIGHT] * 3
    assert laid_out[0].x < laid_out[1].x < laid_out[2].x
    assert len({bar.width for bar in laid_out}) == 1


@pytest.mark.parametrize("largest, expected", [(0, 4.0), (1, 4.0), (4, 4.0), (5, 8.0),
                                               (13, 16.0)])
def test_count_axes_have_whole_ticks(largest, expected):
    assert count_maximum(largest) == expected


def test_the_axis_fits_the_largest_value_unless_given():
    minutes = BarChart(chart_id="m", title="Median", labels=["a", "b"], values=[12.0, 45.0])
    assert axis_maximum(minutes) == 50.0
    assert [bar.height for bar in bars(minutes)] == [round(PLOT_HEIGHT * 12 / 50, 2),
                                                     round(PLOT_HEIGHT * 45 / 50, 2)]
    over = BarChart(chart_id="o", title="Over", labels=["a"], values=[150.0], maximum=100)
    assert bars(over)[0].height == PLOT_HEIGHT  # clipped to the axis


def test_svg_has_a_title_description_axis_labels_and_one_bar_per_value():
    svg = ET.fromstring(bar_chart(ATTAINMENT))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "first-title first-desc"
    assert svg.find(f"{SVG}title").text == "First response met in time"
    assert svg.find(f"{SVG}desc").text == (
        "First response met in time. 16 Nov: 50%; 23 Nov: 100%; 30 Nov: no data.")
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"Week starting", "Met in time", "0%", "50%", "100%", "16 Nov", "–"} <= set(
        texts)
    rects = list(svg.iter(f"{SVG}rect"))
    assert [float(r.get("height")) for r in rects] == [PLOT_HEIGHT / 2, PLOT_HEIGHT]


def test_text_is_escaped_and_an_empty_chart_says_so():
    chart = BarChart(chart_id="t", title="Breaches <by> team", labels=["R&D <script>"],
                     values=[2.0])
    text = bar_chart(chart)
    assert "<script>" not in text and "R&amp;D &lt;script&gt;" in text
    assert describe(BarChart(chart_id="e", title="Nothing", labels=[], values=[])) == (
        "Nothing. No data.")
    assert ET.fromstring(bar_chart(BarChart(chart_id="e", title="Nothing", labels=[],
                                            values=[]))).find(f"{SVG}rect") is None
