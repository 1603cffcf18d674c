"""A metric's points summed up per minute or per hour, and read back as a chart series.

Pure: NumPy, no Django. A bucket holds the statistics of the points whose time falls in
``[bucket, bucket + width)``: count, sum, lowest, highest and the percentiles of
:func:`deployments.analysis.window.window_stats` (NumPy's linear interpolation, as
PostgreSQL's ``percentile_cont``). Buckets are recomputed from their points, never added
up, so a bucket is exact however its points arrived. The PostgreSQL query in
``deployments/services/rollups.py`` computes the same buckets where the points are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .charts import MetricSeries, empty_series
from .window import window_stats

MINUTE = 60
HOUR = 3600
#: Spans up to this long are read per minute, longer ones per hour.
MINUTE_SPAN = 6 * HOUR


@dataclass(frozen=True)
class Bucket:
    """One metric's points in ``[start, start + width)``; ``start`` in seconds since the
    epoch (UTC)."""

    start: float
    count: int
    total: float
    minimum: float
    maximum: float
    p50: float
    p95: float
    p99: float

    def statistic(self, name: str, width: float) -> float:
        """The bucket's value of one statistic of the catalog (``rate``: sum per second)."""
        if name == "mean":
            return self.total / self.count
        if name == "sum":
            return self.total
        if name == "count":
            return float(self.count)
        if name == "rate":
            return self.total / width
        if name in ("min", "max"):
            return self.minimum if name == "min" else self.maximum
        return float(getattr(self, name))


def bucket_stats(
    times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, width: int
) -> list[Bucket]:
    """Points (``times`` in seconds since the epoch) summed up per ``width`` seconds, in
    time order; buckets without points are left out."""
    t = np.asarray(times, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if t.shape != v.shape:
        raise ValueError(f"{t.size:,} times for {v.size:,} values; give one time per value.")
    if width <= 0:
        raise ValueError("A bucket lasts a positive number of seconds.")
    slot = np.floor(t / width)
    order = np.argsort(slot, kind="stable")
    slot, v = slot[order], v[order]
    starts, first = np.unique(slot, return_index=True)
    buckets = []
    for start, part in zip(starts, np.split(v, first[1:]), strict=True):
        stats = window_stats(part)
        if stats is None:  # only non-finite values: nothing to show
            continue
        buckets.append(
            Bucket(
                start=float(start) * width,
                count=stats.count,
                total=stats.sum,
                minimum=stats.min,
                maximum=stats.max,
                p50=stats.p50,
                p95=stats.p95,
                p99=stats.p99,
            )
        )
    return buckets


def resolution_for(span_seconds: float) -> int:
    """Per minute for a few hours, per hour beyond: at most 720 buckets for 30 days."""
    return MINUTE if span_seconds <= MINUTE_SPAN else HOUR


def merge_spans(
    spans: Iterable[tuple[float, float]], width: int = HOUR
) -> list[tuple[float, float]]:
    """Time spans (first and last point) widened to whole ``width`` buckets and joined
    where they touch: the ranges whose buckets must be recomputed."""
    widened = sorted(
        (np.floor(lo / width) * width, (np.floor(hi / width) + 1) * width) for lo, hi in spans
    )
    merged: list[tuple[float, float]] = []
    for lo, hi in widened:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((float(lo), float(hi)))
    return merged


def rollup_series(
    metric: str, buckets: Sequence[Bucket], statistic: str, width: int
) -> MetricSeries:
    """Buckets as a chart series: each bucket's ``statistic`` at its middle, with its lowest
    and highest point as the band."""
    if not buckets:
        return empty_series(metric)
    values = tuple(b.statistic(statistic, width) for b in buckets)
    # A count, sum or rate is not on the scale of the points' values: no band for it.
    per_value = statistic not in ("count", "sum", "rate")
    return MetricSeries(
        metric=metric,
        times=tuple(b.start + width / 2 for b in buckets),
        values=values,
        lows=tuple(b.minimum for b in buckets) if per_value else values,
        highs=tuple(b.maximum for b in buckets) if per_value else values,
        counts=tuple(b.count for b in buckets),
    )
