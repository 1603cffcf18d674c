"""Estimated performance of a binary classifier before its labels arrive, from its scores.

Plain Python (NumPy, scikit-learn), no Django. The method is confidence-based performance
estimation as NannyML's CBPE does it (0.13): a calibrated score ``p`` says the row is
positive with probability ``p``, so a predicted positive adds ``p`` to the expected true
positives and ``1 - p`` to the expected false positives, and a predicted negative adds
``p`` to the false negatives and ``1 - p`` to the true negatives. The metrics are read off
the expected confusion matrix:

- accuracy ``(TP + TN) / n``; precision ``TP / (TP + FP)``; recall ``TP / (TP + FN)``;
  specificity ``TN / (TN + FP)``; F1 ``TP / (TP + (FP + FN) / 2)``. An estimate whose
  denominator is zero reads 0, as NannyML's does.
- ROC AUC: the rows are sorted by their uncalibrated score, highest first; the running
  sums of the calibrated scores and of their complements are the expected true and false
  positives at each cut (rounded to five decimals, as NannyML rounds them), and the area
  under the curve they trace is the estimate.

The estimate holds only under two assumptions, which nothing here can check:

1. The calibrated scores are probabilities: among rows scored ``p``, a share ``p`` are
   positive.
2. No concept shift: the relation between the inputs and the outcome is the one seen in
   the reference data. Shifts in the inputs (covariate shift) are what the method is for;
   a changed meaning of the inputs makes the estimate wrong without any sign.

The scores are calibrated on the reference data (a period whose labels are known) exactly
when NannyML calibrates them: never when the reference ROC AUC exceeds 0.999; otherwise
ten stratified 90/10 splits (seed 42) fit an isotonic regression on each 90 % and
calibrate the 10 %, and the expected calibration error of the pooled held-out scores
(ten bins of equal count, by sorted score) is compared before and after. Calibration is
applied when it lowers that error; the map is then an isotonic regression fitted on the
whole reference, clipped at the ends of the reference scores.

Beside each estimate come, as in NannyML:

- the sampling error: a standard deviation measured on the reference (of the per-row
  contributions to the metric) divided by ``sqrt(n * share)``, where ``share`` is the
  reference's share of rows the metric counts (all rows for accuracy, predicted positives
  for precision, positives for recall and ROC AUC, negatives for specificity, rows other
  than true negatives for F1); ROC AUC's deviation comes from the Mann-Whitney form of the
  area;
- the confidence band: the estimate ± 3 sampling errors, within [0, 1];
- the thresholds: the mean ± 3 standard deviations of the realized metric over the
  reference's chunks (ten chunks of ``n // 10`` rows and the remainder, unless a chunk size
  is given), clipped to [0, 1]; the estimate alerts when it falls outside them.

Once labels arrive, :func:`realized` computes the same metrics from them (a metric whose
denominator is zero, or ROC AUC over a single class, is NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy.integrate import trapezoid
from scipy.interpolate import interp1d
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from .catalog import PERFORMANCE_METRICS as METRICS

DEFAULT_THRESHOLD = 0.5
#: The confidence band is this many sampling errors either side of the estimate.
SAMPLING_ERROR_RANGE = 3
#: The thresholds are this many standard deviations of the reference chunks either side.
THRESHOLD_DEVIATIONS = 3
#: The reference chunks when no chunk size is given (NannyML's default chunker).
DEFAULT_CHUNK_COUNT = 10
#: Calibration is never applied to scores that already rank this well.
CALIBRATION_SKIP_AUC = 0.999
CALIBRATION_SPLITS, CALIBRATION_TEST_SHARE, CALIBRATION_SEED, CALIBRATION_BINS = 10, 0.1, 42, 10
#: Ten splits of 10 % and two rows of each class are the least the calibration check needs.
MIN_REFERENCE_ROWS, MIN_CLASS_ROWS = 20, 2


class EstimateError(ValueError):
    """Scores, labels or predictions that cannot be used as given; one sentence for a person."""


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of a binary confusion matrix; expected counts (fractional) when estimated."""

    tp: float
    fp: float
    tn: float
    fn: float

    @property
    def rows(self) -> float:
        return self.tp + self.fp + self.tn + self.fn


@dataclass(frozen=True, eq=False)
class Calibration:
    """The isotonic map fitted on the reference (its knots), or none when not ``applied``."""

    applied: bool
    knots_x: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    knots_y: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if not self.applied:
            return scores
        # As IsotonicRegression(out_of_bounds="clip").predict: clip, then interpolate.
        clipped = np.clip(scores, self.knots_x[0], self.knots_x[-1])
        if len(self.knots_x) == 1:
            return np.full_like(clipped, self.knots_y[0])
        return interp1d(self.knots_x, self.knots_y, kind="linear")(clipped)


@dataclass(frozen=True, eq=False)
class Reference:
    """What the estimate needs from the reference period, fitted once by :func:`fit_reference`."""

    rows: int
    calibration: Calibration
    #: The threshold that made the predicted labels, or None when they were given.
    decision_threshold: float | None
    #: Per metric: the reference's standard deviation and share of counted rows.
    sampling_error_components: Mapping[str, tuple[float, float]]
    #: Per metric: the lower and upper alert thresholds.
    thresholds: Mapping[str, tuple[float, float]]
    #: Per metric: its realized value over the whole reference.
    realized: Mapping[str, float]
    chunk_size: int


@dataclass(frozen=True)
class MetricEstimate:
    metric: str
    value: float
    sampling_error: float
    lower_confidence: float
    upper_confidence: float
    lower_threshold: float
    upper_threshold: float
    alert: bool


@dataclass(frozen=True)
class Estimate:
    rows: int
    calibrated: bool
    confusion_matrix: ConfusionMatrix
    metrics: tuple[MetricEstimate, ...]

    def metric(self, name: str) -> MetricEstimate:
        for item in self.metrics:
            if item.metric == name:
                return item
        raise KeyError(name)

    @property
    def values(self) -> dict[str, float]:
        return {item.metric: item.value for item in self.metrics}


@dataclass(frozen=True)
class Realized:
    rows: int
    confusion_matrix: ConfusionMatrix
    values: Mapping[str, float]


# --- Input ------------------------------------------------------------------------------


def _vector(values: object, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise EstimateError(
            f"{name} must be one value per row; got an array of shape {array.shape}."
        )
    if array.dtype == bool:
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.number):
        raise EstimateError(f"{name} must be numbers; got values of type {array.dtype}.")
    return array.astype(np.float64)


def _probabilities(values: object, name: str) -> np.ndarray:
    array = _vector(values, name)
    missing = int(np.count_nonzero(np.isnan(array)))
    if missing:
        raise EstimateError(
            f"{name} hold {missing:,} missing (NaN) values; give a score for every row."
        )
    outside = np.flatnonzero((array < 0) | (array > 1))
    if outside.size:
        row = int(outside[0])
        raise EstimateError(
            f"{name} must lie in [0, 1]; {outside.size:,} do not,"
            f" the first {array[row]:g} at row {row}."
        )
    return array


def _binary(values: object, name: str) -> np.ndarray:
    array = _vector(values, name)
    wrong = np.flatnonzero((array != 0) & (array != 1))  # NaN is caught here too
    if wrong.size:
        row = int(wrong[0])
        raise EstimateError(
            f"{name} must be 0 or 1; {wrong.size:,} are not, the first {array[row]:g} at row {row}."
        )
    return array.astype(np.int64)


def _same_length(period: str, **arrays: np.ndarray) -> int:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} {length:,}" for name, length in lengths.items())
        raise EstimateError(f"the {period} needs one value per row in each input; got {listed}.")
    rows = next(iter(lengths.values()))
    if rows == 0:
        raise EstimateError(f"the {period} has no rows.")
    return rows


def _predicted(
    scores: np.ndarray, predictions: object | None, threshold: float | None
) -> tuple[np.ndarray, float | None]:
    """The predicted labels as given, or the scores at or above the threshold."""
    if predictions is not None:
        if threshold is not None:
            raise EstimateError("give the predicted labels or a decision threshold, not both.")
        return _binary(predictions, "predictions"), None
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not 0 <= threshold <= 1:
        raise EstimateError(f"the decision threshold must lie in [0, 1]; got {threshold:g}.")
    return (scores >= threshold).astype(np.int64), threshold


# --- Metrics from a confusion matrix ----------------------------------------------------


def expected_confusion_matrix(
    probabilities: np.ndarray, predictions: np.ndarray
) -> ConfusionMatrix:
    """The expected counts when each row is positive with its (calibrated) probability."""
    p, positive = probabilities, predictions == 1
    # np.where over every row, as NannyML sums them, so the sums round alike.
    return ConfusionMatrix(
        tp=float(np.sum(np.where(positive, p, 0))),
        fp=float(np.sum(np.where(positive, 1 - p, 0))),
        tn=float(np.sum(np.where(~positive, 1 - p, 0))),
        fn=float(np.sum(np.where(~positive, p, 0))),
    )


def _ratio(numerator: float, denominator: float, undefined: float) -> float:
    return numerator / denominator if denominator != 0 else undefined


def _matrix_metrics(matrix: ConfusionMatrix, rows: int, undefined: float) -> dict[str, float]:
    tp, fp, tn, fn = matrix.tp, matrix.fp, matrix.tn, matrix.fn
    return {
        "accuracy": (tp + tn) / rows,
        "precision": _ratio(tp, tp + fp, undefined),
        "recall": _ratio(tp, tp + fn, undefined),
        "specificity": _ratio(tn, tn + fp, undefined),
        "f1": _ratio(tp, tp + 0.5 * (fp + fn), undefined),
    }


def estimated_roc_auc(calibrated: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as NannyML estimates it: expected TP and FP at each cut of the sorted scores."""
    order = np.argsort(scores)[::-1]
    ranked = calibrated[order]
    tps = np.round(np.r_[0, np.cumsum(ranked)], 5)
    fps = np.round(np.r_[0, 1 + np.arange(len(ranked)) - np.cumsum(ranked)], 5)
    if tps[-1] == 0 or fps[-1] == 0:
        return math.nan  # every row surely negative (or positive): no curve to trace
    return float(trapezoid(tps / tps[-1], fps / fps[-1]))  # as scikit-learn's auc


# --- Realized ---------------------------------------------------------------------------


def _counts(labels: np.ndarray, predictions: np.ndarray) -> ConfusionMatrix:
    positive, predicted = labels == 1, predictions == 1
    return ConfusionMatrix(
        tp=int(np.count_nonzero(positive & predicted)),
        fp=int(np.count_nonzero(~positive & predicted)),
        tn=int(np.count_nonzero(~positive & ~predicted)),
        fn=int(np.count_nonzero(positive & ~predicted)),
    )


def _realized_values(labels: np.ndarray, scores: np.ndarray, predictions: np.ndarray) -> dict:
    matrix = _counts(labels, predictions)
    values = _matrix_metrics(matrix, len(labels), undefined=math.nan)
    both = 0 < matrix.tp + matrix.fn < len(labels)
    values["roc_auc"] = float(roc_auc_score(labels, scores)) if both else math.nan
    return {"confusion_matrix": matrix, **{m: values[m] for m in METRICS}}


def realized(
    labels: object,
    probabilities: object,
    *,
    predictions: object | None = None,
    threshold: float | None = None,
) -> Realized:
    """The metrics from the labels, once they arrive: ROC AUC over the scores as given."""
    y = _binary(labels, "labels")
    scores = _probabilities(probabilities, "probabilities")
    predicted, _ = _predicted(scores, predictions, threshold)
    rows = _same_length("period", labels=y, probabilities=scores, predictions=predicted)
    values = _realized_values(y, scores, predicted)
    return Realized(rows=rows, confusion_matrix=values.pop("confusion_matrix"), values=values)


# --- Reference: calibration, sampling error, thresholds ---------------------------------


def _calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int) -> float:
    """Expected calibration error over bins of equal count (NannyML's edges)."""
    n = len(scores)
    if n <= 2 * bins:
        bins = n // 2
    width = n // bins
    edges = np.asarray(range(0, n + 1, width))
    edges[-1] = n
    order = scores.argsort()  # NannyML's (unstable) sort, so tied scores bin alike
    scores, labels = scores[order], labels[order]
    terms = [
        (right - left) / n * abs(np.mean(scores[left:right]) - np.mean(labels[left:right]))
        for left, right in pairwise(edges)
    ]
    return float(np.sum(terms))


def _isotonic() -> IsotonicRegression:
    return IsotonicRegression(out_of_bounds="clip", increasing=True)


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    """Calibrate on the reference when, and as, NannyML does (see the module's docstring)."""
    if roc_auc_score(labels, scores) > CALIBRATION_SKIP_AUC:
        return Calibration(applied=False)
    splits = StratifiedShuffleSplit(
        n_splits=CALIBRATION_SPLITS, test_size=CALIBRATION_TEST_SHARE, random_state=CALIBRATION_SEED
    )
    held_labels, held_scores, held_calibrated = [], [], []
    for train, test in splits.split(scores, labels):
        regression = _isotonic().fit(scores[train], labels[train])
        held_labels.append(labels[test])
        held_scores.append(scores[test])
        held_calibrated.append(regression.predict(scores[test]))
    pooled = np.concatenate(held_labels)
    before = _calibration_error(pooled, np.concatenate(held_scores), CALIBRATION_BINS)
    after = _calibration_error(pooled, np.concatenate(held_calibrated), CALIBRATION_BINS)
    if not before > after:
        return Calibration(applied=False)
    regression = _isotonic().fit(scores, labels)
    return Calibration(
        applied=True, knots_x=regression.X_thresholds_, knots_y=regression.y_thresholds_
    )


def _std_share(ones: int, zeros: int, rows: int, scale: float = 1.0) -> tuple[float, float]:
    """Standard deviation of ``ones`` 1s and ``zeros`` 0s (times ``scale``), and their share."""
    counted = ones + zeros
    if counted == 0:
        return math.nan, 0.0
    share = ones / counted
    return scale * math.sqrt(share * (1 - share)), counted / rows


def _roc_auc_components(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The spread of each positive's share of negatives ranked below it (Mann-Whitney)."""
    if np.mean(labels) > 0.5:  # measured on the smaller class, as NannyML does
        labels, scores = 1 - labels, 1 - scores
    order = np.argsort(scores)
    ranked = labels[order]
    # As NannyML: positions of positives, with a positive at position 0 dropped by np.unique.
    positions = np.unique(ranked * np.arange(len(ranked)))[1:]
    below = positions - np.arange(len(positions))
    positives = int(ranked.sum())
    negatives = len(ranked) - positives
    return float(np.std(below / negatives)), positives / len(ranked)


def _sampling_error_components(
    labels: np.ndarray, scores: np.ndarray, predictions: np.ndarray
) -> dict[str, tuple[float, float]]:
    m, rows = _counts(labels, predictions), len(labels)
    tp, fp, tn, fn = int(m.tp), int(m.fp), int(m.tn), int(m.fn)
    f1_rows = tp + fp + fn
    # F1's per-row contributions are scaled so their mean is the reference F1.
    f1_scale = f1_rows / ((fn + fp) * 0.5 + tp) if f1_rows else 1.0
    std_f1, share_f1 = _std_share(tp, fp + fn, rows, f1_scale)
    return {
        "roc_auc": _roc_auc_components(labels, scores),
        "accuracy": (_std_share(tp + tn, fp + fn, rows)[0], 1.0),
        "precision": (_std_share(tp, fp, rows)[0], (tp + fp) / rows),
        "recall": (_std_share(tp, fn, rows)[0], (tp + fn) / rows),
        "specificity": _std_share(tn, fp, rows),
        "f1": (std_f1, share_f1),
    }


def _chunk_value(metric: str, values: dict) -> float:
    """A reference chunk's realized value, NaN where NannyML leaves it out of the thresholds."""
    if metric in ("precision", "recall", "f1"):
        # NannyML skips chunks holding a single class of labels or of predictions.
        m = values["confusion_matrix"]
        one_label = m.tp + m.fn in (0, m.rows)
        one_prediction = m.tp + m.fp in (0, m.rows)
        if one_label or one_prediction:
            return math.nan
    return values[metric]


def _thresholds(chunk_values: np.ndarray) -> tuple[float, float]:
    if np.all(np.isnan(chunk_values)):
        return math.nan, math.nan
    centre, spread = float(np.nanmean(chunk_values)), float(np.nanstd(chunk_values))
    lower = centre - THRESHOLD_DEVIATIONS * spread
    upper = centre + THRESHOLD_DEVIATIONS * spread
    return max(lower, 0.0), min(upper, 1.0)


def fit_reference(
    probabilities: object,
    labels: object,
    *,
    predictions: object | None = None,
    threshold: float | None = None,
    chunk_size: int | None = None,
) -> Reference:
    """Fit on the reference period: calibration, sampling-error components and thresholds.

    ``predictions`` are the model's predicted labels; without them a row is predicted
    positive when its (uncalibrated) score is at or above ``threshold`` (0.5 by default).
    ``chunk_size`` splits the reference for the thresholds (by default into ten).
    """
    scores = _probabilities(probabilities, "reference probabilities")
    y = _binary(labels, "reference labels")
    predicted, decision_threshold = _predicted(scores, predictions, threshold)
    rows = _same_length("reference", labels=y, probabilities=scores, predictions=predicted)
    positives = int(y.sum())
    if min(positives, rows - positives) < MIN_CLASS_ROWS:
        only = "label 1" if positives > rows - positives else "label 0"
        raise EstimateError(
            f"the reference holds {positives:,} positive and {rows - positives:,} negative rows"
            f" (mostly {only}); calibration and ROC AUC need at least {MIN_CLASS_ROWS} of each."
        )
    if rows < MIN_REFERENCE_ROWS:
        raise EstimateError(
            f"the reference has {rows} rows; at least {MIN_REFERENCE_ROWS} are needed to decide"
            " on calibration."
        )
    size = rows // DEFAULT_CHUNK_COUNT if chunk_size is None else int(chunk_size)
    if not 1 <= size <= rows:
        raise EstimateError(f"the chunk size must be between 1 and {rows:,} rows; got {size:,}.")

    # The thresholds and sampling errors read the uncalibrated scores, as NannyML's do:
    # it measures them on the reference before it decides on calibration.
    # Chunks of ``size`` rows and the remainder, as NannyML's size-based chunker keeps it.
    chunks = [
        _realized_values(*(a[start : start + size] for a in (y, scores, predicted)))
        for start in range(0, rows, size)
    ]
    bounds = {
        metric: _thresholds(np.array([_chunk_value(metric, chunk) for chunk in chunks]))
        for metric in METRICS
    }
    whole = _realized_values(y, scores, predicted)
    return Reference(
        rows=rows,
        calibration=fit_calibration(scores, y),
        decision_threshold=decision_threshold,
        sampling_error_components=_sampling_error_components(y, scores, predicted),
        thresholds=bounds,
        realized={metric: whole[metric] for metric in METRICS},
        chunk_size=size,
    )


# --- Estimate ---------------------------------------------------------------------------


def estimate(
    reference: Reference, probabilities: object, *, predictions: object | None = None
) -> Estimate:
    """Estimate a production period's confusion matrix and metrics from its scores.

    ``predictions`` are the period's predicted labels; when the reference was fitted with
    a decision threshold instead, they may be left out and the threshold applies.
    """
    scores = _probabilities(probabilities, "probabilities")
    if predictions is None and reference.decision_threshold is None:
        raise EstimateError(
            "the reference was fitted on predicted labels; give the period's predicted labels too."
        )
    threshold = reference.decision_threshold if predictions is None else None
    predicted, _ = _predicted(scores, predictions, threshold)
    rows = _same_length("production period", probabilities=scores, predictions=predicted)

    calibrated = reference.calibration(scores)
    matrix = expected_confusion_matrix(calibrated, predicted)
    values = _matrix_metrics(matrix, rows, undefined=0.0)
    values["roc_auc"] = estimated_roc_auc(calibrated, scores)

    metrics = []
    for metric in METRICS:
        value = values[metric]
        std, share = reference.sampling_error_components[metric]
        error = std / math.sqrt(rows * share) if share > 0 else math.nan
        lower, upper = reference.thresholds[metric]
        metrics.append(
            MetricEstimate(
                metric=metric,
                value=value,
                sampling_error=error,
                # NaN stays NaN (max and min would drop it).
                lower_confidence=float(np.maximum(0.0, value - SAMPLING_ERROR_RANGE * error)),
                upper_confidence=float(np.minimum(1.0, value + SAMPLING_ERROR_RANGE * error)),
                lower_threshold=lower,
                upper_threshold=upper,
                alert=bool(value < lower or value > upper),
            )
        )
    return Estimate(
        rows=rows,
        calibrated=reference.calibration.applied,
        confusion_matrix=matrix,
        metrics=tuple(metrics),
    )
