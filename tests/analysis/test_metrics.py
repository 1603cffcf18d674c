"""The numpy metrics against scikit-learn as the reference (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from projects.analysis.metrics import (
    CLASSIFICATION_METRICS,
    HIGHER_IS_BETTER,
    METRIC_LABELS,
    REGRESSION_METRICS,
    MetricError,
    classification_metrics,
    compute_metrics,
    detect_task,
    regression_metrics,
)

# scikit-learn warns about undefined metrics in the edge cases we compare on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEEDS = range(12)


def close(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def reference_classification(y_true, y_pred, y_score=None, labels=None):
    """scikit-learn's numbers under the module's documented conventions."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    classes = np.unique(np.concatenate([y_true, y_pred]) if labels is None else labels)
    if classes.size <= 2:
        averaging = {"average": "binary", "pos_label": classes[-1]}
    else:
        averaging = {"average": "macro", "labels": classes}
    ref = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0, **averaging),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0, **averaging),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0, **averaging),
        "roc_auc": None,
        "log_loss": None,
    }
    if y_score is None:
        return ref
    y_score = np.asarray(y_score)
    if np.unique(y_true).size > 1:
        if classes.size <= 2:
            positive = y_score if y_score.ndim == 1 else y_score[:, 1]
            auc = skm.roc_auc_score(y_true == classes[-1], positive)
        else:
            auc = skm.roc_auc_score(
                y_true, y_score, multi_class="ovr", average="macro", labels=classes
            )
        ref["roc_auc"] = None if np.isnan(auc) else auc
    if y_score.min() >= 0 and y_score.max() <= 1:
        ref["log_loss"] = skm.log_loss(y_true, y_score, labels=classes)
    return ref


def assert_matches(ours, ref):
    assert set(ours) == set(CLASSIFICATION_METRICS)
    for name, expected in ref.items():
        if expected is None:
            assert ours[name] is None, name
        else:
            assert ours[name] == close(expected), name


def assert_regression_matches(y_true, y_pred):
    ours = regression_metrics(y_true, y_pred)
    assert set(ours) == set(REGRESSION_METRICS)
    assert ours["mae"] == close(skm.mean_absolute_error(y_true, y_pred))
    assert ours["rmse"] == close(skm.root_mean_squared_error(y_true, y_pred))
    assert ours["r2"] == close(skm.r2_score(y_true, y_pred))


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    # Fit on half so the predictions are not perfect on the rest.
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[::2], y[::2])
    return y, model.predict(X), model.predict_proba(X), model.decision_function(X)


def multiclass(loader):
    X, y = loader(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.05))
    model.fit(X[::3], y[::3])
    return y, model.predict(X), model.predict_proba(X)


# --- real data sets ---------------------------------------------------------------


def test_it_matches_sklearn_on_breast_cancer(breast_cancer):
    y, pred, proba, _ = breast_cancer
    assert_matches(
        classification_metrics(y, pred, proba[:, 1]), reference_classification(y, pred, proba[:, 1])
    )


def test_it_accepts_the_full_binary_probability_matrix(breast_cancer):
    y, pred, proba, _ = breast_cancer
    assert_matches(classification_metrics(y, pred, proba), reference_classification(y, pred, proba))


def test_it_takes_the_larger_text_label_as_positive(breast_cancer):
    y, pred, proba, _ = breast_cancer
    names = np.array(["benign", "malignant"])
    ours = classification_metrics(names[y], names[pred], proba[:, 1])
    assert_matches(ours, reference_classification(names[y], names[pred], proba[:, 1]))
    assert ours["recall"] == close(skm.recall_score(y, pred, pos_label=1))


def test_it_ranks_decision_margins_but_gives_no_log_loss_for_them(breast_cancer):
    y, pred, _, margins = breast_cancer
    ours = classification_metrics(y, pred, margins)
    assert ours["log_loss"] is None
    assert ours["roc_auc"] == close(skm.roc_auc_score(y, margins))


@pytest.mark.parametrize("loader", [load_iris, load_wine], ids=["iris", "wine"])
def test_it_matches_sklearn_on_multiclass_data(loader):
    y, pred, proba = multiclass(loader)
    ours = classification_metrics(y, pred, proba)
    assert ours["roc_auc"] is not None and ours["log_loss"] is not None
    assert_matches(ours, reference_classification(y, pred, proba))


def test_it_matches_sklearn_on_multiclass_text_labels():
    y, pred, proba = multiclass(load_wine)
    names = np.array(["barolo", "grignolino", "barbera"])
    # Columns follow sorted labels, so reorder them to the names' sorted order.
    order = np.argsort(names)
    proba = proba[:, order]
    ours = classification_metrics(names[y], names[pred], proba)
    assert_matches(ours, reference_classification(names[y], names[pred], proba))


def test_it_matches_sklearn_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    pred = LinearRegression().fit(X[::2], y[::2]).predict(X)
    assert_regression_matches(y, pred)


# --- generated data ---------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_sklearn_on_imbalanced_binary_with_tied_scores(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y_true = (rng.random(n) < rng.uniform(0.02, 0.3)).astype(int)
    y_true[:2] = [0, 1]
    # One decimal makes many ties; some scores are exactly 0 and 1 to test clipping.
    score = np.clip(np.round(0.4 * y_true + rng.random(n) * 0.8 - 0.1, 1), 0, 1)
    y_pred = (score >= rng.uniform(0.3, 0.7)).astype(int)
    assert_matches(
        classification_metrics(y_true, y_pred, score),
        reference_classification(y_true, y_pred, score),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_sklearn_on_multiclass_text_labels_with_ties(seed):
    rng = np.random.default_rng(seed)
    classes = np.array(["ant", "bee", "cat", "dog"])[: int(rng.integers(3, 5))]
    n = int(rng.integers(30, 300))
    y_true = classes[rng.integers(0, classes.size, n)]
    y_true[: classes.size] = classes
    y_pred = np.where(rng.random(n) < 0.6, y_true, classes[rng.integers(0, classes.size, n)])
    raw = np.round(rng.random((n, classes.size)), 1) + 0.05
    proba = raw / raw.sum(axis=1, keepdims=True)
    assert_matches(
        classification_metrics(y_true, y_pred, proba),
        reference_classification(y_true, y_pred, proba),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_sklearn_when_a_class_is_predicted_but_never_true(seed):
    rng = np.random.default_rng(seed)
    n = 60
    y_true = rng.integers(0, 3, n)
    y_true[:3] = [0, 1, 2]
    y_pred = y_true.copy()
    y_pred[rng.integers(0, n, 8)] = 3
    proba = rng.dirichlet(np.ones(4), n)
    ours = classification_metrics(y_true, y_pred, proba)
    assert_matches(ours, reference_classification(y_true, y_pred, proba))
    # Class 3 has no true rows, so its one-vs-rest AUC (and the macro mean) is undefined.
    assert ours["roc_auc"] is None
    assert ours["log_loss"] is not None


def test_it_matches_sklearn_on_a_binary_class_predicted_but_never_true():
    y_true = np.array([0, 0, 0, 0])
    y_pred = np.array([0, 1, 0, 1])
    ours = classification_metrics(y_true, y_pred, [0.1, 0.8, 0.3, 0.6])
    assert_matches(ours, reference_classification(y_true, y_pred, [0.1, 0.8, 0.3, 0.6]))
    assert ours["precision"] == 0.0 and ours["roc_auc"] is None


@pytest.mark.parametrize("seed", SEEDS)
def test_it_gives_perfect_scores_for_perfect_predictions(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 50)
    y_true[:2] = [0, 1]
    score = y_true.astype(float)
    ours = classification_metrics(y_true, y_true, score)
    assert_matches(ours, reference_classification(y_true, y_true, score))
    assert ours["accuracy"] == ours["f1"] == ours["roc_auc"] == 1.0
    assert ours["log_loss"] == close(-np.log(1 - np.finfo(float).eps))
    assert_regression_matches(score * 3.5, score * 3.5)


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_sklearn_on_generated_regressions(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(10, 5, int(rng.integers(2, 500)))
    assert_regression_matches(y_true, y_true + rng.normal(0, 2, y_true.size))


def test_it_follows_sklearns_force_finite_rule_for_constant_truth():
    y_true = np.full(10, 2.5)
    assert_regression_matches(y_true, y_true)
    assert_regression_matches(y_true, y_true + np.linspace(-1, 1, 10))
    assert regression_metrics(y_true, y_true)["r2"] == 1.0
    assert regression_metrics(y_true, y_true + 1)["r2"] == 0.0


def test_it_uses_labels_for_score_columns_of_classes_never_seen():
    y_true = np.array([0, 1, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    proba = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.5, 0.2], [0.2, 0.6, 0.2], [0.5, 0.3, 0.2]]
    )
    ours = classification_metrics(y_true, y_pred, proba, labels=[0, 1, 2])
    assert_matches(ours, reference_classification(y_true, y_pred, proba, labels=[0, 1, 2]))
    assert ours["log_loss"] == close(skm.log_loss(y_true, proba, labels=[0, 1, 2]))


def test_it_gives_no_roc_auc_or_log_loss_without_scores_or_with_one_class():
    assert classification_metrics([1, 0, 1], [1, 1, 1])["roc_auc"] is None
    only_one = classification_metrics(["a", "a"], ["a", "a"], [0.2, 0.9])
    assert only_one["roc_auc"] is None and only_one["log_loss"] is None
    assert only_one["accuracy"] == 1.0 and only_one["precision"] == 1.0


def test_it_matches_sklearn_on_a_million_rows():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 1_000_000)
    score = rng.random(y_true.size)
    ours = classification_metrics(y_true, (score > 0.5).astype(int), score)
    assert ours["roc_auc"] == close(skm.roc_auc_score(y_true, score))


def test_it_clips_log_loss_with_the_eps_of_the_score_dtype():
    y_true = np.array([0, 1, 1, 0, 1])
    score = np.array([0.0, 1.0, 0.0, 0.3, 0.9999999])
    for dtype in (np.float64, np.float32):
        ours = classification_metrics(y_true, y_true, score.astype(dtype))
        expected = skm.log_loss(y_true, score.astype(dtype))
        assert ours["log_loss"] == pytest.approx(
            expected, rel=1e-6 if dtype == np.float32 else 1e-9
        )


# --- dispatch, task detection, tables -----------------------------------------------


def test_it_dispatches_on_task():
    assert compute_metrics("regression", [1.0, 2.0], [1.0, 2.5]) == regression_metrics(
        [1.0, 2.0], [1.0, 2.5]
    )
    assert compute_metrics("classification", [0, 1], [0, 0]) == classification_metrics(
        [0, 1], [0, 0]
    )
    with pytest.raises(MetricError, match="Unknown task"):
        compute_metrics("ranking", [1], [1])


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, None], "classification"),
        (pd.Series(["x", "y"], dtype="category"), "classification"),
        ([0, 1, 1, 0, None], "classification"),
        (np.repeat(np.arange(5), 20), "classification"),
        (np.repeat(np.arange(5), 2), "regression"),
        (np.arange(25).repeat(10), "regression"),
        ([0.5, 1.5, 2.0], "regression"),
        (load_diabetes().target, "regression"),
        (load_iris().target, "classification"),
        (["1.5", "2.5"], "classification"),
    ],
)
def test_it_detects_the_task(values, task):
    assert detect_task(values) == task


def test_it_refuses_to_detect_a_task_without_values():
    with pytest.raises(MetricError, match="no values"):
        detect_task([None, np.nan])


def test_it_describes_every_metric():
    for name in CLASSIFICATION_METRICS + REGRESSION_METRICS:
        assert isinstance(HIGHER_IS_BETTER[name], bool)
        assert METRIC_LABELS[name]
    assert METRIC_LABELS["balanced_accuracy"] == "Balanced accuracy"
    assert METRIC_LABELS["roc_auc"] == "ROC AUC"
    assert HIGHER_IS_BETTER["log_loss"] is False


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: classification_metrics([0, np.nan], [0, 1]), "y_true has 1 missing value."),
        (lambda: classification_metrics(["a", None, None], ["a", "b", "a"]), "2 missing values"),
        (lambda: classification_metrics([0, 1], [0, 1], [0.2, np.nan]), "y_score has 1 missing"),
        (lambda: classification_metrics([0, 1, 1], [0, 1]), "same length"),
        (lambda: classification_metrics([0, 1], [0, 1], [0.2, 0.3, 0.4]), "same length"),
        (lambda: classification_metrics([], []), "y_true is empty"),
        (lambda: classification_metrics([0, 1], ["0", "1"]), "mix numbers and text"),
        (lambda: classification_metrics(np.array([0, "a"], dtype=object), [0, 0]), "mix kinds"),
        (lambda: classification_metrics([0, 1, 2], [0, 1, 2], [0.1, 0.2, 0.3]), "one column"),
        (lambda: classification_metrics([0, 1], [0, 1], np.ones((2, 3)) / 3), "labels"),
        (lambda: classification_metrics([0, 1], [0, 5], labels=[0, 1]), "not one of"),
        (lambda: regression_metrics([1.0, None], [1.0, 2.0]), "y_true has 1 missing value."),
        (lambda: regression_metrics([1.0, 2.0], [1.0, np.inf]), "infinite"),
        (lambda: regression_metrics(["a", "b"], [1.0, 2.0]), "must hold numbers"),
        (lambda: regression_metrics([], []), "empty"),
    ],
)
def test_it_refuses_bad_input_with_a_sentence(call, message):
    with pytest.raises(MetricError, match=message.replace(".", r"\.")):
        call()
