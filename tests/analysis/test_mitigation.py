"""Mitigation options against fairlearn's ThresholdOptimizer run directly (no database).

The Toronto arrests data (carData::Arrests, shipped in scikit-lego): a logistic regression
predicts release without colour or sex among its features. fairlearn's own pipeline, the
fitted model given to ``ThresholdOptimizer(prefit=True, predict_method="predict_proba")``,
must give exactly the figures and thresholds our run on the uploaded scores stores.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.postprocessing._threshold_operation import ThresholdOperation
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklego.datasets import load_arrests

from audits.analysis.fairness import AuditError
from audits.analysis.mitigation import (
    CONSTRAINTS,
    RANDOM_STATE,
    MitigationError,
    _operation,
    mitigation_columns,
    threshold_options,
)
from audits.analysis.mitigation_charts import tradeoff_svg

FEATURES = ("colour", "sex")
CONFIG = {"positive_label": "Yes"}


@pytest.fixture(scope="module")
def arrests():
    """The data, a fitted model, its scores and its own yes/no predictions."""
    data = load_arrests(as_frame=True)
    assert len(data) == 5226  # as carData documents it
    X = pd.get_dummies(data[["year", "age", "employed", "citizen", "checks"]], dtype=float)
    y = (data["released"] == "Yes").astype(int).to_numpy()
    model = LogisticRegression(max_iter=2000).fit(X, y)
    score = model.predict_proba(X)[:, 1]
    predicted = np.where(score >= 0.5, "Yes", "No")
    result = mitigation_columns(
        "classification",
        data["released"].to_numpy(dtype=object),
        predicted.astype(object),
        score,
        {f: data[f].to_numpy(dtype=object) for f in FEATURES},
        CONFIG,
    )
    pred = (score >= 0.5).astype(int)
    return {"data": data, "X": X, "y": y, "model": model, "pred": pred, "result": result}


def _fairlearn(arrests, feature: str, constraint: str):
    """ThresholdOptimizer as a fairlearn user runs it: on the fitted model itself."""
    optimizer = ThresholdOptimizer(
        estimator=arrests["model"],
        constraints=constraint,
        prefit=True,
        predict_method="predict_proba",
    )
    groups = arrests["data"][feature]
    optimizer.fit(arrests["X"], arrests["y"], sensitive_features=groups)
    predicted = optimizer.predict(
        arrests["X"], sensitive_features=groups, random_state=RANDOM_STATE
    )
    return optimizer, predicted


def _headline(y, predicted, groups) -> dict:
    return {
        "accuracy": accuracy_score(y, predicted),
        "demographic_parity_difference": demographic_parity_difference(
            y, predicted, sensitive_features=groups
        ),
        "equalized_odds_difference": equalized_odds_difference(
            y, predicted, sensitive_features=groups
        ),
        "selected": int(np.sum(predicted)),
    }


def _by_group(y, predicted, groups) -> pd.DataFrame:
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=y,
        y_pred=predicted,
        sensitive_features=groups,
    )
    return frame.by_group


@pytest.mark.parametrize("feature", FEATURES)
def test_the_figures_equal_thresholdoptimizer_run_directly(arrests, feature):
    stored = next(f for f in arrests["result"]["features"] if f["feature"] == feature)
    y, groups = arrests["y"], arrests["data"][feature]
    runs = {"original": (None, arrests["pred"])}
    runs |= {c: _fairlearn(arrests, feature, c) for c in CONSTRAINTS}
    assert [o["name"] for o in stored["options"]] == list(runs)
    for index, (name, (optimizer, predicted)) in enumerate(runs.items()):
        option = stored["options"][index]
        for key, expected in _headline(y, predicted, groups).items():
            assert option[key] == pytest.approx(expected, abs=1e-12), (feature, name, key)
        by_group = _by_group(y, predicted, groups)
        for row in stored["groups"]:
            outcome = row["outcomes"][index]
            assert outcome["option"] == name
            for metric in ("selection_rate", "true_positive_rate", "false_positive_rate"):
                expected = by_group.loc[row["group"], metric]
                assert outcome[metric] == pytest.approx(expected, abs=1e-12), (row, metric)
            if optimizer is None:
                assert outcome["rule"] is None
                continue
            fitted = optimizer.interpolated_thresholder_.interpolation_dict[row["group"]]
            rule = outcome["rule"]
            for i in (0, 1):
                operation = fitted[f"operation{i}"]
                assert rule["operations"][i]["probability"] == pytest.approx(fitted[f"p{i}"])
                assert rule["operations"][i]["operator"] == operation.operator
                assert rule["operations"][i]["threshold"] == pytest.approx(operation.threshold)
            if name == "equalized_odds":
                assert rule["p_ignore"] == pytest.approx(fitted["p_ignore"])
                assert rule["prediction_constant"] == pytest.approx(fitted["prediction_constant"])
            else:
                assert rule["p_ignore"] is None and rule["prediction_constant"] is None
    # The point of the exercise: each constraint narrows its own gap on this data.
    original, parity, odds = stored["options"]
    assert parity["demographic_parity_difference"] < original["demographic_parity_difference"]
    assert odds["equalized_odds_difference"] < original["equalized_odds_difference"]


def test_the_result_is_json_and_names_what_it_ran(arrests):
    result = arrests["result"]
    json.dumps(result, allow_nan=False)  # no NaN, no infinity, no numpy types
    assert result["positive_label"] == "Yes" and result["rows"] == 5226
    assert result["method"] == "fairlearn.postprocessing.ThresholdOptimizer"
    assert result["objective"] == "accuracy_score" and result["grid_size"] == 1000
    assert [g["group"] for g in result["features"][0]["groups"]] == ["Black", "White"]
    assert result["skipped"] == [] and result["notes"] == []


def test_it_gives_the_same_figures_every_time(arrests):
    data = arrests["data"]
    score = arrests["model"].predict_proba(arrests["X"])[:, 1]
    again = mitigation_columns(
        "classification",
        data["released"].to_numpy(dtype=object),
        np.where(score >= 0.5, "Yes", "No").astype(object),
        score,
        {f: data[f].to_numpy(dtype=object) for f in FEATURES},
        CONFIG,
    )
    assert again == arrests["result"]


def test_it_says_what_an_infinite_threshold_selects():
    assert _operation(1.0, ThresholdOperation(">", -np.inf)).to_dict() == {
        "probability": 1.0,
        "operator": ">",
        "threshold": None,
        "selects": "all",
    }
    assert _operation(0.5, ThresholdOperation(">", np.inf)).selects == "none"
    assert _operation(0.5, ThresholdOperation("<", np.inf)).selects == "all"
    assert _operation(0.5, ThresholdOperation("<", 0.3)).selects == "below"


# --- Bad input ---------------------------------------------------------------------------
def _small(rows: int = 200, seed: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    score = np.clip(0.35 * y + rng.random(rows) * 0.65, 0, 1)
    return y, (score > 0.5).astype(int), score, rng.choice(["a", "b"], rows)


def test_it_refuses_an_evaluation_without_scores():
    y, pred, _, group = _small()
    with pytest.raises(MitigationError, match="no scores"):
        threshold_options(y, pred, None, {"g": group}, positive_label=1)


def test_it_refuses_a_regression_evaluation():
    y, pred, score, group = _small()
    with pytest.raises(MitigationError, match="regression"):
        mitigation_columns("regression", y * 1.5, pred * 1.5, score, {"g": group}, {})


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (np.array(["high"] * 200, dtype=object), "must hold numbers"),
        (np.r_[np.full(199, 0.5), np.nan], "missing or infinite"),
        (np.r_[np.full(199, 0.5), np.inf], "missing or infinite"),
        (np.full(150, 0.5), "150 values but y_true has 200"),
    ],
)
def test_it_refuses_scores_it_cannot_threshold(scores, message):
    y, pred, _, group = _small()
    # MitigationError is an AuditError; a length mismatch is the audit's own check.
    with pytest.raises(AuditError, match=message):
        threshold_options(y, pred, scores, {"g": group}, positive_label=1)


def test_it_refuses_a_feature_with_one_group_only():
    y, pred, score, _ = _small()
    with pytest.raises(MitigationError, match="one group only"):
        threshold_options(y, pred, score, {"g": np.full(len(y), "a")}, positive_label=1)


def test_it_skips_a_feature_fairlearn_would_refuse_and_keeps_the_others():
    y, pred, score, group = _small()
    # Group "b" has no positives: fairlearn refuses it as "degenerate labels".
    y = np.where(group == "b", 0, y)
    other = np.where(np.arange(len(y)) % 2 == 0, "x", "y")
    result = threshold_options(y, pred, score, {"g": group, "h": other}, positive_label=1)
    assert [f.feature for f in result.features] == ["h"]
    assert result.skipped[0].feature == "g"
    assert "group 'b' has no positives" in result.skipped[0].reason
    with pytest.raises(MitigationError, match="group 'b' has no positives"):
        threshold_options(y, pred, score, {"g": group}, positive_label=1)


def test_it_refuses_predictions_outside_the_labels():
    y, pred, score, group = _small()
    with pytest.raises(AuditError, match="other than the two labels"):
        threshold_options(y, pred + 5, score, {"g": group}, positive_label=1)


def test_it_compares_the_positive_label_with_the_rest_for_several_classes():
    y, pred, score, group = _small()
    labels = np.array(["low", "mid", "high"], dtype=object)
    truth = np.where(y == 1, "high", labels[np.arange(len(y)) % 2])
    predicted = np.where(pred == 1, "high", "low")
    result = mitigation_columns(
        "classification", truth, predicted, score, {"g": group}, {"positive_label": "high"}
    )
    assert result["positive_label"] == "high"
    assert "3 classes" in result["notes"][0]


# --- The chart ---------------------------------------------------------------------------
def test_the_chart_draws_every_option_of_every_feature(arrests):
    svg = tradeoff_svg(arrests["result"])
    root = ET.fromstring(svg)  # well-formed
    ns = {"s": "http://www.w3.org/2000/svg"}
    points = root.findall(".//s:g", ns)
    # Two panels per feature, three options in each, and the legend's three.
    assert len([p for p in points if "point" in p.get("class", "")]) == 2 * 2 * 3 + 3
    description = root.find("s:desc", ns).text
    accuracy = arrests["result"]["features"][0]["options"][1]["accuracy"]
    assert f"{accuracy:.3g}" in description
    assert "<script" not in svg


def test_the_chart_of_nothing_says_no_data():
    assert "No data" in tradeoff_svg({})
