"""A rollout window's chart, computed and drawn without a database: buckets that keep what
a reader needs, targets where their numbers say, and words for those who cannot see it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deployments.analysis.charts import (
    MetricSeries,
    Target,
    chart_description,
    downsample,
    empty_series,
    window_chart_svg,
)

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
SVG = "{http://www.w3.org/2000/svg}"


def _times(count: int) -> np.ndarray:
    return START.timestamp() + np.arange(count) * (1800 / count)


def test_it_keeps_sparse_points_as_they_are():
    times, values = _times(40), np.linspace(10, 50, 40)
    series = downsample("latency_ms", times, values, start=START, end=END)
    assert series.times == pytest.approx(tuple(times))
    assert series.values == tuple(values) and series.lows == series.highs == tuple(values)
    assert series.counts == (1,) * 40 and not series.downsampled


def test_it_buckets_a_crowded_window_keeping_its_extremes():
    rng = np.random.default_rng(7)
    values = rng.normal(100, 10, 20_000)
    values[12_345] = 900.0  # one spike must survive the downsampling
    series = downsample("latency_ms", _times(20_000), values, start=START, end=END, max_points=500)
    assert len(series.values) == 500 and series.points == 20_000 and series.downsampled
    assert max(series.highs) == 900.0 and min(series.lows) == values.min()
    weighted = np.dot(series.values, series.counts) / series.points
    assert weighted == pytest.approx(values.mean())


def test_it_leaves_out_points_outside_the_window_and_values_that_are_not_numbers():
    times = [START.timestamp() - 1, START.timestamp(), END.timestamp() - 1, END.timestamp()]
    series = downsample("x", times, [1.0, 2.0, float("nan"), 4.0], start=START, end=END)
    assert series.values == (2.0,) and series.points == 1


def _target_y(svg: str, status: str) -> float:
    root = ET.fromstring(svg)
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == f"target {status}")
    line = group.find(f"{SVG}line")
    assert line.get("y1") == line.get("y2")
    return float(line.get("y1"))


def test_it_draws_each_target_where_its_threshold_lies():
    series = downsample("latency_ms", _times(60), np.full(60, 100.0), start=START, end=END)
    targets = [
        Target("p95 latency", "<=", 200, "ms", status="pass", observed=100.0),
        Target("p50 latency", "<=", 50, "ms", status="fail", observed=100.0),
    ]
    svg = window_chart_svg(
        series, targets, window_start=START, window_end=END, title="Latency", unit="ms"
    )
    y200, y50 = _target_y(svg, "pass"), _target_y(svg, "fail")
    # The axis runs from 0 upwards: 200 sits four times as far from the bottom as 50.
    axis = ET.fromstring(svg).find(f".//{SVG}line[@class='axis']")
    bottom = float(axis.get("y1")) - 0.5
    assert (bottom - y200) == pytest.approx(4 * (bottom - y50), abs=0.2)
    assert "p95 latency ≤ 200 ms (met)" in svg and "p50 latency ≤ 50 ms (missed)" in svg


def test_it_says_in_words_what_the_chart_shows():
    series = downsample("error_rate", _times(10), [0.0] * 9 + [0.02], start=START, end=END)
    target = Target("error rate", "<=", 0.01, "share", status="fail", observed=0.002)
    svg = window_chart_svg(
        series, [target], window_start=START, window_end=END, title="Error rate", unit="share"
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Error rate"
    desc = root.find(f"{SVG}desc").text
    assert desc == chart_description(
        series, [target], window_start=START, window_end=END, label="Error rate", unit="share"
    )
    assert desc.startswith("Error rate from 14:00 to 14:30 UTC on 2026-11-28: 10 points")
    assert "Target: error rate ≤ 0.01, missed (observed 0.002)." in desc


def test_it_shades_the_part_of_an_open_window_still_to_come():
    now = START + timedelta(minutes=10)
    series = downsample("latency_ms", _times(20)[:6], [40.0] * 6, start=START, end=END)
    svg = window_chart_svg(series, [], window_start=START, window_end=END, title="Latency", now=now)
    shade = ET.fromstring(svg).find(f".//{SVG}rect[@class='to-come']")
    plot = ET.fromstring(svg).find(f"{SVG}rect")
    left, right = float(plot.get("x")), float(plot.get("x")) + float(plot.get("width"))
    assert float(shade.get("x")) == pytest.approx(left + (right - left) / 3, abs=0.2)
    assert ">now<" in svg


def test_it_draws_an_empty_window_with_its_targets_and_says_so():
    svg = window_chart_svg(
        empty_series("throughput_qps"),
        [Target("throughput", ">=", 2.5, "requests/s")],
        window_start=START,
        window_end=END,
        title="Throughput <qps>",
    )
    ET.fromstring(svg)  # well formed, the title's markup escaped
    assert "No points in this window" in svg and 'class="target unjudged"' in svg
    assert "<title>Throughput &lt;qps&gt;</title>" in svg


def test_it_breaks_the_line_where_data_is_missing():
    times = np.concatenate([_times(1800)[:300], _times(1800)[1500:]])
    series = downsample("latency_ms", times, np.full(600, 50.0), start=START, end=END)
    svg = window_chart_svg(series, [], window_start=START, window_end=END, title="Latency")
    assert len(re.findall(r'<polyline class="series"', svg)) == 2


def test_it_refuses_a_window_without_its_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        downsample("x", [], [], start=START.replace(tzinfo=None), end=END)


def test_a_series_counts_its_points():
    series = MetricSeries("x", (1.0, 2.0), (3.0, 4.0), (3.0, 1.0), (3.0, 9.0), (1, 5))
    assert series.points == 6 and series.downsampled
