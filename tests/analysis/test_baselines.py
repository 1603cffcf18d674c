"""Trained baselines against scikit-learn's own cross-validation (no database)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audits.analysis.baselines import (
    MODELS,
    BaselineError,
    BaselineResult,
    MetricSummary,
    ModelResult,
    run_baselines,
)
from projects.analysis.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

SEED = 7


def close(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def assert_folds_match(result: BaselineResult, reference: dict[str, dict[str, np.ndarray]]):
    assert [model.model for model in result.models] == list(MODELS)
    for model in result.models:
        for name, expected in reference[model.model].items():
            summary = model.metrics[name]
            assert list(summary.values) == close(list(expected)), (model.model, name)
            assert summary.mean == close(np.mean(expected)), (model.model, name)
            assert summary.std == close(np.std(expected)), (model.model, name)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def cancer_result(cancer) -> BaselineResult:
    return run_baselines(cancer, "target", folds=5, seed=SEED)


def test_it_matches_sklearn_cross_validation_on_breast_cancer(cancer, cancer_result):
    X, y = cancer.drop(columns="target"), cancer["target"]
    proba = {"response_method": "predict_proba"}
    scoring = {
        "accuracy": skm.make_scorer(skm.accuracy_score),
        "balanced_accuracy": skm.make_scorer(skm.balanced_accuracy_score),
        "precision": skm.make_scorer(skm.precision_score, pos_label=1, zero_division=0),
        "recall": skm.make_scorer(skm.recall_score, pos_label=1, zero_division=0),
        "f1": skm.make_scorer(skm.f1_score, pos_label=1, zero_division=0),
        "roc_auc": skm.make_scorer(skm.roc_auc_score, **proba),
        "log_loss": skm.make_scorer(skm.log_loss, labels=[0, 1], **proba),
    }
    estimators = {
        "dummy": DummyClassifier(strategy="prior"),
        "linear": make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000)
        ),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=SEED),
    }
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    reference = {}
    for model, estimator in estimators.items():
        scores = cross_validate(estimator, X, y, cv=cv, scoring=scoring)
        reference[model] = {name: scores[f"test_{name}"] for name in CLASSIFICATION_METRICS}
    assert cancer_result.task == "classification"
    assert_folds_match(cancer_result, reference)


def test_it_scores_the_dummy_at_the_majority_share(cancer, cancer_result):
    y = cancer["target"].to_numpy()
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    shares = [np.mean(y[test] == 1) for _, test in cv.split(y, y)]
    accuracy = cancer_result.models[0].metrics["accuracy"]
    assert list(accuracy.values) == close(shares)
    assert accuracy.mean == pytest.approx(np.mean(y == 1), abs=0.005)
    assert cancer_result.models[0].metrics["balanced_accuracy"].mean == 0.5


def test_it_reports_the_run(cancer, cancer_result):
    assert cancer_result.rows_total == cancer_result.rows_used == len(cancer)
    assert cancer_result.rows_dropped == 0 and not cancer_result.sampled
    assert cancer_result.features == tuple(c for c in cancer.columns if c != "target")
    assert cancer_result.class_counts == {0: 212, 1: 357}
    labels = [model.label for model in cancer_result.models]
    assert labels == ["Majority class", "Logistic regression", "Gradient-boosted trees"]
    assert all(model.fit_seconds > 0 for model in cancer_result.models)
    assert json.loads(json.dumps(cancer_result.to_dict(), allow_nan=False))["folds"] == 5


def test_it_matches_sklearn_cross_validation_on_diabetes():
    frame = load_diabetes(as_frame=True).frame
    result = run_baselines(frame, "target", folds=4, seed=SEED)
    X, y = frame.drop(columns="target"), frame["target"]
    scoring = {
        "mae": skm.make_scorer(skm.mean_absolute_error),
        "rmse": skm.make_scorer(skm.root_mean_squared_error),
        "r2": skm.make_scorer(skm.r2_score),
    }
    estimators = {
        "dummy": DummyRegressor(strategy="mean"),
        "linear": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge()),
        "gradient_boosting": HistGradientBoostingRegressor(random_state=SEED),
    }
    cv = KFold(n_splits=4, shuffle=True, random_state=SEED)
    reference = {}
    for model, estimator in estimators.items():
        scores = cross_validate(estimator, X, y, cv=cv, scoring=scoring)
        reference[model] = {name: scores[f"test_{name}"] for name in REGRESSION_METRICS}
    assert result.task == "regression" and result.class_counts is None
    assert [model.label for model in result.models][:2] == ["Mean", "Linear regression"]
    assert_folds_match(result, reference)


def test_it_lets_the_caller_choose_the_task(cancer):
    result = run_baselines(cancer.iloc[:120], "target", task="regression", folds=2)
    assert result.task == "regression"
    assert set(result.models[0].metrics) == set(REGRESSION_METRICS)


# --- sampling -----------------------------------------------------------------------


def imbalanced_frame(rows: int, shares: dict[str, float], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.repeat(list(shares), [round(rows * s) for s in shares.values()])
    rng.shuffle(labels)
    return pd.DataFrame({"x": rng.normal(size=labels.size) + (labels == "b"), "label": labels})


def test_it_samples_each_class_at_its_share_over_the_row_cap():
    shares = {"a": 0.61, "b": 0.297, "c": 0.093}
    frame = imbalanced_frame(3000, shares)
    result = run_baselines(frame, "label", folds=3, row_cap=500, seed=3)
    assert result.sampled and result.rows_used == 500 and result.rows_total == 3000
    assert sum(result.class_counts.values()) == 500
    for label, share in shares.items():
        assert abs(result.class_counts[label] - 500 * share) < 1


def test_it_keeps_a_rare_class_in_every_fold_when_sampling():
    frame = imbalanced_frame(4000, {"a": 0.999, "b": 0.001})
    result = run_baselines(frame, "label", folds=4, row_cap=200)
    assert result.class_counts == {"a": 196, "b": 4}


def test_it_samples_regression_rows_at_random():
    frame = load_diabetes(as_frame=True).frame
    result = run_baselines(frame, "target", folds=2, row_cap=150, seed=1)
    assert result.sampled and result.rows_used == 150 and result.rows_total == len(frame)


# --- progress and messy frames ------------------------------------------------------------


def test_it_reports_progress_after_every_model_and_fold():
    calls = []
    frame = imbalanced_frame(200, {"a": 0.5, "b": 0.5})
    run_baselines(frame, "label", folds=3, progress=lambda done, text: calls.append((done, text)))
    assert len(calls) == 3 * len(MODELS)
    fractions = [done for done, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert calls[0][1] == "Majority class, fold 1 of 3"
    assert calls[-1][1] == "Gradient-boosted trees, fold 3 of 3"


def test_it_runs_on_categorical_and_missing_values():
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "email": [f"person{i}@example.com" for i in range(n)],
            "age": np.where(rng.random(n) < 0.2, np.nan, rng.integers(18, 90, n)),
            "income": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(1, 9, n)), "Int64"),
            "city": rng.choice(np.array(["Oslo", "Lima", "Pune", None], dtype=object), n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "active": rng.random(n) < 0.5,
            "mixed": rng.choice(np.array([1, "two", 3.5], dtype=object), n),
            "signed_up": pd.date_range("2024-01-01", periods=n, freq="D"),
            "empty": np.full(n, np.nan),
            "churned": rng.choice(
                np.array(["yes", "no", None], dtype=object), n, p=[0.3, 0.6, 0.1]
            ),
        }
    )
    result = run_baselines(frame, "churned", folds=3, exclude=["customer_id", "email", "absent"])
    assert result.task == "classification"
    assert result.rows_dropped == int(frame["churned"].isna().sum()) > 0
    assert result.rows_used == n - result.rows_dropped
    assert result.features == ("age", "income", "city", "plan", "active", "mixed")
    assert result.dropped_columns == {"signed_up": "date or time column", "empty": "no values"}
    for model in result.models:
        for name in CLASSIFICATION_METRICS:
            assert math.isfinite(model.metrics[name].mean), (model.model, name)
    json.dumps(result.to_dict(), allow_nan=False)


def test_it_turns_nan_into_none_for_json():
    nan = float("nan")
    result = BaselineResult(
        task="regression",
        rows_total=3,
        rows_used=3,
        sampled=False,
        folds=2,
        seed=0,
        features=("x",),
        models=(
            ModelResult(
                model="dummy",
                label="Mean",
                metrics={"r2": MetricSummary(mean=nan, std=None, values=(nan, 1.0))},
                fit_seconds=0.1,
            ),
        ),
    )
    metric = result.to_dict()["models"][0]["metrics"]["r2"]
    assert metric == {"mean": None, "std": None, "values": [None, 1.0]}


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (
            pd.DataFrame({"x": [1, 2], "y": [0, 1]}),
            {"target": "label"},
            "no column named 'label'",
        ),
        (
            pd.DataFrame({"id": range(10), "y": [0, 1] * 5}),
            {"target": "y", "exclude": ["id"]},
            "No feature columns are left",
        ),
        (
            pd.DataFrame({"x": range(10), "y": ["a"] * 10}),
            {"target": "y"},
            "single class \\('a'\\)",
        ),
        (
            pd.DataFrame({"x": range(12), "y": ["a"] * 9 + ["b"] * 3}),
            {"target": "y", "folds": 5},
            "class 'b' of 'y' has only 3 rows, fewer than the 5 folds",
        ),
        (
            pd.DataFrame({"x": range(3), "y": [1.5, 2.5, 3.5]}),
            {"target": "y", "folds": 5},
            "Only 3 rows have a target value, fewer than the 5 folds",
        ),
        (
            pd.DataFrame({"x": range(10), "y": [None] * 10}),
            {"target": "y"},
            "has no values",
        ),
        (
            pd.DataFrame({"x": range(10), "y": list("abcdeabcde")}),
            {"target": "y", "task": "regression", "folds": 2},
            "does not hold numbers",
        ),
        (
            pd.DataFrame({"x": range(10), "y": np.linspace(0, 1, 10)}),
            {"target": "y", "task": "classification", "folds": 2},
            "fractional values",
        ),
        (
            pd.DataFrame({"x": range(10), "y": [0, 1] * 5}),
            {"target": "y", "folds": 1},
            "at least 2 folds",
        ),
        (
            pd.DataFrame({"x": range(10), "y": [0, 1] * 5}),
            {"target": "y", "task": "ranking"},
            "Unknown task",
        ),
    ],
)
def test_it_refuses_unusable_data_with_a_sentence(frame, kwargs, message):
    with pytest.raises(BaselineError, match=message):
        run_baselines(frame, **kwargs)
