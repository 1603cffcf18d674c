"""Evaluation curve data against scikit-learn and numpy on the same data (no database)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning

from projects.analysis import curves
from projects.analysis.curves import (
    CALIBRATION_BINS,
    MAX_CURVE_POINTS,
    RESIDUAL_BINS,
    RESIDUAL_POINTS,
    SCORE_BINS,
    classification_curves,
    evaluation_curves,
    regression_curves,
    thin,
)

# scikit-learn warns about undefined curves in the edge cases compared on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEEDS = range(10)


def _binary(seed: int, n: int, *, ties: bool = False, probabilities: bool = True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.normal(loc=y * 0.9, scale=1.0)
    if probabilities:
        score = 1 / (1 + np.exp(-score))
    if ties:
        # Few distinct scores: many rows share each one.
        score = np.round(score, 1)
    pred = (score >= (0.5 if probabilities else 0.0)).astype(int)
    return y, pred, score


def _none_as_inf(values):
    return np.array([np.inf if v is None else v for v in values])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_it_matches_roc_curve_and_auc(seed, ties):
    y, pred, score = _binary(seed, 150, ties=ties)
    found = classification_curves(y, pred, score)["roc"]
    fpr, tpr, thresholds = skm.roc_curve(y, score)
    assert fpr.size <= MAX_CURVE_POINTS
    np.testing.assert_allclose(found["fpr"], fpr, atol=1e-12)
    np.testing.assert_allclose(found["tpr"], tpr, atol=1e-12)
    np.testing.assert_allclose(_none_as_inf(found["thresholds"]), thresholds)
    assert found["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_it_matches_precision_recall_curve_and_average_precision(seed, ties):
    y, pred, score = _binary(seed, 150, ties=ties)
    found = classification_curves(y, pred, score)["pr"]
    precision, recall, thresholds = skm.precision_recall_curve(y, score)
    assert precision.size <= MAX_CURVE_POINTS
    np.testing.assert_allclose(found["precision"], precision, atol=1e-12)
    np.testing.assert_allclose(found["recall"], recall, atol=1e-12)
    np.testing.assert_allclose(_none_as_inf(found["thresholds"]), np.r_[thresholds, np.inf])
    expected = skm.average_precision_score(y, score)
    assert found["average_precision"] == pytest.approx(expected, abs=1e-12)
    assert found["prevalence"] == pytest.approx(y.mean())


@pytest.mark.parametrize("seed", range(4))
def test_it_keeps_long_curves_bounded_and_exact_at_the_kept_points(seed):
    y, pred, score = _binary(seed, 20_000)
    found = classification_curves(y, pred, score)
    fpr, tpr, thresholds = skm.roc_curve(y, score)
    assert fpr.size > MAX_CURVE_POINTS  # the case under test
    roc = found["roc"]
    assert len(roc["fpr"]) <= MAX_CURVE_POINTS
    assert roc["points"] == fpr.size
    # Each kept point is the curve's own point at its threshold, ends included.
    kept = _none_as_inf(roc["thresholds"])
    index = {t: i for i, t in enumerate(thresholds)}
    at = np.array([index[t] for t in kept])
    np.testing.assert_allclose(roc["fpr"], fpr[at], atol=1e-12)
    np.testing.assert_allclose(roc["tpr"], tpr[at], atol=1e-12)
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    # The area is of the whole curve, not of the kept points.
    assert roc["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)

    pr = found["pr"]
    precision, recall, pr_thresholds = skm.precision_recall_curve(y, score)
    assert len(pr["precision"]) <= MAX_CURVE_POINTS
    pr_index = {t: i for i, t in enumerate(pr_thresholds)}
    at = [pr_index[t] for t in pr["thresholds"][:-1]]
    np.testing.assert_allclose(pr["precision"][:-1], precision[at], atol=1e-12)
    np.testing.assert_allclose(pr["recall"][:-1], recall[at], atol=1e-12)
    assert (pr["recall"][-1], pr["precision"][-1]) == (0.0, 1.0)
    expected = skm.average_precision_score(y, score)
    assert pr["average_precision"] == pytest.approx(expected, abs=1e-12)


def test_it_thins_to_the_limit_keeping_both_ends():
    xs = np.linspace(0, 1, 5000)
    ys = np.sqrt(xs)
    kept = thin(xs, ys, 50)
    assert kept.size <= 50
    assert kept[0] == 0 and kept[-1] == 4999
    assert np.all(np.diff(kept) > 0)
    np.testing.assert_array_equal(thin(xs[:30], ys[:30], 50), np.arange(30))


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_calibration_curve(seed):
    y, pred, score = _binary(seed, 300)
    found = classification_curves(y, pred, score)["calibration"]
    prob_true, prob_pred = calibration_curve(y, score, n_bins=CALIBRATION_BINS)
    np.testing.assert_allclose(found["fraction_positive"], prob_true, atol=1e-12)
    np.testing.assert_allclose(found["mean_predicted"], prob_pred, atol=1e-12)
    ids = np.searchsorted(np.linspace(0, 1, CALIBRATION_BINS + 1)[1:-1], score)
    counts = np.bincount(ids, minlength=CALIBRATION_BINS)
    assert found["counts"] == counts[counts > 0].tolist()
    assert sum(found["counts"]) == y.size


def test_it_has_no_reliability_curve_for_scores_outside_zero_and_one():
    y, pred, score = _binary(1, 200, probabilities=False)
    found = classification_curves(y, pred, score)
    assert found["calibration"] is None
    assert any("not probabilities" in note for note in found["notes"])
    # The other curves do not need probabilities.
    assert found["roc"]["auc"] == pytest.approx(skm.roc_auc_score(y, score))
    edges = np.histogram_bin_edges(score, bins=SCORE_BINS)
    np.testing.assert_allclose(found["score_histogram"]["edges"], edges)


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_numpy_histograms_of_scores_by_true_class(seed):
    y, pred, score = _binary(seed, 250, ties=seed % 2 == 0)
    found = classification_curves(y, pred, score)["score_histogram"]
    edges = np.linspace(0, 1, SCORE_BINS + 1)
    np.testing.assert_allclose(found["edges"], edges)
    for label, rows in (("0", y == 0), ("1", y == 1)):
        counts = np.histogram(score[rows], bins=edges)[0].tolist()
        assert next(c["counts"] for c in found["classes"] if c["label"] == label) == counts


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_confusion_matrix(seed):
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog", "emu", "fox"])
    y = labels[rng.integers(0, 4, 120)]
    pred = np.where(rng.random(120) < 0.6, y, labels[rng.integers(0, 3, 120)])
    found = classification_curves(y, pred)
    expected = skm.confusion_matrix(y, pred, labels=sorted(set(y) | set(pred)))
    assert found["confusion"] == expected.tolist()
    assert found["classes"] == sorted(set(y) | set(pred))
    assert found["roc"] is None and found["positive"] is None


def test_it_orders_binary_classes_with_the_positive_last():
    y = np.array([True, False, True, True, False])
    pred = np.array([True, True, False, True, False])
    score = np.array([0.9, 0.6, 0.3, 0.8, 0.1])
    found = classification_curves(y, pred, score)
    assert found["classes"] == ["False", "True"]
    assert found["positive"] == "True"
    assert found["confusion"] == skm.confusion_matrix(y, pred, labels=[False, True]).tolist()
    op = found["operating"]
    assert op["tpr"] == pytest.approx(skm.recall_score(y, pred))
    assert op["precision"] == pytest.approx(skm.precision_score(y, pred))
    tn, fp, _, _ = skm.confusion_matrix(y, pred).ravel()
    assert op["fpr"] == pytest.approx(fp / (fp + tn))


def test_it_leaves_roc_undefined_when_y_true_has_one_class():
    y = np.zeros(40, dtype=int)
    pred = np.r_[np.zeros(30, dtype=int), np.ones(10, dtype=int)]
    score = np.linspace(0, 1, 40)
    found = classification_curves(y, pred, score)
    with pytest.warns(UndefinedMetricWarning):
        _, tpr, _ = skm.roc_curve(y, score)
    assert np.isnan(tpr).all()  # scikit-learn's answer: undefined
    assert found["roc"] is None
    assert found["pr"] is None  # no positive row: recall is undefined
    assert found["confusion"] == skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    assert found["operating"]["tpr"] is None
    assert found["operating"]["fpr"] == pytest.approx(0.25)
    assert any("one class" in note for note in found["notes"])


def test_it_keeps_the_precision_recall_curve_without_negatives():
    y = np.ones(30, dtype=int)
    score = np.linspace(0.05, 0.95, 30)
    pred = (score >= 0.5).astype(int)
    found = classification_curves(y, pred, score)
    precision, recall, _ = skm.precision_recall_curve(y, score)
    assert found["roc"] is None
    np.testing.assert_allclose(found["pr"]["precision"], precision)
    np.testing.assert_allclose(found["pr"]["recall"], recall)
    assert found["pr"]["average_precision"] == pytest.approx(skm.average_precision_score(y, score))


def test_it_draws_no_curves_when_every_label_is_one_class():
    y = np.ones(10, dtype=int)
    found = classification_curves(y, y, np.linspace(0, 1, 10))
    assert found["confusion"] == [[10]]
    assert found["roc"] is None and found["pr"] is None and found["operating"] is None


def test_it_reads_the_threshold_the_labels_imply():
    score = np.array([0.1, 0.3, 0.45, 0.55, 0.7, 0.9])
    at_half = (score >= 0.5).astype(int)
    found = curves.implied_threshold(at_half == 1, score)
    assert found == {
        "consistent": True,
        "low": 0.45,
        "high": 0.55,
        "usual": True,
        "usual_value": 0.5,
    }
    at_six = (score >= 0.6).astype(int) == 1
    found = curves.implied_threshold(at_six, score)
    assert found["consistent"] and not found["usual"]
    assert (found["low"], found["high"]) == (0.55, 0.7)
    mixed = np.array([True, False, False, True, True, True])
    found = curves.implied_threshold(mixed, score)
    assert not found["consistent"]
    assert found["disagree_with_usual"] == int(np.count_nonzero((score >= 0.5) != mixed))
    everyone = curves.implied_threshold(np.ones(6, dtype=bool), score)
    assert everyone["consistent"] and everyone["low"] is None and everyone["high"] == 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_it_matches_numpy_on_residuals(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, 400)
    pred = y + rng.normal(0, 1, 400)
    found = regression_curves(y, pred)
    residual = y - pred
    counts, edges = np.histogram(residual, bins=RESIDUAL_BINS)
    assert found["residual_histogram"]["counts"] == counts.tolist()
    np.testing.assert_allclose(found["residual_histogram"]["edges"], edges)
    np.testing.assert_allclose(found["residuals"]["residual"], residual)
    np.testing.assert_allclose(found["residuals"]["predicted"], pred)
    assert not found["residuals"]["sampled"]
    assert found["residuals"]["mean"] == pytest.approx(residual.mean())


def test_it_samples_big_residual_plots_the_same_way_each_time_keeping_the_largest():
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 50_000)
    pred = y + rng.normal(0, 1, 50_000)
    first = regression_curves(y, pred)
    again = regression_curves(y.copy(), pred.copy())
    assert first == again
    shown = first["residuals"]
    assert len(shown["residual"]) == RESIDUAL_POINTS and shown["sampled"]
    residual = y - pred
    largest = np.sort(np.abs(residual))[-curves.RESIDUAL_EXTREMES :]
    assert set(largest.tolist()) <= {abs(r) for r in shown["residual"]}
    # Every shown point is a real row: its residual is its true value minus its prediction.
    pairs = set(zip(pred.tolist(), residual.tolist(), strict=True))
    assert all(p in pairs for p in zip(shown["predicted"], shown["residual"], strict=True))
    # The histogram still counts every row.
    assert sum(first["residual_histogram"]["counts"]) == 50_000


def test_it_is_json_ready_and_bounded():
    y, pred, score = _binary(5, 100_000)
    found = evaluation_curves("classification", y, pred, score)
    text = json.dumps(found, allow_nan=False)
    assert len(text) < 60_000
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 100_000)
    found = evaluation_curves("regression", y, y + rng.normal(0, 1, 100_000))
    assert len(json.dumps(found, allow_nan=False)) < 60_000
    with pytest.raises(ValueError):
        evaluation_curves("ranking", y, y)
