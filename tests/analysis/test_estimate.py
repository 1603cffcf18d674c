"""Estimated performance (CBPE): realized metrics equal scikit-learn's, the expected
confusion matrix and ROC AUC equal their closed forms, the estimate follows the realized
value on calibrated scores under covariate shift, and bad input is refused plainly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.isotonic import IsotonicRegression

from deployments.analysis.estimate import (
    METRICS,
    EstimateError,
    estimate,
    estimated_roc_auc,
    expected_confusion_matrix,
    fit_calibration,
    fit_reference,
    realized,
)


def calibrated_sample(rng, rows: int, a: float, b: float):
    """Scores drawn from Beta(a, b) and labels drawn as Bernoulli(score): calibrated."""
    scores = rng.beta(a, b, rows)
    return scores, (rng.random(rows) < scores).astype(int)


def separable_reference(rows: int = 200):
    """Scores that rank perfectly (ROC AUC 1), so they are never calibrated."""
    labels = np.arange(rows) % 2
    scores = np.where(labels == 1, 0.7, 0.3) + np.linspace(-0.05, 0.05, rows)
    return scores, labels


# --- Realized -----------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_it_computes_realized_metrics_as_scikit_learn_does(threshold):
    rng = np.random.default_rng(3)
    scores, labels = calibrated_sample(rng, 5_000, 2, 3)
    result = realized(labels, scores, threshold=threshold)

    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(labels, predicted).ravel()
    assert (result.confusion_matrix.tp, result.confusion_matrix.fp) == (tp, fp)
    assert (result.confusion_matrix.tn, result.confusion_matrix.fn) == (tn, fn)
    expected = {
        "roc_auc": sk.roc_auc_score(labels, scores),
        "accuracy": sk.accuracy_score(labels, predicted),
        "precision": sk.precision_score(labels, predicted),
        "recall": sk.recall_score(labels, predicted),
        "specificity": sk.recall_score(labels, predicted, pos_label=0),
        "f1": sk.f1_score(labels, predicted),
    }
    assert result.values == pytest.approx(expected, rel=1e-12)


def test_it_takes_the_predicted_labels_as_given():
    rng = np.random.default_rng(4)
    scores, labels = calibrated_sample(rng, 1_000, 2, 2)
    predictions = rng.integers(0, 2, 1_000)  # not the scores' own: the labels are used
    result = realized(labels, scores, predictions=predictions)
    assert result.values["precision"] == pytest.approx(sk.precision_score(labels, predictions))
    assert result.values["f1"] == pytest.approx(sk.f1_score(labels, predictions))


def test_it_reads_an_undefined_realized_metric_as_nan():
    labels = np.array([0, 0, 0, 0])
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    result = realized(labels, scores, threshold=0.5)
    # No predicted positives and no positives: precision, recall, F1 and ROC AUC undefined.
    for metric in ("precision", "recall", "f1", "roc_auc"):
        assert math.isnan(result.values[metric]), metric
    assert math.isnan(sk.precision_score(labels, scores >= 0.5, zero_division=np.nan))
    assert result.values["accuracy"] == 1.0
    assert result.values["specificity"] == 1.0


# --- Closed forms ---------------------------------------------------------------------------


def test_it_expects_the_confusion_matrix_by_hand():
    probabilities = np.array([0.9, 0.2, 0.6, 0.4])
    predictions = np.array([1, 0, 1, 0])
    matrix = expected_confusion_matrix(probabilities, predictions)
    # Predicted positives add p to TP and 1 - p to FP; predicted negatives p to FN, 1 - p to TN.
    assert matrix.tp == pytest.approx(0.9 + 0.6)
    assert matrix.fp == pytest.approx(0.1 + 0.4)
    assert matrix.tn == pytest.approx(0.8 + 0.6)
    assert matrix.fn == pytest.approx(0.2 + 0.4)
    assert matrix.rows == pytest.approx(4)


def test_it_estimates_the_metrics_of_the_hand_example_without_calibration():
    reference = fit_reference(*separable_reference(), threshold=0.5)
    assert not reference.calibration.applied

    result = estimate(reference, np.array([0.9, 0.2, 0.6, 0.4]))
    assert not result.calibrated
    tp, fp, tn, fn = 1.5, 0.5, 1.4, 0.6
    assert result.values == pytest.approx(
        {
            "accuracy": (tp + tn) / 4,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
            # Ranked 0.9, 0.6, 0.4, 0.2: each row adds (1 - p) * (the p above it + p / 2).
            "roc_auc": (0.1 * 0.45 + 0.4 * (0.9 + 0.3) + 0.6 * (1.5 + 0.2) + 0.8 * (1.9 + 0.1))
            / (2.1 * 1.9),
        },
        rel=1e-9,
    )


def test_it_estimates_roc_auc_as_the_expected_pairwise_ranking():
    rng = np.random.default_rng(5)
    calibrated = rng.random(300)
    scores = rng.random(300)
    order = np.argsort(scores)[::-1]
    p = calibrated[order]
    above = np.r_[0, np.cumsum(p)[:-1]]
    closed = np.sum((1 - p) * (above + p / 2)) / (p.sum() * (1 - p).sum())
    # Only NannyML's rounding of the running sums to five decimals separates the two.
    assert estimated_roc_auc(calibrated, scores) == pytest.approx(closed, abs=1e-5)


def test_it_reads_an_accuracy_sampling_error_and_thresholds_off_the_reference():
    rng = np.random.default_rng(6)
    scores, labels = calibrated_sample(rng, 10_000, 2, 2)
    reference = fit_reference(scores, labels, chunk_size=1_000)
    predicted = (scores >= 0.5).astype(int)
    correct = (predicted == labels).astype(float)
    chunks = [
        sk.accuracy_score(labels[i : i + 1_000], predicted[i : i + 1_000])
        for i in range(0, 10_000, 1_000)
    ]

    result = estimate(reference, scores[:2_500]).metric("accuracy")
    assert result.sampling_error == pytest.approx(np.std(correct) / math.sqrt(2_500), rel=1e-9)
    assert result.upper_confidence == pytest.approx(result.value + 3 * result.sampling_error)
    assert (result.lower_threshold, result.upper_threshold) == pytest.approx(
        (np.mean(chunks) - 3 * np.std(chunks), np.mean(chunks) + 3 * np.std(chunks))
    )


@pytest.mark.parametrize(
    ("metric", "counted"),
    [
        ("precision", lambda y, p: p == 1),  # among predicted positives: right or not
        ("recall", lambda y, p: y == 1),  # among positives
        ("specificity", lambda y, p: y == 0),  # among negatives
    ],
)
def test_it_scales_a_share_metrics_sampling_error_by_the_rows_it_counts(metric, counted):
    rng = np.random.default_rng(7)
    scores, labels = calibrated_sample(rng, 10_000, 2, 3)
    reference = fit_reference(scores, labels)
    predicted = (scores >= 0.5).astype(int)
    rows = counted(labels, predicted)
    deviation = np.std((predicted == labels)[rows].astype(float))
    expected = deviation / math.sqrt(3_000 * rows.mean())
    result = estimate(reference, scores[:3_000]).metric(metric)
    assert result.sampling_error == pytest.approx(expected, rel=1e-9)


# --- Calibration ------------------------------------------------------------------------------


def test_it_calibrates_overconfident_scores_with_the_isotonic_map_of_the_reference():
    rng = np.random.default_rng(8)
    probabilities, labels = calibrated_sample(rng, 20_000, 2, 2)
    # Pushed towards 0 and 1: the ranking is kept, the probabilities are not.
    scores = 1 / (1 + np.exp(-3 * np.log(probabilities / (1 - probabilities))))
    calibration = fit_calibration(scores, labels)
    assert calibration.applied
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(scores, labels)
    fresh = np.r_[rng.random(1_000), 0.0, 1.0]
    assert calibration(fresh) == pytest.approx(isotonic.predict(fresh), abs=1e-12)


def test_it_leaves_scores_that_rank_perfectly_uncalibrated():
    scores, labels = separable_reference()
    assert not fit_calibration(scores, labels).applied


# --- The estimate against the realized value ---------------------------------------------------


def test_it_estimates_close_to_the_realized_value_on_calibrated_scores_after_a_shift():
    rng = np.random.default_rng(9)
    reference = fit_reference(*calibrated_sample(rng, 20_000, 2, 2))
    # Covariate shift: far more low scores than in the reference, the relation unchanged.
    scores, labels = calibrated_sample(rng, 200_000, 1, 3)

    result = estimate(reference, scores)
    truth = realized(labels, scores)
    for metric in METRICS:
        moved = abs(truth.values[metric] - reference.realized[metric])
        assert result.values[metric] == pytest.approx(truth.values[metric], abs=0.006), metric
        # The shift moved each metric by far more than the estimate misses it.
        assert moved > 0.02, metric
    assert any(item.alert for item in result.metrics)


# --- Bad input ---------------------------------------------------------------------------------


def test_it_refuses_inputs_of_different_lengths():
    reference = fit_reference(*separable_reference())
    with pytest.raises(EstimateError, match=r"one value per row.*probabilities 3, predictions 2"):
        estimate(reference, [0.1, 0.5, 0.9], predictions=[0, 1])
    with pytest.raises(EstimateError, match=r"reference needs one value per row.*labels 199"):
        fit_reference(np.full(200, 0.5), separable_reference()[1][:199])


@pytest.mark.parametrize("bad", [1.2, -0.1])
def test_it_refuses_probabilities_outside_zero_and_one(bad):
    reference = fit_reference(*separable_reference())
    with pytest.raises(
        EstimateError, match=rf"must lie in \[0, 1\]; 1 do not, the first {bad:g} at row 1"
    ):
        estimate(reference, [0.2, bad, 0.4])


def test_it_refuses_missing_probabilities_and_labels():
    scores, labels = separable_reference()
    reference = fit_reference(scores, labels)
    with pytest.raises(EstimateError, match=r"probabilities hold 1 missing \(NaN\) values"):
        estimate(reference, [0.2, math.nan, 0.4])
    labels = labels.astype(float)
    labels[3] = math.nan
    with pytest.raises(EstimateError, match="reference labels must be 0 or 1; 1 are not"):
        fit_reference(scores, labels)


def test_it_refuses_a_reference_of_a_single_class():
    scores = np.linspace(0.1, 0.9, 100)
    with pytest.raises(EstimateError, match=r"100 positive and 0 negative rows \(mostly label 1\)"):
        fit_reference(scores, np.ones(100))


def test_it_refuses_an_empty_period_and_a_tiny_reference():
    reference = fit_reference(*separable_reference())
    with pytest.raises(EstimateError, match="the production period has no rows"):
        estimate(reference, np.array([]))
    with pytest.raises(EstimateError, match="the reference has 10 rows; at least 20"):
        fit_reference(np.linspace(0.1, 0.9, 10), np.arange(10) % 2)


def test_it_refuses_labels_and_thresholds_it_cannot_use():
    scores, labels = separable_reference()
    with pytest.raises(
        EstimateError, match="reference labels must be 0 or 1; 1 are not, the first 2"
    ):
        fit_reference(scores, np.r_[labels[:-1], 2])
    with pytest.raises(EstimateError, match="not both"):
        fit_reference(scores, labels, predictions=labels, threshold=0.5)
    with pytest.raises(EstimateError, match=r"threshold must lie in \[0, 1\]; got 1.5"):
        fit_reference(scores, labels, threshold=1.5)
    fitted_on_labels = fit_reference(scores, labels, predictions=labels)
    with pytest.raises(EstimateError, match="give the period's predicted labels too"):
        estimate(fitted_on_labels, [0.2, 0.8])
