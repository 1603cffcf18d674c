"""The evaluation charts as SVG, their words, and metrics against the best baseline (no
database)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn import metrics as skm

from projects.analysis.curves import classification_curves, regression_curves
from projects.analysis.evaluation_charts import (
    WIDTH,
    drawn_threshold,
    evaluation_figures,
    threshold_text,
)
from projects.analysis.metrics import HIGHER_IS_BETTER
from projects.analysis.rigor import best_baseline_delta, comparison_deltas

SVG = "{http://www.w3.org/2000/svg}"


def _binary(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-rng.normal(loc=y * 1.2, scale=1.0)))
    return y, (score >= 0.5).astype(int), score


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}text"))


def test_it_draws_every_classification_chart_as_well_formed_scalable_svg():
    y, pred, score = _binary()
    figures = evaluation_figures(classification_curves(y, pred, score))
    assert [f["key"] for f in figures] == ["confusion", "roc", "pr", "calibration", "scores"]
    for figure in figures:
        root = _parse(figure["svg"])
        assert root.get("width") == "100%"
        assert root.get("viewBox").startswith(f"0 0 {WIDTH} ")
        assert root.get("role") == "img"
        assert root.get("aria-label") == figure["title"]
        assert root.find(f"{SVG}title").text == figure["title"]
        assert root.find(f"{SVG}desc").text == figure["summary"]
        assert "style=" not in figure["svg"]  # the page's policy allows no inline style
        for text in _texts(root):
            assert float(text.get("font-size").removesuffix("px")) >= 12, text.text


def test_it_keeps_rate_axes_on_zero_to_one():
    y, pred, score = _binary(1)
    for figure in evaluation_figures(classification_curves(y, pred, score)):
        if figure["key"] not in ("roc", "pr", "calibration"):
            continue
        ticks = [
            t.text
            for t in _texts(_parse(figure["svg"]))
            if t.get("fill") == "#57606a" and re.fullmatch(r"-?[\d.]+", t.text or "")
        ]
        assert sorted(set(ticks), key=float) == ["0", "0.2", "0.4", "0.6", "0.8", "1"]


def test_it_states_the_areas_scikit_learn_gives():
    y, pred, score = _binary(2)
    figures = {f["key"]: f for f in evaluation_figures(classification_curves(y, pred, score))}
    auc = f"{skm.roc_auc_score(y, score):.3f}"
    ap = f"{skm.average_precision_score(y, score):.3f}"
    assert f"AUC {auc}" in figures["roc"]["svg"] and auc in figures["roc"]["summary"]
    assert f"AP {ap}" in figures["pr"]["svg"] and ap in figures["pr"]["summary"]
    roc = _parse(figures["roc"]["svg"])
    assert roc.find(f".//{SVG}path[@class='curve']") is not None
    assert roc.find(f".//{SVG}line[@class='chance']") is not None
    # The uploaded labels' point, at their false and true positive rates.
    dot = roc.find(f".//{SVG}circle[@class='operating-point']")
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert f"FPR {fp / (fp + tn):.3f}, TPR {tp / (tp + fn):.3f}" in dot.find(f"{SVG}title").text


def test_it_writes_each_confusion_cell_with_its_count_and_row_share():
    y = np.array(["a"] * 6 + ["b"] * 4)
    pred = np.array(["a"] * 5 + ["b"] + ["b"] * 3 + ["a"])
    figures = evaluation_figures(classification_curves(y, pred))
    assert [f["key"] for f in figures] == ["confusion"]
    root = _parse(figures[0]["svg"])
    tips = [
        r.find(f"{SVG}title").text
        for r in root.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is not None
    ]
    matrix = skm.confusion_matrix(y, pred, labels=["a", "b"])
    assert tips == [
        "True a, predicted a: 5 rows, 83% of true a",
        "True a, predicted b: 1 row, 17% of true a",
        "True b, predicted a: 1 row, 25% of true b",
        "True b, predicted b: 3 rows, 75% of true b",
    ]
    assert matrix.tolist() == [[5, 1], [1, 3]]
    assert "8 of 10 rows on the diagonal (80%)" in figures[0]["summary"]


def test_it_shows_many_classes_without_squeezing_text_below_twelve_pixels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 15, 600)
    figures = evaluation_figures(classification_curves(y, rng.integers(0, 15, 600)))
    root = _parse(figures[0]["svg"])
    assert len([r for r in root.iter(f"{SVG}rect") if "cell" in (r.get("class") or "")]) == 225
    for text in _texts(root):
        assert float(text.get("font-size").removesuffix("px")) >= 12


def test_it_draws_the_regression_charts():
    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, 5000)
    pred = y + rng.normal(0, 5, 5000)
    figures = evaluation_figures(regression_curves(y, pred))
    assert [f["key"] for f in figures] == ["residuals", "residual-histogram"]
    scatter = _parse(figures[0]["svg"])
    assert len(list(scatter.iter(f"{SVG}circle"))) == 1000
    assert scatter.find(f".//{SVG}line[@class='zero-line']") is not None
    assert "1,000 of 5,000 rows" in figures[0]["summary"]
    bars = [r for r in _parse(figures[1]["svg"]).iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(bars) == np.count_nonzero(np.histogram(y - pred, bins=30)[0])


def test_it_draws_nothing_for_an_evaluation_without_curve_data():
    assert evaluation_figures({}) == []


def test_it_says_where_the_threshold_stands():
    y, pred, score = _binary(3)
    curves = classification_curves(y, pred, score)
    text = threshold_text(curves, "prediction")
    assert "No decision threshold is stored" in text and "column prediction" in text
    assert "score ≥ 0.5, the usual threshold" in text
    assert drawn_threshold(curves["operating"]) == 0.5

    at_seven = (score >= 0.7).astype(int)
    curves = classification_curves(y, at_seven, score)
    text = threshold_text(curves, "p")
    assert "not at 0.5" in text
    assert drawn_threshold(curves["operating"]) == pytest.approx(score[score >= 0.7].min())

    scrambled = np.random.default_rng(0).integers(0, 2, y.size)
    curves = classification_curves(y, scrambled, score)
    text = threshold_text(curves, "p")
    differ = int(np.count_nonzero((score >= 0.5) != (scrambled == 1)))
    assert "not one threshold" in text and f"{differ:,} rows differ" in text
    assert drawn_threshold(curves["operating"]) is None

    assert "without a score column" in threshold_text(classification_curves(y, pred), "p")


def test_it_compares_with_the_best_baseline_in_the_metrics_direction():
    baselines = [("majority", 0.60), ("logistic", 0.71), ("paper", 0.69)]
    delta = best_baseline_delta(
        metric="accuracy", value=0.75, baselines=baselines, higher_is_better=True
    )
    assert (delta.baseline, delta.verdict, delta.signed) == ("logistic", "better", "+0.0400")
    # Log loss: lower is better, so the lowest baseline is the best and a lower value wins.
    assert HIGHER_IS_BETTER["log_loss"] is False
    losses = [("majority", 0.69), ("logistic", 0.41)]
    delta = best_baseline_delta(
        metric="log_loss", value=0.45, baselines=losses, higher_is_better=False
    )
    assert (delta.baseline, delta.verdict, delta.signed) == ("logistic", "worse", "+0.0400")
    delta = best_baseline_delta(
        metric="log_loss", value=0.30, baselines=losses, higher_is_better=False
    )
    assert (delta.verdict, delta.signed) == ("better", "\u22120.110")
    assert best_baseline_delta(metric="r2", value=0.5, baselines=[], higher_is_better=True) is None
    level = best_baseline_delta(
        metric="mae", value=2.0, baselines=[("x", 2.0)], higher_is_better=False
    )
    assert (level.verdict, level.signed) == ("equal", "0")


def test_it_finds_the_model_and_its_baselines_in_comparison_rows():
    rows = [
        {
            "metric": "roc_auc",
            "higher_is_better": True,
            "entries": [
                {"label": "m 1", "kind": "model", "value": 0.8},
                {"label": "dummy", "kind": "trained", "value": 0.5},
                {"label": "paper", "kind": "baseline", "value": 0.83},
            ],
        },
        {
            "metric": "f1",
            "higher_is_better": True,
            "entries": [{"label": "m 1", "kind": "model", "value": 0.7}],
        },
    ]
    deltas = comparison_deltas(rows)
    assert list(deltas) == ["roc_auc"]
    assert deltas["roc_auc"].baseline == "paper" and deltas["roc_auc"].verdict == "worse"
    assert deltas["roc_auc"].difference == pytest.approx(-0.03)
