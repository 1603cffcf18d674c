"""Live metrics of a rollout window as chart series, at most a few hundred values each.

Which window a chart shows (:func:`chart_window`): the current step's while a rollout is
active, else the one its newest analysis judged, or any analysis asked for by id; with the
checks it is judged against as :class:`~deployments.analysis.charts.Target` lines.
:func:`window_series` reads each metric's pushed points in that window as equal-width time
buckets (:func:`deployments.analysis.charts.downsample`); on PostgreSQL the buckets are
computed where the points are, so a window of a million points sends 500 rows per metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from deployments import selectors
from deployments.analysis.catalog import CANARY, SHADOW
from deployments.analysis.charts import (
    MAX_POINTS,
    MetricSeries,
    Target,
    bucket_width,
    downsample,
    empty_series,
)
from deployments.analysis.window import derive_checks
from deployments.metrics import SHADOW_METRIC
from deployments.models import Analysis, Deployment, MetricPoint, Rollout
from deployments.services.rollouts import plan_steps

_BUCKETS_SQL = """
SELECT name, bucket, count(*), avg(epoch), avg(value), min(value), max(value)
FROM (
    SELECT name, value, extract(epoch FROM timestamp)::float8 AS epoch,
           LEAST(floor((extract(epoch FROM timestamp)::float8 - %s) / %s), %s)::int AS bucket
    FROM deployments_metricpoint
    WHERE deployment_id = %s AND name = ANY(%s) AND timestamp >= %s AND timestamp < %s
) AS points
GROUP BY name, bucket
ORDER BY name, bucket
"""


def window_series(
    deployment: Deployment,
    metrics: Iterable[str],
    start: datetime,
    end: datetime,
    *,
    max_points: int = MAX_POINTS,
) -> dict[str, MetricSeries]:
    """Each metric's pushed points in ``[start, end)`` in at most ``max_points`` time
    buckets (a bucket of one point is that point); one query for all metrics."""
    names = sorted(set(metrics))
    if not names:
        return {}
    if connection.vendor != "postgresql":
        return _numpy_series(deployment, names, start, end, max_points)
    width = bucket_width(start, end, max_points)
    rows: dict[str, list[tuple]] = {name: [] for name in names}
    with connection.cursor() as cursor:
        cursor.execute(
            _BUCKETS_SQL,
            [start.timestamp(), width, max_points - 1, deployment.pk, names, start, end],
        )
        for name, _bucket, count, epoch, mean, low, high in cursor.fetchall():
            rows[name].append((float(epoch), float(mean), float(low), float(high), int(count)))
    return {
        name: MetricSeries(name, *(tuple(column) for column in zip(*found, strict=True)))
        if found
        else empty_series(name)
        for name, found in rows.items()
    }


def _numpy_series(
    deployment: Deployment, names: list[str], start: datetime, end: datetime, max_points: int
) -> dict[str, MetricSeries]:
    points = MetricPoint.objects.filter(
        deployment=deployment, name__in=names, timestamp__gte=start, timestamp__lt=end
    ).values_list("name", "timestamp", "value")
    gathered: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for name, moment, value in points.iterator(chunk_size=10_000):
        times, values = gathered[name]
        times.append(moment.timestamp())
        values.append(value)
    return {
        name: downsample(name, times, values, start=start, end=end, max_points=max_points)
        for name, (times, values) in gathered.items()
    }


# --- which window ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartWindow:
    """A window to chart and the checks that judge it, metric by metric."""

    start: datetime
    end: datetime
    #: Step index and share of traffic the window belongs to.
    step: int
    traffic: float
    #: The stored analysis drawn, or None for the current step's live window.
    analysis: Analysis | None = None
    #: While the current step's window is open: now (the rest is still to come).
    now: datetime | None = None
    #: Metric -> its targets, in the order the checks come.
    targets: dict[str, list[Target]] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.now is not None


def _targets(checks: Iterable[dict]) -> dict[str, list[Target]]:
    by_metric: dict[str, list[Target]] = {}
    for check in checks:
        by_metric.setdefault(check["metric"], []).append(
            Target(
                label=check["name"],
                comparator=check["comparator"],
                threshold=float(check["threshold"]),
                unit=check.get("unit") or "",
                status=check.get("status") or "",
                observed=check.get("observed"),
            )
        )
    return by_metric


def _live_window(rollout: Rollout, now: datetime) -> ChartWindow:
    """The current step's window: from its start until its length has run, then the last
    ``window_minutes`` before now (what a promotion would read)."""
    content = rollout.plan.content
    step = plan_steps(content)[rollout.step]
    length = timedelta(minutes=step.window_minutes)
    closes = rollout.step_started_at + length
    start, end, still = (
        (rollout.step_started_at, closes, now) if now < closes else (now - length, now, None)
    )
    share = step.traffic if rollout.pattern == CANARY else 100.0
    criteria = selectors.project_criteria(rollout.deployment.project)
    checks = [c.as_dict() for c in derive_checks(content, criteria, traffic=share)]
    if rollout.pattern == SHADOW:
        pattern = content["pattern"]
        checks.append(
            {
                "name": "shadow agreement",
                "metric": SHADOW_METRIC,
                "comparator": ">=",
                "threshold": pattern["agreement_min"],
                "unit": "share",
            }
        )
    return ChartWindow(
        start=start,
        end=end,
        step=rollout.step,
        traffic=rollout.traffic,
        now=still,
        targets=_targets(checks),
    )


def _analysed_window(analysis: Analysis) -> ChartWindow:
    return ChartWindow(
        start=analysis.window_start,
        end=analysis.window_end,
        step=analysis.step,
        traffic=analysis.traffic,
        analysis=analysis,
        targets=_targets(analysis.checks.get("checks", [])),
    )


def chart_window(
    rollout: Rollout | None,
    *,
    analysis: Analysis | None = None,
    newest: Analysis | None = None,
    now: datetime | None = None,
) -> ChartWindow | None:
    """The window to chart: ``analysis`` when one is asked for; else the active rollout's
    current step; else the ``newest`` analysis of the rollout; None when there is none."""
    if analysis is not None:
        return _analysed_window(analysis)
    if rollout is not None and rollout.status == Rollout.Status.ACTIVE:
        return _live_window(rollout, now or timezone.now())
    return _analysed_window(newest) if newest is not None else None
