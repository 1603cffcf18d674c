"""Mitigation options for a failing fairness audit: fairlearn's ``ThresholdOptimizer`` run on
the evaluation's scores, under demographic parity and under equalized odds.

Pure: arrays in, a frozen dataclass out, no Django. The numbers are fairlearn's own, not a
reimplementation, so the team decides on what the library users trust computes:

* The model is post-processed as it is: an estimator that hands back the uploaded scores
  (:class:`UploadedScores`) is given to ``ThresholdOptimizer(prefit=True,
  predict_method="predict")``, with the scores as its only input column. The objective is
  fairlearn's default, ``accuracy_score``; the grid is its default (1000).
* Predictions after mitigation are randomized (a group may mix two thresholds, and under
  equalized odds sometimes ignore the score): ``predict`` draws with a fixed
  ``random_state``, so the same data gives the same figures every time.
* "Before" is the model's own ``y_pred``, not the scores thresholded at 0.5.
* Accuracy is scikit-learn's ``accuracy_score``; the disparities are fairlearn's
  ``demographic_parity_difference`` and ``equalized_odds_difference`` (between groups,
  worst case), before and after.
* Per group: rows, selection rate, true- and false-positive rate before and after (counts,
  which equal fairlearn's ``MetricFrame``), and the rule the group gets: the fitted
  ``interpolated_thresholder_.interpolation_dict`` as it is, each threshold with its
  probability (``p0``/``p1``), and under equalized odds the probability ``p_ignore`` of
  replacing the decision by a draw that is positive with probability
  ``prediction_constant``. An infinite threshold (everyone, or no one) is ``None`` with
  what it selects.
* Several sensitive features: one optimization per feature, each on its own groups, not
  one on their intersection. The audit judges each feature separately, a thresholder is
  fitted to one grouping, and the intersection's small groups would make the thresholds
  noise; the team sees what equalizing each feature costs and decides. A feature that
  cannot be optimized (one group, or a group without positives or without negatives,
  which fairlearn refuses as "degenerate labels") is skipped with the reason; with none
  left, :class:`MitigationError` says why.
* Missing sensitive values form the group ``"(missing)"``, as in the audit; missing labels,
  predictions or scores are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fairlearn
import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score

from .audit_config import positive_label_for
from .fairness import AuditError, _binarize, _column, _factorize, _no_missing, _ToDict

OBJECTIVE = "accuracy_score"
GRID_SIZE = 1000
RANDOM_STATE = 0
#: The options, in the order every table and chart shows them: the model as evaluated
#: first, then each constraint (ThresholdOptimizer's own names).
ORIGINAL = "original"
CONSTRAINTS = ("demographic_parity", "equalized_odds")
LABELS = {
    ORIGINAL: "Model as evaluated",
    "demographic_parity": "Demographic parity",
    "equalized_odds": "Equalized odds",
}


class MitigationError(AuditError):
    """Input that mitigation cannot use; ``str(exc)`` says why in a sentence."""


class UploadedScores(BaseEstimator):
    """A fitted "model" whose prediction for a row is the score uploaded for it (the one
    column of ``X``): ThresholdOptimizer post-processes the model without having it."""

    def fit(self, X: Any, y: Any = None) -> UploadedScores:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]

    def __sklearn_is_fitted__(self) -> bool:
        # Nothing to fit: without this, prefit=True warns that the estimator is not fitted.
        return True


@dataclass(frozen=True)
class Operation(_ToDict):
    """One threshold a group's rule uses, with the probability of using it."""

    probability: float
    operator: str  # ">" (select scores above) or "<" (below; only with fairlearn's flip)
    threshold: float | None  # None: infinite, see ``selects``
    selects: str  # above / below / all / none


@dataclass(frozen=True)
class GroupRule(_ToDict):
    """How a group is decided after mitigation: one of ``operations`` drawn by probability;
    under equalized odds, with probability ``p_ignore`` the decision is instead a draw that
    is positive with probability ``prediction_constant``."""

    operations: tuple[Operation, ...]
    p_ignore: float | None = None
    prediction_constant: float | None = None


@dataclass(frozen=True)
class GroupOutcome(_ToDict):
    option: str
    selection_rate: float
    true_positive_rate: float
    false_positive_rate: float
    rule: GroupRule | None  # None for the model as evaluated


@dataclass(frozen=True)
class GroupRow(_ToDict):
    group: str
    rows: int
    positives: int
    #: One per option, in the feature's ``options`` order.
    outcomes: tuple[GroupOutcome, ...]


@dataclass(frozen=True)
class Option(_ToDict):
    """The model as evaluated, or its predictions post-processed under one constraint."""

    name: str  # original / demographic_parity / equalized_odds
    label: str
    accuracy: float
    demographic_parity_difference: float
    equalized_odds_difference: float
    selected: int  # rows predicted positive


@dataclass(frozen=True)
class FeatureMitigation(_ToDict):
    feature: str
    options: tuple[Option, ...]
    groups: tuple[GroupRow, ...]


@dataclass(frozen=True)
class Skipped(_ToDict):
    feature: str
    reason: str


@dataclass(frozen=True)
class Mitigation(_ToDict):
    rows: int
    positive_label: str
    method: str
    fairlearn_version: str
    objective: str
    grid_size: int
    random_state: int
    features: tuple[FeatureMitigation, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------- input handling


def _scores(y_score: Any, rows: int) -> np.ndarray:
    if y_score is None:
        raise MitigationError(
            "The evaluation has no scores (y_score); ThresholdOptimizer moves a threshold "
            "over the model's scores, so upload the predictions with a score column."
        )
    score = _column("y_score", y_score, rows)
    try:
        score = score.astype(np.float64)
    except (TypeError, ValueError):
        raise MitigationError(
            "y_score must hold numbers (a probability or a decision score per row)."
        ) from None
    if not np.isfinite(score).all():
        raise MitigationError("y_score has missing or infinite values; every row needs a score.")
    return score


def _unusable(names: list[str], codes: np.ndarray, t: np.ndarray) -> str:
    """Why fairlearn cannot optimize over this feature's groups, or "" if it can."""
    if len(names) < 2:
        return f"it has one group only ({names[0]!r}): there is no gap to close."
    k = len(names)
    positives = np.bincount(codes, weights=t, minlength=k)
    rows = np.bincount(codes, minlength=k)
    for i, name in enumerate(names):
        if positives[i] == 0 or positives[i] == rows[i]:
            which = "no positives" if positives[i] == 0 else "no negatives"
            return (
                f"group {name!r} has {which} in y_true ({rows[i]} rows); ThresholdOptimizer "
                "needs both in every group."
            )
    return ""


# ---------------------------------------------------------------- computation


def _rates(codes: np.ndarray, k: int, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per group: rows, positives, selected, true positives, false positives."""
    cell = codes.astype(np.int64) * 4 + t.astype(np.int64) * 2 + p.astype(np.int64)
    tn, fp, fn, tp = np.bincount(cell, minlength=4 * k).reshape(k, 4).T
    return np.stack([tn + fp + fn + tp, fn + tp, fp + tp, tp, fp])


def _operation(probability: float, operation: Any) -> Operation:
    threshold, operator = float(operation.threshold), operation.operator
    if math.isfinite(threshold):
        return Operation(
            float(probability), operator, threshold, "above" if operator == ">" else "below"
        )
    # score > -inf and score < +inf hold for every row; the other two for none.
    everyone = (operator == ">") == (threshold < 0)
    return Operation(float(probability), operator, None, "all" if everyone else "none")


def _rule(interpolation: Mapping[str, Any]) -> GroupRule:
    operations = (
        _operation(interpolation["p0"], interpolation["operation0"]),
        _operation(interpolation["p1"], interpolation["operation1"]),
    )
    if "p_ignore" not in interpolation:
        return GroupRule(operations)
    return GroupRule(
        operations,
        float(interpolation["p_ignore"]),
        float(interpolation["prediction_constant"]),
    )


def _option(name: str, t: np.ndarray, p: np.ndarray, groups: np.ndarray) -> Option:
    return Option(
        name,
        LABELS[name],
        float(accuracy_score(t, p)),
        float(demographic_parity_difference(t, p, sensitive_features=groups)),
        float(equalized_odds_difference(t, p, sensitive_features=groups)),
        int(p.sum()),
    )


def _feature(
    feature: str,
    codes: np.ndarray,
    names: list[str],
    t: np.ndarray,
    p: np.ndarray,
    score: np.ndarray,
) -> FeatureMitigation:
    k = len(names)
    # Group names as the audit shows them: fairlearn keys its thresholds by these values.
    groups = np.asarray(names, dtype=object)[codes]
    X = score.reshape(-1, 1)
    y = t.astype(np.int64)
    predictions = {ORIGINAL: p.astype(np.int64)}
    rules: dict[str, dict[str, GroupRule]] = {}
    for constraint in CONSTRAINTS:
        optimizer = ThresholdOptimizer(
            estimator=UploadedScores(),
            constraints=constraint,
            objective=OBJECTIVE,
            grid_size=GRID_SIZE,
            prefit=True,
            predict_method="predict",
        )
        optimizer.fit(X, y, sensitive_features=groups)
        predictions[constraint] = np.asarray(
            optimizer.predict(X, sensitive_features=groups, random_state=RANDOM_STATE)
        )
        fitted = optimizer.interpolated_thresholder_.interpolation_dict
        rules[constraint] = {str(group): _rule(fitted[group]) for group in fitted}
    options = tuple(_option(name, y, pred, groups) for name, pred in predictions.items())
    counts = {name: _rates(codes, k, t, pred) for name, pred in predictions.items()}
    rows = []
    for i, name in enumerate(names):
        outcomes = []
        for option, (n, pos, selected, tp, fp) in counts.items():
            outcomes.append(
                GroupOutcome(
                    option,
                    float(selected[i] / n[i]),
                    float(tp[i] / pos[i]),
                    float(fp[i] / (n[i] - pos[i])),
                    rules.get(option, {}).get(name),
                )
            )
        n, pos = counts[ORIGINAL][0], counts[ORIGINAL][1]
        rows.append(GroupRow(name, int(n[i]), int(pos[i]), tuple(outcomes)))
    return FeatureMitigation(feature, options, tuple(rows))


def threshold_options(
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    sensitive: Mapping[str, Any],
    *,
    positive_label: Any,
    max_groups: int = 1000,
) -> Mitigation:
    """ThresholdOptimizer's options per sensitive feature (see the module docstring)."""
    y_true = _column("y_true", y_true)
    rows = len(y_true)
    if rows == 0:
        raise MitigationError("There are no rows to mitigate.")
    y_pred = _column("y_pred", y_pred, rows)
    _no_missing("y_true", y_true)
    _no_missing("y_pred", y_pred)
    score = _scores(y_score, rows)
    t, p = _binarize(y_true, y_pred, positive_label)
    if not sensitive:
        raise MitigationError("Give at least one sensitive feature to mitigate over.")
    features, skipped = [], []
    for feature, values in sensitive.items():
        codes, names = _factorize(feature, values, rows, max_groups)
        reason = _unusable(names, codes, t)
        if reason:
            skipped.append(Skipped(feature, reason))
            continue
        features.append(_feature(feature, codes, names, t, p, score))
    if not features:
        why = "; ".join(f"{s.feature!r}: {s.reason}" for s in skipped)
        raise MitigationError(f"No sensitive feature can be mitigated over. {why}")
    return Mitigation(
        rows,
        str(positive_label),
        "fairlearn.postprocessing.ThresholdOptimizer",
        fairlearn.__version__,
        OBJECTIVE,
        GRID_SIZE,
        RANDOM_STATE,
        tuple(features),
        tuple(skipped),
    )


def mitigation_columns(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray | None,
    sensitive: Mapping[str, Any],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON-safe options for one evaluation under an audit's ``config`` (a clean_config
    dict), as the worker stores them."""
    if task == "regression":
        raise MitigationError(
            "ThresholdOptimizer post-processes a classifier's scores; this evaluation is of "
            "a regression model."
        )
    if len(y_true) == 0:  # before the positive label is looked for among no labels
        raise MitigationError("There are no rows to mitigate.")
    labels = pd.unique(np.asarray(y_true)).tolist()
    positive = named = positive_label_for(config["positive_label"], labels)
    notes: list[str] = []
    truth, pred = y_true, y_pred
    if len(labels) > 2:
        # As the audit does: the positive label against all the others, on the same scores.
        notes.append(
            f"y_true has {len(labels)} classes; mitigation compares {named!r} with the rest, "
            "reading y_score as the score of that label."
        )
        truth, pred, positive = np.asarray(y_true) == positive, np.asarray(y_pred) == positive, True
    result = threshold_options(truth, pred, y_score, sensitive, positive_label=positive)
    return {**result.to_dict(), "positive_label": str(named), "notes": notes}
