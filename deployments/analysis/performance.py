"""A live model's performance per production period: delayed labels joined by prediction
id, the metrics they give, the audit's group metrics over them, and the verdict on decay
against the reference evaluation. Plain Python (NumPy, pandas), no Django.

Prediction ids are compared as text: an integer id and the same id read as a float
(``17`` and ``17.0``, as CSV readers give a column with a gap) are one id; integers are
written whole, however large. A label batch may name an id more than once; its last row
counts, as a later batch's label replaces an earlier one (a correction). An id found in
two periods labels its row in each.

The realized metrics are those of :func:`deployments.analysis.estimate.realized` over the
labelled rows with a score: the same definitions as the estimate, so the two can be drawn
side by side. The group metrics are :func:`audits.analysis.fairness.classification_audit`
over the same rows, by each sensitive column the period holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.analysis.fairness import AuditError, Thresholds, classification_audit

from .estimate import EstimateError, realized

#: How many unmatched ids a label batch's result names.
MAX_NAMED = 20
#: The group metrics kept per group of a period.
GROUP_METRICS = ("selection_rate", "recall", "false_positive_rate", "precision")
#: The gaps between groups kept per sensitive column.
GROUP_GAPS = ("demographic_parity_difference", "equalized_odds_difference")


class LabelError(ValueError):
    """Labels that cannot be used as given; one sentence for a person."""


def id_text(values: Any) -> pd.Series:
    """Prediction ids as text, missing ones as NA: integral floats lose their ``.0``."""
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("string")
    if pd.api.types.is_integer_dtype(series.dtype):
        # Whole already: never through a float, which rounds ids past 2**53.
        return series.astype("Int64").astype("string")
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = pd.to_numeric(series, errors="coerce").astype(float)
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers)) & (numbers.abs() < 2**53)
        text = numbers.astype("string")
        text[whole] = numbers[whole].astype("int64").astype("string")
        text[~np.isfinite(numbers)] = pd.NA
        return text
    text = series.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def label_text(values: Any) -> pd.Series:
    """Labels as text for comparing with the reference's classes (``1.0`` reads ``1``,
    ``True`` reads ``true``)."""
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("string").str.lower()
    return id_text(series)


@dataclass(frozen=True)
class Join:
    """What a label batch found among the production rows."""

    rows: int
    matched: int
    unmatched: int
    #: The first unmatched ids, in the batch's order.
    unmatched_ids: tuple[str, ...]
    #: Rows without an id, and rows with an id but no label: left out, counted.
    without_id: int
    without_label: int
    #: Ids the batch names more than once (its last row counts).
    repeated: int
    #: Per period (by the key the caller gave): how many of the batch's ids it holds.
    periods: Mapping[Any, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "unmatched_ids": list(self.unmatched_ids),
            "without_id": self.without_id,
            "without_label": self.without_label,
            "repeated": self.repeated,
            "periods": {str(key): count for key, count in self.periods.items()},
        }


def labels_by_id(ids: Any, labels: Any) -> tuple[pd.Series, dict[str, int]]:
    """The batch's labels indexed by id text (the last row of a repeated id), and the
    counts of rows left out."""
    keys, values = id_text(ids), label_text(labels)
    if len(keys) != len(values):
        raise LabelError("the id and label columns differ in length.")
    no_id = keys.isna()
    no_label = ~no_id & values.isna()
    kept = ~(no_id | no_label)
    frame = pd.Series(values[kept].to_numpy(), index=keys[kept].to_numpy())
    repeated = int(frame.index.duplicated(keep="last").sum())
    frame = frame[~frame.index.duplicated(keep="last")]
    counts = {
        "without_id": int(no_id.sum()),
        "without_label": int(no_label.sum()),
        "repeated": repeated,
    }
    return frame, counts


def join_labels(periods: Mapping[Any, Any], ids: Any, labels: Any) -> Join:
    """Join a batch of labels to the prediction ids of the ``periods`` (key -> ids)."""
    by_id, counts = labels_by_id(ids, labels)
    hit = np.zeros(len(by_id), dtype=bool)
    per_period = {}
    for key, known in periods.items():
        found = by_id.index.isin(id_text(known).dropna())
        if found.any():
            per_period[key] = int(found.sum())
        hit |= found
    missing = by_id.index[~hit]
    return Join(
        rows=len(pd.Series(ids)),
        matched=int(hit.sum()),
        unmatched=int((~hit).sum()),
        unmatched_ids=tuple(str(v) for v in missing[:MAX_NAMED]),
        periods=per_period,
        **counts,
    )


def binary_labels(values: pd.Series, classes: Sequence[str], positive: str) -> np.ndarray:
    """1 for the positive class, 0 for the other; a value that is neither is refused."""
    known = values.isin(list(classes))
    if not known.all():
        odd = values[~known].iloc[0]
        raise LabelError(
            f"the label {odd!r} is not one of the reference's classes "
            f"({', '.join(map(repr, classes))}); {int((~known).sum()):,} labels differ."
        )
    return (values == positive).to_numpy(dtype=np.int8)


def number(value: float | None) -> float | None:
    """A finite float, or None: what JSON can hold."""
    return float(value) if value is not None and math.isfinite(value) else None


def period_performance(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    sensitive: Mapping[str, Any] | None = None,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The realized metrics of the labelled rows (``labels`` 0/1, ``scores`` in [0, 1],
    one per row), their confusion matrix, and the group metrics by each sensitive column."""
    try:
        found = realized(labels, scores, threshold=threshold)
    except EstimateError as exc:
        raise LabelError(str(exc)) from None
    matrix = found.confusion_matrix
    body: dict[str, Any] = {
        "labelled": found.rows,
        "metrics": {name: number(value) for name, value in found.values.items()},
        "confusion": {k: int(getattr(matrix, k)) for k in ("tp", "fp", "tn", "fn")},
        "groups": [],
        "groups_note": "",
    }
    if sensitive:
        body["groups"], body["groups_note"] = group_metrics(
            labels, scores, threshold=threshold, sensitive=sensitive, min_size=min_group_size
        )
    return body


def group_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    sensitive: Mapping[str, Any],
    min_size: int = 30,
) -> tuple[list[dict[str, Any]], str]:
    """Per sensitive column: each group's size and rates, and the gaps between groups, as
    the fairness audit computes them (groups below ``min_size`` rows are shown, not
    compared)."""
    predicted = (scores >= threshold).astype(np.int8)
    columns = {
        name: pd.Series(values).astype("string").fillna("(missing)").to_numpy()
        for name, values in sensitive.items()
    }
    try:
        audit = classification_audit(
            labels,
            predicted,
            columns,
            positive_label=1,
            y_score=scores,
            thresholds=_report_only(min_size),
        )
    except AuditError as exc:
        return [], str(exc)
    features = []
    for feature in audit.features:
        features.append(
            {
                "feature": feature.feature,
                "groups": [
                    {
                        "name": str(group.name),
                        "count": group.count,
                        "metrics": {m: number(group.value(m)) for m in GROUP_METRICS},
                    }
                    for group in feature.groups
                ],
                "gaps": {
                    gap: number(feature.summary[gap].value)
                    for gap in GROUP_GAPS
                    if gap in feature.summary
                },
            }
        )
    return features, ""


def _report_only(min_size: int) -> Thresholds:
    # Production watches the gaps; their limits are the audit's decision, not this report's.
    return Thresholds(
        demographic_parity_difference=None,
        equalized_odds_difference=None,
        min_group_size=min_size,
    )


@dataclass(frozen=True)
class Decay:
    """A period's value of the watched metric against the reference evaluation's."""

    metric: str
    basis: str  # "realized" or "estimated"
    value: float
    reference: float
    max_drop: float

    @property
    def limit(self) -> float:
        return self.reference - self.max_drop

    @property
    def decayed(self) -> bool:
        return self.value < self.limit

    @property
    def drop(self) -> float:
        return self.reference - self.value


def decay_of(
    *,
    metric: str,
    max_drop: float,
    min_labels: int,
    reference: float | None,
    estimated: float | None,
    realized_value: float | None,
    labelled: int,
) -> Decay | None:
    """Judge a period on its realized value once it holds ``min_labels`` labelled rows,
    on its estimate before; None when neither (or the reference) is known."""
    if reference is None or not math.isfinite(reference):
        return None
    if labelled >= min_labels and realized_value is not None and math.isfinite(realized_value):
        return Decay(metric, "realized", realized_value, reference, max_drop)
    if estimated is not None and math.isfinite(estimated):
        return Decay(metric, "estimated", estimated, reference, max_drop)
    return None
