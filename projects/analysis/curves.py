"""Curve data behind an evaluation's charts, computed once when its metrics are.

Pure: numpy only, no Django import. :func:`evaluation_curves` returns a plain, JSON-ready
dict, bounded in size whatever the number of rows, which the evaluation keeps and
:mod:`projects.analysis.evaluation_charts` draws.

Conventions follow :mod:`projects.analysis.metrics`: classes are the sorted union of the
true and predicted labels, the positive class of a binary problem is the larger one, and
scores are the positive class's. The numbers match scikit-learn:

* the confusion matrix is ``confusion_matrix(y_true, y_pred, labels=classes)``, rows the
  true class and columns the predicted one;
* the ROC curve is ``roc_curve`` (``drop_intermediate=True``; its first threshold,
  infinity, is stored as None) and its area ``roc_auc_score``;
* the precision-recall curve is ``precision_recall_curve`` and its area
  ``average_precision_score``;
* the reliability curve is ``sklearn.calibration.calibration_curve`` with
  :data:`CALIBRATION_BINS` uniform bins (only for scores within [0, 1]), with the
  number of rows of each non-empty bin beside it;
* score histograms are ``numpy.histogram`` of each true class's scores over one set of
  edges: :data:`SCORE_BINS` equal bins over [0, 1] for probabilities, else over the
  scores' range; the residual histogram is ``numpy.histogram`` of the residuals.

A curve longer than :data:`MAX_CURVE_POINTS` keeps that many of its own points, spread
evenly along its length and always its two ends, so every kept point is exact at its
threshold; the areas are computed on the whole curve first. Residuals are the true value
minus the prediction; past :data:`RESIDUAL_POINTS` rows the residual plot shows a sample
drawn with a seeded generator (the same file always gives the same points) together with
the largest residuals, so outliers stay in view.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"

#: Bumped when the stored shape changes, so old data can be told apart.
CURVES_VERSION = 1
MAX_CURVE_POINTS = 200
CALIBRATION_BINS = 10
SCORE_BINS = 20
RESIDUAL_POINTS = 1000
#: Of the residual plot's points, this many are the largest residuals.
RESIDUAL_EXTREMES = 20
RESIDUAL_BINS = 30
#: A confusion matrix of more classes is not drawn (nor stored): it would not read.
MAX_MATRIX_CLASSES = 20
#: The usual decision threshold on a probability, named when the labels agree with it.
USUAL_THRESHOLD = 0.5


def _floats(values: np.ndarray) -> list[float | None]:
    """Plain floats for JSON; infinities and NaN (which JSON cannot hold) become None."""
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _label(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def thin(xs: np.ndarray, ys: np.ndarray, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` of a curve's points, evenly spread along its length
    (steps in x plus steps in y), always the first and the last."""
    n = xs.size
    if n <= limit:
        return np.arange(n)
    # The same sums as np.abs(np.diff(xs)) + np.abs(np.diff(ys)), built in place: a curve
    # can be as long as the data.
    travelled = np.empty(n)
    travelled[0] = 0.0
    steps = travelled[1:]
    np.subtract(xs[1:], xs[:-1], out=steps)
    np.abs(steps, out=steps)
    other = np.diff(ys)
    np.abs(other, out=other)
    steps += other
    del other
    np.cumsum(steps, out=steps)
    if travelled[-1] <= 0:
        return np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    # limit - 1 marks from the start to the end, plus the last point itself.
    wanted = np.linspace(0.0, travelled[-1], limit - 1)
    picked = np.searchsorted(travelled, wanted, side="left")
    return np.unique(np.r_[picked, n - 1])


def _at_thresholds(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    """False and true positives when predicting positive at score >= each distinct score,
    highest first (scikit-learn's ``confusion_matrix_at_thresholds``)."""
    # Any sort will do: only the counts at the end of each run of equal scores are kept,
    # and they do not depend on the order within a run. The default sort needs no buffer
    # of half the data, as a stable one does.
    order = np.argsort(score)[::-1]
    ranked = score[order]
    hits = positive[order]
    del order
    if np.isfinite(ranked[[0, -1]]).all():
        # Sorted and finite: a boolean comparison marks the same runs as np.diff, without a
        # float array as long as the data.
        changes = np.flatnonzero(ranked[1:] != ranked[:-1])
    else:  # infinities or NaN: np.diff's reading of them, as scikit-learn's
        changes = np.flatnonzero(np.diff(ranked))
    last_of_each = np.r_[changes, ranked.size - 1]
    del changes
    thresholds = ranked[last_of_each]
    del ranked
    # Counts as floats straight away (exact below 2**53): one array fewer than int64 first.
    tps = np.cumsum(hits, dtype=np.float64)[last_of_each]
    del hits
    fps = last_of_each + 1.0
    fps -= tps
    return fps, tps, thresholds


def roc(
    positive: np.ndarray, score: np.ndarray, *, counts: tuple[np.ndarray, ...] | None = None
) -> dict[str, Any] | None:
    """The ROC curve and its area; None when ``positive`` is all of one kind. ``counts`` are
    :func:`_at_thresholds` of the same data, when already computed."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or n_pos == positive.size:
        return None
    fps, tps, thresholds = counts or _at_thresholds(positive, score)
    if fps.size > 2:
        corner = np.diff(fps, 2) != 0
        corner |= np.diff(tps, 2) != 0
        keep = np.flatnonzero(np.r_[True, corner, True])
        del corner
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
        del keep
    fpr = np.r_[0.0, fps] / fps[-1]
    tpr = np.r_[0.0, tps] / tps[-1]
    del fps, tps
    thresholds = np.r_[np.inf, thresholds]
    auc = float(np.trapezoid(tpr, fpr))
    kept = thin(fpr, tpr)
    return {
        "fpr": _floats(fpr[kept]),
        "tpr": _floats(tpr[kept]),
        "thresholds": _floats(thresholds[kept]),
        "auc": auc,
        "points": int(fpr.size),
    }


def precision_recall(
    positive: np.ndarray, score: np.ndarray, *, counts: tuple[np.ndarray, ...] | None = None
) -> dict[str, Any] | None:
    """The precision-recall curve (recall falling, ending at recall 0 and precision 1) and
    the average precision; None without a positive row, where recall is undefined.
    ``counts`` are :func:`_at_thresholds` of the same data, when already computed."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0:
        return None
    fps, tps, thresholds = counts or _at_thresholds(positive, score)
    precision = np.r_[(tps / (tps + fps))[::-1], 1.0]
    recall = np.r_[(tps / tps[-1])[::-1], 0.0]
    del fps, tps
    rising = thresholds[::-1]  # a view; the closing point's threshold is added once thinned
    areas = np.diff(recall)
    areas *= precision[:-1]
    average = float(max(0.0, -np.sum(areas)))
    del areas
    kept = thin(recall, precision)
    last = rising.size  # the closing point (recall 0, precision 1)
    at = np.where(kept < last, rising[np.minimum(kept, last - 1)], np.inf)
    return {
        "precision": _floats(precision[kept]),
        "recall": _floats(recall[kept]),
        # The closing point has no threshold: None.
        "thresholds": _floats(at),
        "average_precision": average,
        "prevalence": n_pos / positive.size,
        "points": int(precision.size),
    }


def calibration(positive: np.ndarray, score: np.ndarray) -> dict[str, Any] | None:
    """Mean score and share of positives in each non-empty uniform bin of [0, 1]; None when
    a score lies outside [0, 1] (not a probability)."""
    if score.min() < 0 or score.max() > 1:
        return None
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    ids = np.searchsorted(edges[1:-1], score)
    sums = np.bincount(ids, weights=score, minlength=CALIBRATION_BINS)
    trues = np.bincount(ids, weights=positive.astype(np.float64), minlength=CALIBRATION_BINS)
    counts = np.bincount(ids, minlength=CALIBRATION_BINS)
    used = counts > 0
    return {
        "bins": CALIBRATION_BINS,
        "mean_predicted": _floats(sums[used] / counts[used]),
        "fraction_positive": _floats(trues[used] / counts[used]),
        "counts": counts[used].tolist(),
    }


def score_edges(score: np.ndarray) -> np.ndarray:
    if score.min() >= 0 and score.max() <= 1:
        return np.linspace(0.0, 1.0, SCORE_BINS + 1)
    return np.histogram_bin_edges(score, bins=SCORE_BINS)


def score_histogram(codes: np.ndarray, score: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Counts of each true class's scores over shared edges."""
    edges = score_edges(score)
    return {
        "edges": _floats(edges),
        "classes": [
            {"label": label, "counts": np.histogram(score[codes == i], bins=edges)[0].tolist()}
            for i, label in enumerate(classes)
        ],
    }


def implied_threshold(predicted_positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """Which thresholds t give the uploaded labels as "positive when score >= t": every t
    in (``low``, ``high``] when ``consistent``; ``low`` None means any t up to ``high``
    works, ``high`` None any t above ``low``. Else how many rows disagree with
    :data:`USUAL_THRESHOLD` (for probabilities)."""
    above = score[predicted_positive]
    below = score[~predicted_positive]
    low = float(below.max()) if below.size else None
    high = float(above.min()) if above.size else None
    consistent = low is None or high is None or low < high
    usual = bool(
        consistent
        and (low is None or low < USUAL_THRESHOLD)
        and (high is None or high >= USUAL_THRESHOLD)
    )
    found: dict[str, Any] = {
        "consistent": consistent,
        "low": low,
        "high": high,
        "usual": usual,
        "usual_value": USUAL_THRESHOLD,
    }
    if not consistent and score.min() >= 0 and score.max() <= 1:
        found["disagree_with_usual"] = int(
            np.count_nonzero((score >= USUAL_THRESHOLD) != predicted_positive)
        )
    return found


def confusion(codes_true: np.ndarray, codes_pred: np.ndarray, k: int) -> list[list[int]]:
    cells = np.bincount(codes_true * k + codes_pred, minlength=k * k)
    return cells.reshape(k, k).tolist()


def _classes(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = np.unique(np.concatenate([np.unique(truth), np.unique(pred)]))
    # Codes in 16 bits when the classes allow (a quarter of intp's memory); the confusion
    # matrix, the only product of two codes, is drawn for few classes only.
    small = np.int16 if classes.size <= MAX_MATRIX_CLASSES else np.intp
    return (
        classes,
        np.searchsorted(classes, truth).astype(small, copy=False),
        np.searchsorted(classes, pred).astype(small, copy=False),
    )


def classification_curves(y_true: Any, y_pred: Any, y_score: Any = None) -> dict[str, Any]:
    truth = np.asarray(y_true).ravel()
    pred = np.asarray(y_pred).ravel()
    classes, t, p = _classes(truth, pred)
    k = classes.size
    labels = [_label(c) for c in classes]
    notes: list[str] = []
    out: dict[str, Any] = {
        "version": CURVES_VERSION,
        "task": CLASSIFICATION,
        "rows": int(truth.size),
        "classes": labels,
        "positive": labels[-1] if k <= 2 else None,
        "confusion": None,
        "roc": None,
        "pr": None,
        "calibration": None,
        "score_histogram": None,
        "operating": None,
        "notes": notes,
    }
    if k <= MAX_MATRIX_CLASSES:
        out["confusion"] = confusion(t, p, k)
    else:
        notes.append(f"{k} classes are too many for a confusion matrix to read.")
    score = None if y_score is None else np.asarray(y_score, dtype=np.float64)
    if score is not None and score.ndim == 2 and score.shape[1] == 2:
        score = score[:, 1]
    if score is not None and score.ndim == 2 and score.shape[1] == 1:
        score = score[:, 0]
    if score is None or score.ndim != 1:
        notes.append("Without a score column there are no curves, only the confusion matrix.")
        return out
    if k > 2:
        notes.append("Curves are drawn for two classes; this evaluation has more.")
        return out
    positive = t == k - 1 if k == 2 else np.zeros(t.size, dtype=bool)
    predicted = p == k - 1 if k == 2 else np.zeros(p.size, dtype=bool)
    if k == 1:
        notes.append(f"Only one class ({labels[0]}) occurs, so there are no curves.")
        return out
    # One sort of the scores serves both curves.
    counts = _at_thresholds(positive, score)
    out["roc"] = roc(positive, score, counts=counts)
    if out["roc"] is None:
        notes.append("y_true holds one class only, so the ROC curve is undefined.")
    out["pr"] = precision_recall(positive, score, counts=counts)
    del counts
    out["calibration"] = calibration(positive, score)
    if out["calibration"] is None:
        notes.append("Scores outside [0, 1] are not probabilities: no reliability curve.")
    out["score_histogram"] = score_histogram(t, score, labels)
    tp = int(np.count_nonzero(positive & predicted))
    fp = int(np.count_nonzero(~positive & predicted))
    n_pos, n_neg = int(np.count_nonzero(positive)), int(np.count_nonzero(~positive))
    out["operating"] = {
        "tpr": tp / n_pos if n_pos else None,
        "fpr": fp / n_neg if n_neg else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "threshold": implied_threshold(predicted, score),
    }
    return out


def regression_curves(y_true: Any, y_pred: Any, *, seed: int = 0) -> dict[str, Any]:
    truth = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    residual = truth - pred
    n = residual.size
    if n <= RESIDUAL_POINTS:
        shown = np.arange(n)
    else:
        extremes = np.argsort(np.abs(residual), kind="mergesort")[-RESIDUAL_EXTREMES:]
        rest = np.setdiff1d(np.arange(n), extremes)
        rng = np.random.default_rng(seed)
        sample = rng.choice(rest, size=RESIDUAL_POINTS - RESIDUAL_EXTREMES, replace=False)
        shown = np.sort(np.concatenate([sample, extremes]))
    counts, edges = np.histogram(residual, bins=RESIDUAL_BINS)
    return {
        "version": CURVES_VERSION,
        "task": REGRESSION,
        "rows": int(n),
        "residuals": {
            "predicted": _floats(pred[shown]),
            "residual": _floats(residual[shown]),
            "sampled": bool(n > RESIDUAL_POINTS),
            "mean": float(residual.mean()),
            "std": float(residual.std()),
        },
        "residual_histogram": {"edges": _floats(edges), "counts": counts.tolist()},
        "notes": [],
    }


def evaluation_curves(
    task: str, y_true: Any, y_pred: Any, y_score: Any = None, *, seed: int = 0
) -> dict[str, Any]:
    """The curve data of one evaluation; call after its metrics, which validate the input."""
    if task == CLASSIFICATION:
        return classification_curves(y_true, y_pred, y_score)
    if task == REGRESSION:
        return regression_curves(y_true, y_pred, seed=seed)
    raise ValueError(f"Unknown task {task!r}.")
