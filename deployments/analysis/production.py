"""What a production period's rows say, as metric points: inputs per column, outputs from
the score, and whether a drift check of the newest period is due. Plain Python, no Django.

Input metrics, per column the caller does not leave out (the label, personal data, the
score itself): ``input.missing_share`` (missing values over rows), ``input.mean`` (finite
values of a numeric column), ``input.category_share`` per value of the
:data:`TOP_CATEGORIES` most frequent values of a text or true/false column (over its
non-missing values; identifiers, with a different value in nearly every row, are left out
of it), ``input.text_length`` (characters, non-missing text), and ``input.rows`` once.

Output metrics, from the score column: ``output.null_share`` (missing scores over rows),
``output.score_mean``, ``output.score_p50``, ``output.score_p90`` (finite scores; numpy's
linear percentiles) and ``output.positive_rate`` (finite scores at or above the threshold;
for a true/false prediction, the share of true).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

#: The most frequent values of a column that get a share each.
TOP_CATEGORIES = 10
#: A text column with distinct values in at least this share of its values is an
#: identifier: its shares say nothing (as in deployments.services.drift).
IDENTIFIER_SHARE = 0.95
#: A label value is text of at most this many characters (deployments.analysis.points).
MAX_LABEL_VALUE = 200
DEFAULT_THRESHOLD = 0.5

NUMERIC, CATEGORICAL, BOOLEAN = "numeric", "categorical", "boolean"


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PeriodMetrics:
    rows: int
    metrics: tuple[Metric, ...]

    def as_points(self, timestamp: datetime) -> list[dict]:
        """Points for ``metrics_push``, all at ``timestamp``."""
        at = timestamp.isoformat()
        return [
            {"name": m.name, "value": m.value, "timestamp": at, "labels": dict(m.labels)}
            for m in self.metrics
        ]


def _finite(values: pd.Series) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return array[np.isfinite(array)]


def _category_shares(column: str, present: pd.Series) -> list[Metric]:
    if present.empty:
        return []
    text = present.map(lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else str(v))
    counts = text.value_counts()
    if len(counts) >= IDENTIFIER_SHARE * len(text) and len(text) > TOP_CATEGORIES:
        return []
    # Most frequent first; ties in the order of the values, so the points are reproducible.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_CATEGORIES]
    return [
        Metric(
            "input.category_share",
            count / len(text),
            {"column": column[:MAX_LABEL_VALUE], "value": value[:MAX_LABEL_VALUE]},
        )
        for value, count in ranked
    ]


def input_metrics(
    frame: pd.DataFrame, kinds: Mapping[str, str], *, skip: Collection[str] = ()
) -> list[Metric]:
    """Per column of ``frame`` not in ``skip``, by its profiled kind (numeric, categorical,
    boolean; others get their missing share only)."""
    rows = len(frame)
    metrics = [Metric("input.rows", float(rows))]
    if rows == 0:
        return metrics
    for column in frame.columns:
        if column in skip:
            continue
        values = frame[column]
        labels = {"column": str(column)[:MAX_LABEL_VALUE]}
        present = values.dropna()
        metrics.append(Metric("input.missing_share", 1 - len(present) / rows, labels))
        kind = kinds.get(column)
        if kind == NUMERIC:
            finite = _finite(present)
            if finite.size:
                metrics.append(Metric("input.mean", float(finite.mean()), labels))
        elif kind in (CATEGORICAL, BOOLEAN):
            metrics += _category_shares(str(column), present)
            if kind == CATEGORICAL and not present.empty:
                lengths = present.astype(str).str.len()
                metrics.append(Metric("input.text_length", float(lengths.mean()), labels))
    return metrics


def output_metrics(
    scores: pd.Series, kind: str, *, threshold: float = DEFAULT_THRESHOLD
) -> list[Metric]:
    """From the score (or prediction) column: its missing share, its distribution and the
    positive rate at ``threshold``."""
    rows = len(scores)
    if rows == 0:
        return []
    present = scores.dropna()
    metrics = [Metric("output.null_share", 1 - len(present) / rows)]
    if kind == NUMERIC:
        finite = _finite(present)
        if finite.size:
            p50, p90 = np.percentile(finite, [50, 90])
            metrics += [
                Metric("output.score_mean", float(finite.mean())),
                Metric("output.score_p50", float(p50)),
                Metric("output.score_p90", float(p90)),
                Metric("output.positive_rate", float((finite >= threshold).mean())),
            ]
    elif kind == BOOLEAN and not present.empty:
        metrics.append(Metric("output.positive_rate", float(present.astype(bool).mean())))
    return metrics


def period_metrics(
    frame: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    score_column: str | None,
    skip: Collection[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> PeriodMetrics:
    """Every input and output metric of one period's rows."""
    left_out = {*skip, *([score_column] if score_column else [])}
    metrics = input_metrics(frame, kinds, skip=left_out)
    if score_column and score_column in frame.columns:
        metrics += output_metrics(
            frame[score_column], kinds.get(score_column, ""), threshold=threshold
        )
    return PeriodMetrics(rows=len(frame), metrics=tuple(metrics))


def drift_check_due(
    *,
    newest_period_checked: bool,
    last_check_at: datetime | None,
    cadence_days: int,
    now: datetime,
) -> bool:
    """A scheduled drift check is due when the newest period has none yet and the last
    check of the deployment is older than the cadence (or there is none)."""
    if newest_period_checked:
        return False
    return last_check_at is None or now - last_check_at >= timedelta(days=cadence_days)
