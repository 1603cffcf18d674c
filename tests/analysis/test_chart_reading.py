"""Charts people can read: no text under 12 px at the size a chart is drawn, no negative
tick on an axis of rates, two versions of one dataset never shortened alike, and metric
names in words (no database)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from audits.analysis.mitigation_charts import tradeoff_svg
from deployments.analysis.charts import Target, downsample, window_chart_svg
from projects.analysis.charts import (
    SMALL,
    ComparisonBar,
    IntervalBar,
    LineageNode,
    bars_svg,
    comparison_svg,
    histogram_svg,
    interval_bars_svg,
    lineage_svg,
    truncate_name,
)
from projects.analysis.metric_names import metric_name, metric_phrase, words

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


def _option(name: str, label: str, accuracy: float, dp: float, eo: float) -> dict:
    return {
        "name": name,
        "label": label,
        "accuracy": accuracy,
        "demographic_parity_difference": dp,
        "equalized_odds_difference": eo,
    }


def charts() -> dict[str, str]:
    """One of each chart the pages and packs draw, on ordinary data."""
    options = [
        _option("original", "As evaluated", 0.81, 0.12, 0.15),
        _option("demographic_parity", "Demographic parity", 0.79, 0.02, 0.09),
        _option("equalized_odds", "Equalized odds", 0.78, 0.05, 0.03),
    ]
    times = [START.timestamp() + 180.0 * m for m in range(10)]
    series = downsample("error_rate", times, [0.004] * 9 + [0.02], start=START, end=END)
    return {
        "histogram": histogram_svg([(0, 10, 3), (10, 20, 5)], title="Income"),
        "bars": bars_svg([("north", 40), ("south", 12)], title="Rows by region", flagged={"south"}),
        "comparison": comparison_svg(
            [ComparisonBar("Model", 0.8, std=0.02, kind="model"), ComparisonBar("Prior", 0.7)],
            metric_label="F1 score",
            higher_is_better=True,
        ),
        "interval": interval_bars_svg(
            [IntervalBar("F", 0.4, 0.35, 0.45), IntervalBar("M", 0.5, 0.44, 0.56, flagged=True)],
            title="Selection rate by sex",
            reference=0.6,
        ),
        "lineage": lineage_svg(
            [LineageNode("1", "loans v1", "sha256 abc"), LineageNode("2", "loans v2", "sha256 d")],
            [("1", "2")],
            current="2",
        ),
        "mitigation": tradeoff_svg({"features": [{"feature": "sex", "options": options}]}),
        "rollout window": window_chart_svg(
            series,
            [Target("error rate", "<=", 0.01, "share", status="fail", observed=0.02)],
            window_start=START,
            window_end=END,
            title="Error rate",
            unit="share",
        ),
    }


def _font_sizes(root: ET.Element) -> list[float]:
    sizes = []
    for text in root.iter(f"{SVG}text"):
        size = text.get("font-size")
        assert size, f"text {text.text!r} has no font size"
        sizes.append(float(size.removesuffix("px")))
    return sizes


@pytest.mark.parametrize("name", list(charts()))
def test_it_draws_no_text_under_12_px_at_the_charts_own_size(name):
    root = ET.fromstring(charts()[name])
    view_width = float(root.get("viewBox").split()[2])
    # Drawn at its own width (the page never stretches or shrinks it at 1280 px), one unit
    # of the drawing is one CSS pixel.
    scale = float(root.get("width")) / view_width
    sizes = _font_sizes(root)
    assert sizes, name
    assert min(sizes) * scale >= 12, (name, min(sizes), scale)
    assert SMALL == 12


def _tick_labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_it_shows_no_negative_tick_when_a_whisker_reaches_below_zero():
    # A rate of 0.05 with a standard deviation of 0.1: the whisker is cut at 0.
    svg = comparison_svg(
        [ComparisonBar("Model", 0.05, std=0.1, kind="model"), ComparisonBar("Prior", 0.3)],
        metric_label="Recall",
        higher_is_better=True,
    )
    labels = _tick_labels(svg)
    assert not [t for t in labels if re.fullmatch(r"[-\u2212]\d.*", t)], labels
    assert "0" in labels


def test_it_still_draws_negative_values_below_zero():
    svg = comparison_svg(
        [ComparisonBar("Model", -0.2, kind="model"), ComparisonBar("Prior", 0.3)],
        metric_label="R-squared",
        higher_is_better=True,
    )
    assert any(t.startswith(("-", "\u2212")) for t in _tick_labels(svg))


@pytest.mark.parametrize("accuracy", [0.0, 0.02, 0.5, 1.0])
def test_the_mitigation_axes_stay_within_zero_and_one(accuracy):
    options = [
        _option("original", "As evaluated", accuracy, 0.0, 0.0),
        _option("demographic_parity", "Demographic parity", accuracy, 0.0, 0.0),
    ]
    labels = _tick_labels(tradeoff_svg({"features": [{"feature": "sex", "options": options}]}))
    numbers = [float(t) for t in labels if re.fullmatch(r"-?\d+(\.\d+)?", t)]
    assert numbers and min(numbers) >= 0, labels


def test_it_keeps_the_version_of_a_long_dataset_name_in_the_lineage():
    long = "credit-applications-with-bureau-data-2026"
    nodes = [LineageNode(str(n), f"{long} v{n}", "sha256 x") for n in (11, 12)]
    root = ET.fromstring(lineage_svg(nodes, [("11", "12")], current="12"))
    shown = [
        t.text
        for g in root.iter(f"{SVG}g")
        if "node" in (g.get("class") or "")
        for t in g.iter(f"{SVG}text")
        if t.get("font-weight") == "bold"
    ]
    assert len(shown) == 2 and len(set(shown)) == 2, shown
    assert shown[0].endswith(" v11") and shown[1].endswith(" v12")
    assert truncate_name("short v1", 500, 12) == "short v1"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("ml_engineer", "ML engineer"),
        ("insufficient_evidence", "Insufficient evidence"),
        ("roc_auc", "ROC AUC"),
        ("business_owner", "Business owner"),
    ],
)
def test_it_writes_codes_as_words_with_acronyms_in_capitals(code, text):
    assert words(code) == text


def test_it_names_metrics_from_one_table():
    assert metric_name("selection_rate") == "Selection rate"
    assert metric_phrase("selection_rate") == "selection rate"
    assert metric_phrase("roc_auc") == "ROC AUC"
    assert metric_name("equalized_odds_difference") == "Equalized-odds difference"
    assert metric_name("some_custom_ml_metric") == "Some custom ML metric"
