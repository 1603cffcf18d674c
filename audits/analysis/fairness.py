"""Fairness audits: group metrics, gaps between groups and threshold verdicts.

Pure computation (NumPy and pandas only). Group codes come from ``pandas.factorize`` (a
hash, faster than ``np.unique`` on text). Every group metric is derived from per-group
confusion counts, found with one ``np.bincount`` over ``group code * 4 + label * 2 + pred``
per sensitive feature, so the cost is a few passes over the data whatever the number of
groups. ROC AUC is the one exception to pure counting: one sort by score shared by all
features, then per feature a stable radix sort by group and within-group mid-ranks (the
Mann-Whitney form, equal to scikit-learn's ``roc_auc_score`` with ties). Sensitive
features given as ``pandas.Categorical`` are grouped by their codes, without strings.

Conventions:

* Missing values in a sensitive feature form their own group, ``"(missing)"``. fairlearn's
  ``MetricFrame`` refuses them instead ("contains missing values"); replace them with that
  name to get the same numbers from fairlearn.
* An intersection of features is a group per observed combination, its name the
  feature groups joined by a multiplication sign (``JOIN``).
* A metric that a group cannot define (recall with no positives, ...) is ``None`` with a
  reason, never NaN. scikit-learn would instead return 0 for precision without predicted
  positives and the one defined recall for balanced accuracy on a one-class group; a ratio
  whose largest value is 0 is None here, NaN in fairlearn.
* Rates carry Wilson score intervals at ``confidence`` (see :mod:`.intervals`).
* One rule picks the groups a gap compares, for the between-groups table, the headline
  gaps and the verdicts alike, so the three can never show two numbers for one gap: a
  group takes part when it has at least ``min_group_size`` rows, the metric is defined for
  it and (for a rate with an interval) its interval is at most ``max_interval_width``
  wide, so a small group never passes or fails on noise. Every other group is listed as
  left out, with why. Differences are max - min and ratios min / max over the groups kept;
  demographic parity and equalized odds follow fairlearn over those groups (equalized
  odds: the larger of the TPR and FPR differences, the smaller of their ratios, over the
  groups kept for both rates).
* With fewer than two groups kept a gap verdict is ``insufficient_evidence``.
* The audit's status is the worst verdict; with no threshold set there is no verdict, and
  the status is ``reported`` (numbers for a reviewer), never ``pass``.

Also here: :func:`regression_audit` (per-group error of a regressor) and
:func:`class_report` (per-class precision and recall, rare classes flagged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from projects.analysis.metric_names import metric_phrase

from .intervals import Value, rates, with_intervals

MISSING = "(missing)"
JOIN = " \u00d7 "  # multiplication sign: "F x 25-40"
PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient_evidence"
# No threshold was set (or, for a regressor, applies): numbers for the reviewer, no verdict.
REPORTED = "reported"

NO_POS = "no positives in this group"
NO_NEG = "no negatives in this group"
# name -> (numerator, denominator, reason when the denominator is 0); from tp, fp, tn, fn.
RATES: dict[str, tuple[Any, Any, str]] = {
    "selection_rate": (lambda c: c[0] + c[1], lambda c: c.sum(0), ""),
    "base_rate": (lambda c: c[0] + c[3], lambda c: c.sum(0), ""),
    "accuracy": (lambda c: c[0] + c[2], lambda c: c.sum(0), ""),
    "precision": (lambda c: c[0], lambda c: c[0] + c[1], "no predicted positives in this group"),
    "recall": (lambda c: c[0], lambda c: c[0] + c[3], NO_POS),
    "false_positive_rate": (lambda c: c[1], lambda c: c[1] + c[2], NO_NEG),
    "false_negative_rate": (lambda c: c[3], lambda c: c[0] + c[3], NO_POS),
    "true_negative_rate": (lambda c: c[2], lambda c: c[1] + c[2], NO_NEG),
    "f1": (lambda c: 2 * c[0], lambda c: 2 * c[0] + c[1] + c[3], "no positives or predictions"),
}
WITH_INTERVAL = (
    "selection_rate",
    "recall",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "accuracy",
)
BOTH_CLASSES = "needs both positives and negatives in this group"
# threshold -> the rates it judges, and whether it is a gap between groups (else a floor).
CHECKS = (
    ("demographic_parity_difference", ("selection_rate",), True),
    ("equalized_odds_difference", ("recall", "false_positive_rate"), True),
    ("max_fnr_gap", ("false_negative_rate",), True),
    ("min_recall", ("recall",), False),
)


class AuditError(ValueError):
    """Input that cannot be audited; ``str(exc)`` says why in a sentence."""


def _json(x: Any) -> Any:
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if isinstance(x, Mapping):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return [_json(v) for v in x]
    return x


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (floats, ints, strings, None, lists, dicts)."""
        return {f.name: _json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Thresholds(_ToDict):
    demographic_parity_difference: float | None = 0.10
    equalized_odds_difference: float | None = 0.10
    min_recall: float | None = None
    max_fnr_gap: float | None = None
    min_group_size: int = 30
    # A group whose rate interval is wider than this cannot decide a threshold.
    max_interval_width: float = 0.30


@dataclass(frozen=True)
class Group(_ToDict):
    feature: str
    name: str
    count: int
    share: float
    metrics: Mapping[str, Value]
    confusion: Mapping[str, int] = field(default_factory=dict)  # tp, fp, tn, fn

    def value(self, metric: str) -> float | None:
        return self.metrics[metric].value


@dataclass(frozen=True)
class Disparity(_ToDict):
    """Max - min and min / max of one metric over the groups large enough to compare."""

    metric: str
    difference: Value
    ratio: Value
    groups_compared: tuple[str, ...]
    groups_excluded: Mapping[str, str]  # group -> why it was left out


@dataclass(frozen=True)
class Verdict(_ToDict):
    threshold: str
    feature: str
    status: str  # pass / fail / insufficient_evidence
    value: float | None
    limit: float
    groups_compared: tuple[str, ...]
    groups_excluded: Mapping[str, str]
    explanation: str


@dataclass(frozen=True)
class FeatureAudit(_ToDict):
    """Groups of one sensitive feature (or intersection) and the gaps between them."""

    feature: str
    groups: tuple[Group, ...]
    disparities: Mapping[str, Disparity]
    summary: Mapping[str, Value]  # fairlearn-style headline numbers
    # headline -> group -> why it was left out of that headline (and of its verdict).
    summary_excluded: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)


@dataclass(frozen=True)
class ClassificationAudit(_ToDict):
    positive_label: str
    rows: int
    confidence: float
    thresholds: Thresholds
    features: tuple[FeatureAudit, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def status(self) -> str:
        statuses = {v.status for v in self.verdicts}
        if not statuses:  # nothing was checked, so nothing passed
            return REPORTED
        return FAIL if FAIL in statuses else INSUFFICIENT if INSUFFICIENT in statuses else PASS

    def feature(self, name: str) -> FeatureAudit:
        return next(f for f in self.features if f.feature == name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "classification", "status": self.status, **super().to_dict()}


@dataclass(frozen=True)
class RegressionAudit(_ToDict):
    rows: int
    min_group_size: int
    features: tuple[FeatureAudit, ...]

    def feature(self, name: str) -> FeatureAudit:
        return next(f for f in self.features if f.feature == name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "regression", **super().to_dict()}


# ---------------------------------------------------------------- input handling


def _column(name: str, values: Any, rows: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise AuditError(f"{name} must be one column of values, got shape {array.shape}.")
    if rows is not None and len(array) != rows:
        raise AuditError(f"{name} has {len(array)} values but y_true has {rows}; they must match.")
    return array


def _no_missing(name: str, array: np.ndarray) -> None:
    if array.dtype.kind in "OfcU" and bool(pd.isna(array).any()):
        raise AuditError(f"{name} has missing values; drop or fill those rows first.")


def _factorize(feature: str, values: Any, rows: int, max_groups: int) -> tuple[np.ndarray, list]:
    """Group codes 0..k-1 (sorted by value, missing last) and the group names."""
    if not isinstance(values, pd.Series | pd.Index | pd.Categorical | np.ndarray):
        values = np.asarray(list(values), dtype=object)
    if len(values) != rows:
        raise AuditError(
            f"Sensitive feature '{feature}' has {len(values)} values but y_true has {rows}; "
            "they must match."
        )
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types that do not sort; keep first-seen order
        codes, uniques = pd.factorize(values)
    names = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING)
    if len(names) > max_groups:
        raise AuditError(
            f"Sensitive feature '{feature}' has {len(names)} distinct groups, more than the "
            f"limit of {max_groups}; is it an identifier or a continuous value? Bin it first."
        )
    # int32 codes: half the memory of intp, and group counts stay far below 2**31.
    return codes.astype(np.int32, copy=False), names


def _groupings(
    sensitive: Mapping[str, Any], intersections: Sequence[Sequence[str]], rows: int, max_groups: int
) -> list[tuple[str, np.ndarray, list[str]]]:
    if not sensitive:
        raise AuditError("Give at least one sensitive feature to audit.")
    single = {f: _factorize(f, v, rows, max_groups) for f, v in sensitive.items()}
    # Held for the whole audit, one array per feature: the narrowest type their groups fit.
    single = {f: (_narrow(codes, len(names)), names) for f, (codes, names) in single.items()}
    out = [(f, codes, names) for f, (codes, names) in single.items()]
    for combo in intersections:
        combo = tuple(combo)
        unknown = [f for f in combo if f not in single]
        if unknown or len(combo) < 2:
            raise AuditError(
                f"Intersection {combo!r} must name two or more of the sensitive features "
                f"{sorted(single)}."
            )
        codes, names = single[combo[0]][0], single[combo[0]][1]
        for feature in combo[1:]:
            other, other_names = single[feature]
            joint = codes.astype(np.int64) * len(other_names) + other
            size = len(names) * len(other_names)
            if size <= 50_000_000:  # dense lookup beats sorting
                present = np.flatnonzero(np.bincount(joint, minlength=size))
                lookup = np.zeros(size, dtype=np.int32)
                lookup[present] = np.arange(len(present))
                codes = lookup[joint]
            else:
                present, codes = np.unique(joint, return_inverse=True)
                codes = codes.astype(np.int32)
            del joint
            codes = _narrow(codes, len(present))
            names = [
                f"{names[i]}{JOIN}{other_names[j]}"
                for i, j in zip(*divmod(present, len(other_names)), strict=True)
            ]
            if len(names) > max_groups:
                raise AuditError(
                    f"Intersection {JOIN.join(combo)} has {len(names)} groups, more than the "
                    f"limit of {max_groups}."
                )
        out.append((JOIN.join(combo), codes, names))
    return out


def _binarize(y_true: np.ndarray, y_pred: np.ndarray, positive_label: Any) -> tuple:
    seen_true = set(pd.unique(y_true).tolist())
    seen_pred = set(pd.unique(y_pred).tolist())
    if positive_label not in seen_true:
        raise AuditError(
            f"The positive label {positive_label!r} never occurs in y_true "
            f"(values seen: {sorted(map(repr, seen_true))[:10]})."
        )
    if len(seen_true) > 2:
        raise AuditError(
            f"y_true has {len(seen_true)} distinct labels; a fairness audit needs two. "
            "Use class_report for multiclass labels, or map them to positive / negative."
        )
    extra = seen_pred - seen_true
    if len(seen_true | seen_pred) > 2:
        raise AuditError(
            f"y_pred has values other than the two labels of y_true: "
            f"{sorted(map(repr, extra))[:10]}."
        )
    return np.asarray(y_true == positive_label, bool), np.asarray(y_pred == positive_label, bool)


# ---------------------------------------------------------------- computation


def _score_order(score: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in score order, with the labels in that order, and the scores: one sort shared
    by every feature's ROC AUC."""
    order = np.argsort(score)
    if len(order) < 2**31:
        order = order.astype(np.int32)  # half the memory of the default intp
    return order, t[order], score


def _narrow(codes: np.ndarray, k: int) -> np.ndarray:
    """Group codes in the smallest integer type, which NumPy's stable sort radix-sorts."""
    small = np.int8 if k < 2**7 else np.int16 if k < 2**15 else np.int32
    return codes.astype(small, copy=False)


def _auc(
    codes: np.ndarray, k: int, by_score: tuple[np.ndarray, np.ndarray, np.ndarray], pos, neg
) -> list[Value]:
    """Per-group ROC AUC from mid-ranks (the Mann-Whitney form, ties counted half).

    A stable sort by group of the rows already in score order leaves each group's scores
    sorted; a positive's mid-rank within its group is then the mean of its two
    ``searchsorted`` positions among them. Rank sums are sums of half-integers: exact.
    """
    order, t_sorted, score = by_score
    perm = np.argsort(_narrow(codes, k)[order], kind="stable")
    if len(perm) < 2**31:
        perm = perm.astype(np.int32)  # half the memory of intp while the rows are gathered
    t = t_sorted[perm]
    rows = order[perm]
    del perm
    s = score[rows]  # not kept sorted between features: one column less held
    del rows
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=k))))
    rank_sum = np.zeros(k)
    for j in range(k):  # each group is a slice; the work is one pass over the rows in all
        scores = s[bounds[j] : bounds[j + 1]]
        wanted = scores[t[bounds[j] : bounds[j + 1]]]
        below = np.searchsorted(scores, wanted, "left")
        upto = np.searchsorted(scores, wanted, "right")
        rank_sum[j] = ((below + upto + 1) / 2.0).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    return [
        Value(float(a)) if p and q else Value(None, BOTH_CLASSES)
        for a, p, q in zip(auc, pos, neg, strict=True)
    ]


def _left_out(
    groups: Sequence[Group], metrics: Sequence[str], min_size: int, max_width: float | None
) -> dict[str, str]:
    """Group -> why it cannot take part in a gap of ``metrics`` (the first reason found)."""
    excluded = {}
    for g in groups:
        if g.count < min_size:
            excluded[g.name] = f"{g.count} rows, fewer than the minimum of {min_size}"
            continue
        for m in metrics:
            v = g.metrics[m]
            if v.value is None:
                # One metric: its reason alone; several: say which metric it is.
                reason = v.reason or "undefined"
                excluded[g.name] = reason if len(metrics) == 1 else f"{metric_phrase(m)}: {reason}"
                break
            if max_width is not None and v.interval and v.interval[1] - v.interval[0] > max_width:
                excluded[g.name] = (
                    f"{metric_phrase(m)} interval {v.interval[0]:.3f}-{v.interval[1]:.3f} is "
                    f"wider than {max_width}"
                )
                break
    return excluded


@dataclass(frozen=True)
class _Gap:
    difference: Value
    ratio: Value
    compared: tuple[str, ...]
    excluded: dict[str, str]


def _gap(
    groups: Sequence[Group], metrics: Sequence[str], min_size: int, max_width: float | None
) -> _Gap:
    """The gap between groups over ``metrics``: the largest max - min and the smallest
    min / max, over the groups kept for every one of them."""
    excluded = _left_out(groups, metrics, min_size, max_width)
    kept = [g for g in groups if g.name not in excluded]
    names = tuple(g.name for g in kept)
    if len(kept) < 2:
        why = "fewer than two groups are large enough to compare"
        return _Gap(Value(None, why), Value(None, why), names, excluded)
    differences, ratios = [], []
    for m in metrics:
        vals = [g.value(m) for g in kept]
        lo, hi = min(vals), max(vals)
        differences.append(hi - lo)
        if lo >= 0 and hi > 0:
            ratios.append(Value(lo / hi))
        else:
            ratios.append(Value(None, "every group is 0" if hi == 0 else "values of both signs"))
    undefined = [r for r in ratios if r.value is None]
    ratio = undefined[0] if undefined else min(ratios, key=lambda r: r.value)
    return _Gap(Value(max(differences)), ratio, names, excluded)


def _disparity(
    metric: str, groups: Sequence[Group], min_size: int, max_width: float | None = None
) -> Disparity:
    gap = _gap(groups, (metric,), min_size, max_width)
    return Disparity(metric, gap.difference, gap.ratio, gap.compared, gap.excluded)


def _verdict(
    name: str,
    feature: str,
    groups: Sequence[Group],
    metrics: Sequence[str],
    limit: float,
    th: Thresholds,
    gap: bool,
) -> Verdict:
    found = _gap(groups, metrics, th.min_group_size, th.max_interval_width)
    names, excluded = found.compared, found.excluded
    need = 2 if gap else 1
    if len(names) < need:
        what = "two groups" if gap else "one group"
        text = f"Fewer than {what} have enough rows and narrow enough intervals to judge."
        return Verdict(name, feature, INSUFFICIENT, None, limit, names, excluded, text)
    if gap:
        # The very number the headline gaps and the between-groups table show.
        value = found.difference.value
        ok = value <= limit
        text = f"Largest gap {value:.4f} {'is within' if ok else 'exceeds'} the limit {limit}."
    else:
        kept = [g for g in groups if g.name in names]
        worst = min(kept, key=lambda g: g.value(metrics[0]))
        value = worst.value(metrics[0])
        ok = value >= limit
        text = f"Lowest {metric_phrase(metrics[0])} {value:.4f} (group {worst.name}) is "
        text += f"{'at or above' if ok else 'below'} the minimum {limit}."
    return Verdict(name, feature, PASS if ok else FAIL, value, limit, names, excluded, text)


#: headline gap -> (the rates it spans, difference or ratio)
HEADLINES: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equal_opportunity_difference": (("recall",), "difference"),
    "equalized_odds_difference": (("recall", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("recall", "false_positive_rate"), "ratio"),
}


def classification_audit(
    y_true: Any,
    y_pred: Any,
    sensitive: Mapping[str, Any],
    *,
    positive_label: Any,
    y_score: Any = None,
    intersections: Sequence[tuple[str, ...]] = (),
    thresholds: Thresholds = Thresholds(),
    confidence: float = 0.95,
    max_groups: int = 1000,
) -> ClassificationAudit:
    """Audit a binary classifier's outcomes across sensitive groups (see module docstring)."""
    y_true = _column("y_true", y_true)
    rows = len(y_true)
    if rows == 0:
        raise AuditError("There are no rows to audit.")
    y_pred = _column("y_pred", y_pred, rows)
    _no_missing("y_true", y_true)
    _no_missing("y_pred", y_pred)
    t, p = _binarize(y_true, y_pred, positive_label)
    score = None
    if y_score is not None:
        score = _column("y_score", y_score, rows)
        try:
            score = score.astype(np.float64)
        except (TypeError, ValueError):
            score = np.array([np.nan])
        if np.isnan(score).any() or score.min() < 0 or score.max() > 1:
            raise AuditError("y_score must be probabilities between 0 and 1 with no missing value.")
    if not 0 < confidence < 1:
        raise AuditError(f"confidence must be between 0 and 1, got {confidence}.")
    groupings = _groupings(sensitive, intersections, rows, max_groups)
    by_score = _score_order(score, t) if score is not None else None
    gap_set = any(getattr(thresholds, name) is not None for name, _, gap in CHECKS if gap)
    cell = t.astype(np.int8) * 2 + p  # 0 tn, 1 fp, 2 fn, 3 tp
    features, verdicts = [], []
    for feature, codes, names in groupings:
        k = len(names)
        if k < 2 and gap_set:
            raise AuditError(
                f"Sensitive feature '{feature}' has only one group ({names[0]!r}), so gaps "
                "between groups cannot be judged."
            )
        # In intp, which bincount counts in, so the narrow codes are widened once.
        cells = np.multiply(codes, 4, dtype=np.intp)
        cells += cell
        tn, fp, fn, tp = np.bincount(cells, minlength=4 * k).reshape(k, 4).T
        del cells
        c = np.stack([tp, fp, tn, fn]).astype(np.float64)
        per_metric = {}
        for metric, (num, den, reason) in RATES.items():
            vals = rates(num(c), den(c), reason)
            if metric in WITH_INTERVAL:
                vals = with_intervals(vals, num(c), den(c), confidence)
            per_metric[metric] = vals
        rec, tnr = per_metric["recall"], per_metric["true_negative_rate"]
        per_metric["balanced_accuracy"] = [
            Value((a.value + b.value) / 2)
            if a.value is not None and b.value is not None
            else Value(None, BOTH_CLASSES)
            for a, b in zip(rec, tnr, strict=True)
        ]
        if by_score is not None:
            per_metric["roc_auc"] = _auc(codes, k, by_score, tp + fn, tn + fp)
        groups = tuple(
            Group(
                feature,
                names[i],
                int(c[:, i].sum()),
                float(c[:, i].sum() / rows),
                {m: vals[i] for m, vals in per_metric.items()},
                {"tp": int(tp[i]), "fp": int(fp[i]), "tn": int(tn[i]), "fn": int(fn[i])},
            )
            for i in range(k)
        )
        ms, width = thresholds.min_group_size, thresholds.max_interval_width
        disp = {m: _disparity(m, groups, ms, width) for m in per_metric if m != "base_rate"}
        summary, summary_excluded = {}, {}
        for headline, (metrics, part) in HEADLINES.items():
            found = _gap(groups, metrics, ms, width)
            summary[headline] = getattr(found, part)
            summary_excluded[headline] = found.excluded
        features.append(FeatureAudit(feature, groups, disp, summary, summary_excluded))
        for name, metrics, gap in CHECKS:
            limit = getattr(thresholds, name)
            if limit is not None:
                verdicts.append(_verdict(name, feature, groups, metrics, limit, thresholds, gap))
    return ClassificationAudit(
        str(positive_label), rows, confidence, thresholds, tuple(features), tuple(verdicts)
    )


def regression_audit(
    y_true: Any,
    y_pred: Any,
    sensitive: Mapping[str, Any],
    *,
    intersections: Sequence[tuple[str, ...]] = (),
    min_group_size: int = 30,
    max_groups: int = 1000,
) -> RegressionAudit:
    """Per-group error of a regressor: mean of y_true and y_pred, mean error (pred - true),
    MAE, RMSE and R², with differences and ratios between groups."""
    y_true = _column("y_true", y_true)
    rows = len(y_true)
    if rows == 0:
        raise AuditError("There are no rows to audit.")
    y_pred = _column("y_pred", y_pred, rows)
    try:
        y, f = y_true.astype(np.float64), y_pred.astype(np.float64)
    except (TypeError, ValueError):
        raise AuditError("y_true and y_pred must be numbers for a regression audit.") from None
    if not (np.isfinite(y).all() and np.isfinite(f).all()):
        raise AuditError("y_true and y_pred must be finite numbers with no missing value.")
    err = f - y
    features = []
    for feature, codes, names in _groupings(sensitive, intersections, rows, max_groups):
        k = len(names)
        n = np.bincount(codes, minlength=k).astype(np.float64)
        mean_true = np.bincount(codes, weights=y, minlength=k) / n
        sst = np.bincount(codes, weights=(y - mean_true[codes]) ** 2, minlength=k)
        sse = np.bincount(codes, weights=err**2, minlength=k)
        cols = {
            "mean_true": mean_true,
            "mean_pred": np.bincount(codes, weights=f, minlength=k) / n,
            "mean_error": np.bincount(codes, weights=err, minlength=k) / n,
            "mae": np.bincount(codes, weights=np.abs(err), minlength=k) / n,
            "rmse": np.sqrt(sse / n),
        }
        groups = []
        for i in range(k):
            metrics = {m: Value(float(v[i])) for m, v in cols.items()}
            ok = sst[i] > 0 and n[i] >= 2
            metrics["r2"] = (
                Value(float(1 - sse[i] / sst[i])) if ok else Value(None, "y_true is constant here")
            )
            groups.append(Group(feature, names[i], int(n[i]), float(n[i] / rows), metrics))
        disp = {m: _disparity(m, groups, min_group_size) for m in groups[0].metrics}
        features.append(FeatureAudit(feature, tuple(groups), disp, {}))
    return RegressionAudit(rows, min_group_size, tuple(features))


@dataclass(frozen=True)
class ClassRow(_ToDict):
    label: str
    support: int
    predicted: int
    precision: Value
    recall: Value
    f1: Value
    flagged: bool  # support below min_support: its numbers are fragile


@dataclass(frozen=True)
class ClassReport(_ToDict):
    min_support: int
    classes: tuple[ClassRow, ...]

    @property
    def rare(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.classes if r.flagged)

    def to_dict(self) -> dict[str, Any]:
        return {"rare_classes": list(self.rare), **super().to_dict()}


def class_report(y_true: Any, y_pred: Any, *, min_support: int = 30) -> ClassReport:
    """Per-class precision, recall and F1 with support; classes rarer than ``min_support``
    in y_true are flagged."""
    y_true = _column("y_true", y_true)
    if len(y_true) == 0:
        raise AuditError("There are no rows to report on.")
    y_pred = _column("y_pred", y_pred, len(y_true))
    _no_missing("y_true", y_true)
    _no_missing("y_pred", y_pred)
    if y_true.dtype.kind in "biu" and y_pred.dtype.kind in "biu":
        # Integer labels: the sorted labels factorize would find (in the type the two sides
        # join in), and narrow codes found side by side rather than over a joined copy.
        labels = np.union1d(np.unique(y_true), np.unique(y_pred))
        small = np.int8 if len(labels) <= 2**7 else np.int32
        ct = np.searchsorted(labels, y_true).astype(small, copy=False)
        cp = np.searchsorted(labels, y_pred).astype(small, copy=False)
    else:
        both = np.concatenate([y_true.astype(object), y_pred.astype(object)])
        try:
            codes, labels = pd.factorize(both, sort=True)
        except TypeError:
            codes, labels = pd.factorize(both)
        ct, cp = codes[: len(y_true)], codes[len(y_true) :]
    k = len(labels)
    support = np.bincount(ct, minlength=k)
    predicted = np.bincount(cp, minlength=k)
    correct = np.bincount(ct[ct == cp], minlength=k)
    prec = rates(correct, predicted, "never predicted")
    rec = rates(correct, support, "never occurs in y_true")
    f1 = rates(2 * correct, support + predicted, "")
    rows = tuple(
        ClassRow(
            str(labels[i]),
            int(support[i]),
            int(predicted[i]),
            prec[i],
            rec[i],
            f1[i],
            bool(support[i] < min_support),
        )
        for i in range(k)
    )
    return ClassReport(min_support, rows)
