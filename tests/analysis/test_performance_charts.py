"""The performance chart: well-formed SVG that says in words what it draws."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from deployments.analysis.performance_charts import (
    PeriodPerformance,
    performance_chart_svg,
    performance_description,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
NS = {"svg": "http://www.w3.org/2000/svg"}


def _week(n: int, estimated: float, realized: float | None = None) -> PeriodPerformance:
    begin = START + timedelta(days=7 * n)
    return PeriodPerformance(
        start=begin.timestamp(),
        end=(begin + timedelta(days=7)).timestamp(),
        estimated=estimated,
        lower=estimated - 0.02,
        upper=estimated + 0.02,
        realized=realized,
        labelled=600 if realized is not None else 0,
    )


ARGS = {
    "metric": "roc_auc",
    "reference": 0.94,
    "limit": 0.89,
    "window_start": START,
    "window_end": START + timedelta(days=30),
}


def test_it_draws_estimates_realized_values_and_the_levels():
    weeks = [_week(0, 0.94, 0.938), _week(1, 0.945, 0.955), _week(2, 0.91, 0.92), _week(3, 0.866)]
    svg = performance_chart_svg(weeks, title="roc_auc per period", **ARGS)
    root = ET.fromstring(svg)
    assert root.find("svg:title", NS).text == "roc_auc per period"
    assert len(root.findall(".//svg:circle[@class='estimated']", NS)) == 4
    assert len(root.findall(".//svg:circle[@class='realized']", NS)) == 3
    assert root.find(".//svg:g[@class='limit']/svg:title", NS).text == "decay below 0.89"
    words = root.find("svg:desc", NS).text
    assert words == performance_description(weeks, **ARGS)
    assert "4 periods, 4 estimated from their scores, 3 with labels" in words
    assert "The newest estimate is 0.866 (band 0.846 to 0.886)" in words
    assert "The newest realized value is 0.92 over 600 labelled rows" in words


def test_without_periods_it_says_so():
    svg = performance_chart_svg([], title="t", **ARGS)
    assert "No production period in this window" in svg
    assert "no production period in this window" in ET.fromstring(svg).find("svg:desc", NS).text
