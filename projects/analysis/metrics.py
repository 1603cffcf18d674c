"""Model metrics in vectorized numpy: the one implementation the portal uses.

Every value matches scikit-learn under the conventions below; the tests check
that to 1e-9. scikit-learn is not imported here because these functions run
on millions of prediction rows where its input validation is the slow part.

Conventions
-----------
* Classes are the sorted union of the values in ``y_true`` and ``y_pred``, or
  the sorted ``labels`` when given (use ``labels`` when ``y_score`` has columns
  for classes that appear in neither). Labels may be numbers, booleans or text,
  but ``y_true`` and ``y_pred`` must not mix numbers with text.
* Binary means at most two classes. The positive class is the larger label in
  sorted order (``1`` over ``0``, ``True`` over ``False``, ``"yes"`` over
  ``"no"``); in scikit-learn terms ``pos_label=classes[-1]``. Precision, recall
  and F1 use ``average="binary"`` for binary problems and ``average="macro"``
  (over every class, including classes never true) otherwise. A ratio with a
  zero denominator is 0.0 (``zero_division=0``).
* Balanced accuracy is the mean recall over the classes present in ``y_true``.
* ROC AUC is rank-based with average ranks for tied scores, which equals the
  area under scikit-learn's ROC curve. Binary problems take ``y_score`` as the
  positive class score (1-D, or the second of two columns); multiclass
  problems take an ``(n, k)`` matrix whose columns follow the sorted classes
  and report the one-vs-rest macro average (``multi_class="ovr"``). It is
  None without ``y_score``, when ``y_true`` holds a single class, or, for
  multiclass, when some class never occurs in ``y_true`` (scikit-learn gives
  NaN there). scikit-learn refuses multiclass scores whose rows do not sum to
  one; here any scores are ranked, as AUC only depends on their order.
* Log loss needs probabilities: it is None without ``y_score`` or when any
  score lies outside [0, 1] (decision-function margins). As in
  ``sklearn.metrics.log_loss`` (1.5 and later) the probabilities are clipped
  to ``[eps, 1 - eps]`` with ``eps = np.finfo(dtype).eps`` of the score dtype
  and are not renormalized. With a single known class a 1-D score cannot be
  tied to a class, so log loss is None then.
* Regression reports MAE, RMSE (square root of the mean squared error) and
  R². For constant ``y_true`` R² is 1.0 for perfect predictions and 0.0
  otherwise (scikit-learn's ``force_finite=True``); unlike scikit-learn,
  which gives NaN below two rows, a single row follows the same rule.
* Missing values (NaN, None, NA) in any input, infinite values in regression
  inputs, empty inputs and length mismatches raise :class:`MetricError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from .metric_names import METRIC_NAMES

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
)
REGRESSION_METRICS = ("mae", "rmse", "r2")

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "mae": False,
    "rmse": False,
    "r2": True,
}

METRIC_LABELS: dict[str, str] = {
    key: METRIC_NAMES[key]
    for key in (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "mae",
        "rmse",
        "r2",
    )
}

#: detect_task: an integer-valued numeric target is classification when it has
#: at most this many distinct values...
MAX_CLASSES = 20
#: ...and they are no more than this share of the rows (two values always are).
MAX_CLASS_SHARE = 0.1


class MetricError(ValueError):
    """Inputs the metrics cannot be computed from; the message is for a person."""


def detect_task(y: Any) -> str:
    """Guess whether a target column calls for classification or regression.

    Missing values are ignored. Text, categorical and boolean targets are
    classification. A numeric target is classification when every value is a
    whole number and it has at most two distinct values, or at most
    ``MAX_CLASSES`` (20) distinct values that are no more than
    ``MAX_CLASS_SHARE`` (10%) of the rows. Anything else is regression.
    """
    series = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y).ravel())
    series = series.dropna()
    if series.empty:
        raise MetricError("The target has no values, so its task cannot be told.")
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return CLASSIFICATION
    if not pd.api.types.is_numeric_dtype(series):
        # Object columns of plain numbers (e.g. a list with None) still count as numeric;
        # text that looks like numbers does not.
        is_number = series.map(lambda v: isinstance(v, Number) and not isinstance(v, bool))
        if not is_number.all():
            return CLASSIFICATION
    values = series.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)) or not np.all(values == np.floor(values)):
        return REGRESSION
    distinct = np.unique(values).size
    if distinct <= 2:
        return CLASSIFICATION
    if distinct <= MAX_CLASSES and distinct <= MAX_CLASS_SHARE * values.size:
        return CLASSIFICATION
    return REGRESSION


def compute_metrics(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    labels: Sequence[Any] | None = None,
) -> dict[str, float | None]:
    """Every metric for ``task``; ``y_score`` and ``labels`` only matter for classification."""
    if task == CLASSIFICATION:
        return classification_metrics(y_true, y_pred, y_score, labels=labels)
    if task == REGRESSION:
        return dict(regression_metrics(y_true, y_pred))
    raise MetricError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}.")


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    labels: Sequence[Any] | None = None,
) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, precision, recall, F1, ROC AUC and log loss.

    See the module docstring for the positive class, averaging, and when ROC
    AUC and log loss are None.
    """
    truth = _labels_1d(y_true, "y_true")
    pred = _labels_1d(y_pred, "y_pred")
    _same_length(truth, "y_true", pred, "y_pred")
    classes, t, p = _encode(truth, pred, labels)
    k = classes.size
    n = t.size

    # Per-class counts without a k x k confusion matrix, so many classes stay cheap.
    true_sum = np.bincount(t, minlength=k)
    pred_sum = np.bincount(p, minlength=k)
    tp = np.bincount(t[t == p], minlength=k)

    present = true_sum > 0
    result: dict[str, float | None] = {
        "accuracy": float(tp.sum() / n),
        "balanced_accuracy": float(np.mean(tp[present] / true_sum[present])),
    }
    precision = _divide(tp, pred_sum)
    recall = _divide(tp, true_sum)
    f1 = _divide(2 * tp, true_sum + pred_sum)
    if k <= 2:
        # Binary: only the positive (largest) class counts.
        result["precision"] = float(precision[-1])
        result["recall"] = float(recall[-1])
        result["f1"] = float(f1[-1])
    else:
        result["precision"] = float(np.mean(precision))
        result["recall"] = float(np.mean(recall))
        result["f1"] = float(np.mean(f1))

    result["roc_auc"] = None
    result["log_loss"] = None
    if y_score is None:
        return result
    score = _scores(y_score, k, n)
    if k == 1:
        return result
    if score.ndim == 1:
        result["roc_auc"] = _binary_auc(t == 1, score)
    else:
        result["roc_auc"] = _ovr_auc(t, score)
    result["log_loss"] = _log_loss(t, score)
    return result


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Mean absolute error, root mean squared error and R²."""
    truth = _numbers_1d(y_true, "y_true")
    pred = _numbers_1d(y_pred, "y_pred")
    _same_length(truth, "y_true", pred, "y_pred")
    error = truth - pred
    squared = error**2
    numerator = float(np.sum(squared))
    denominator = float(np.sum((truth - np.mean(truth)) ** 2))
    if numerator == 0.0:
        r2 = 1.0
    elif denominator == 0.0:
        r2 = 0.0
    else:
        r2 = 1.0 - numerator / denominator
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(squared))),
        "r2": r2,
    }


# --- input checks -------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _missing_count(values: np.ndarray) -> int:
    if values.dtype.kind in "fc":
        return int(np.count_nonzero(np.isnan(values)))
    if values.dtype.kind in "mM":
        return int(np.count_nonzero(np.isnat(values)))
    if values.dtype.kind == "O":
        return int(np.count_nonzero(pd.isna(values)))
    return 0


def _as_array(values: Any, name: str) -> np.ndarray:
    if values is None:
        raise MetricError(f"{name} is missing.")
    array = np.asarray(values)
    if array.ndim == 0:
        raise MetricError(f"{name} must be a list of values, not a single value.")
    if array.size == 0:
        raise MetricError(f"{name} is empty.")
    missing = _missing_count(array)
    if missing:
        raise MetricError(f"{name} has {_plural(missing, 'missing value')}.")
    return array


def _one_column(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim != 1:
        raise MetricError(f"{name} must be a single column of values; it has shape {array.shape}.")
    return array


def _labels_1d(values: Any, name: str) -> np.ndarray:
    return _one_column(_as_array(values, name), name)


def _numbers_1d(values: Any, name: str) -> np.ndarray:
    array = _labels_1d(values, name)
    try:
        numbers = array.astype(np.float64)
    except (TypeError, ValueError):
        raise MetricError(f"{name} must hold numbers for regression metrics.") from None
    infinite = int(np.count_nonzero(np.isinf(numbers)))
    if infinite:
        raise MetricError(f"{name} has {_plural(infinite, 'infinite value')}.")
    return numbers


def _same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise MetricError(
            f"{a_name} has {_plural(a.shape[0], 'value')} but {b_name} has {b.shape[0]}; "
            "they must be the same length."
        )


def _encode(
    truth: np.ndarray, pred: np.ndarray, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted classes and the integer class code of every true and predicted row."""
    kinds = {truth.dtype.kind, pred.dtype.kind}
    # numpy would silently turn numbers into text when the two are joined.
    if kinds & set("US") and kinds & set("biuf"):
        raise MetricError("y_true and y_pred mix numbers and text; use one kind of label.")
    try:
        if labels is None:
            # Unique per side, then searchsorted: much faster than one return_inverse sort.
            classes = np.unique(np.concatenate([np.unique(truth), np.unique(pred)]))
        else:
            classes = np.unique(_labels_1d(labels, "labels"))
        # Every value is one of the classes found from the values themselves.
        check = labels is not None
        return classes, _codes(classes, truth, check), _codes(classes, pred, check)
    except TypeError:
        raise MetricError(
            "The labels mix kinds of value (for example numbers and text) and cannot be sorted."
        ) from None


def _codes(classes: np.ndarray, values: np.ndarray, check: bool = True) -> np.ndarray:
    codes = np.searchsorted(classes, values)
    np.clip(codes, 0, classes.size - 1, out=codes)
    if check:
        unknown = classes[codes] != values
        if np.any(unknown):
            example = values[np.argmax(unknown)]
            raise MetricError(f"The label {example!r} is not one of the given labels.")
        del unknown
    # The smallest integer type for the codes: an eighth of intp's memory for few classes.
    small = np.int8 if classes.size <= 2**7 else np.int16 if classes.size <= 2**15 else np.intp
    return codes.astype(small, copy=False)


def _scores(y_score: Any, k: int, n: int) -> np.ndarray:
    """Validated scores: 1-D positive-class scores (binary) or an (n, k) matrix."""
    score = _as_array(y_score, "y_score")
    if score.dtype.kind not in "biuf":
        raise MetricError("y_score must hold numbers.")
    if score.dtype.kind != "f":
        score = score.astype(np.float64)
    if score.shape[0] != n:
        raise MetricError(
            f"y_score has {_plural(score.shape[0], 'row')} but y_true has {n}; "
            "they must be the same length."
        )
    if score.ndim == 2 and score.shape[1] == 1:
        score = score[:, 0]
    if score.ndim > 2:
        raise MetricError(f"y_score must be one column or a matrix; it has shape {score.shape}.")
    if k <= 2:
        if score.ndim == 2:
            if score.shape[1] != 2:
                raise MetricError(
                    f"y_score has {score.shape[1]} columns but there are {k} classes; "
                    "pass the model's classes as labels."
                )
            score = score[:, 1]
        return score
    if score.ndim == 1 or score.shape[1] != k:
        columns = 1 if score.ndim == 1 else score.shape[1]
        raise MetricError(
            f"y_score has {_plural(columns, 'column')} but there are {k} classes; "
            "multiclass scores need one column per class in sorted label order."
        )
    return score


# --- computations ---------------------------------------------------------------


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with 0.0 where the denominator is zero."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney AUC, ties counting one half (equals the trapezoidal ROC area)."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    negatives = score[~positive]
    negatives.sort()  # in place: the selection is a copy already
    positives = score[positive]
    positives.sort()  # sorted queries make searchsorted cache-friendly
    below = np.searchsorted(negatives, positives, side="left")
    below_or_tied = np.searchsorted(negatives, positives, side="right")
    # Twice U is an integer count, so the sum is exact before the one division.
    twice_u = int(below.sum()) + int(below_or_tied.sum())
    return twice_u / (2 * n_pos * n_neg)


def _ovr_auc(codes: np.ndarray, score: np.ndarray) -> float | None:
    aucs = []
    for column in range(score.shape[1]):
        auc = _binary_auc(codes == column, score[:, column])
        if auc is None:
            return None
        aucs.append(auc)
    return float(np.mean(aucs))


def _log_loss(codes: np.ndarray, score: np.ndarray) -> float | None:
    if np.any(score < 0) or np.any(score > 1):
        return None
    if score.ndim == 1:
        chosen = np.where(codes == 1, score, 1 - score)
    else:
        chosen = score[np.arange(codes.size), codes]
    eps = np.finfo(score.dtype).eps
    # In place: the same values as np.log(np.clip(...)) without two more copies.
    np.clip(chosen, eps, 1 - eps, out=chosen)
    np.log(chosen, out=chosen)
    return float(-np.mean(chosen))
