"""Per-minute and per-hour rollups of pushed metric points, kept up to date by the worker.

A push records, in its own transaction, the hours each metric touched as a
:class:`RollupDue` row; :func:`rollups_refresh` recomputes every bucket of those hours
from the points themselves and removes the rows. One refresh runs per deployment at a
time (it locks the deployment's row for no-key update, which pushes do not wait for), so
buckets are never written from an older reading than one already stored. A push enqueues
a refresh once it commits; when the broker is down the beat sweep finds the rows and
refreshes later, so nothing is lost and the push never fails for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from django.db import connection, transaction

from deployments.analysis.rollups import HOUR, MINUTE, Bucket, bucket_stats, merge_spans
from deployments.models import Deployment, MetricPoint, MetricRollup, RollupDue

log = logging.getLogger(__name__)

RESOLUTIONS = (MINUTE, HOUR)
#: Due rows read per refresh: a sweep after a long outage works through them in turns.
DUE_PER_REFRESH = 500
#: Points are read for at most this many seconds of one metric at a time (SQLite path).
READ_SPAN = 24 * HOUR

_ROLLUP_SQL = """
INSERT INTO deployments_metricrollup
    (deployment_id, name, resolution, bucket, count, total, minimum, maximum, p50, p95, p99)
SELECT %(deployment)s, %(name)s, %(width)s,
       to_timestamp(floor(extract(epoch FROM timestamp) / %(width)s) * %(width)s) AS bucket,
       count(*), sum(value), min(value), max(value),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY value)
FROM deployments_metricpoint
WHERE deployment_id = %(deployment)s AND name = %(name)s
  AND timestamp >= %(start)s AND timestamp < %(end)s
GROUP BY bucket
"""


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def rollups_due(deployment_id: int, rows: Iterable[tuple]) -> None:
    """Record the hours each metric of a batch being stored touches (``rows`` are (name,
    moment, value, labels)), as runs of consecutive hours; call inside the push's
    transaction. Runs, not one first-to-last span: a batch with one point from years ago
    recomputes that hour and today's, not every hour between."""
    hours: dict[str, set[int]] = {}
    for name, moment, *_ in rows:
        hours.setdefault(name, set()).add(int(moment.timestamp() // HOUR))
    if hours:
        RollupDue.objects.create(
            deployment_id=deployment_id,
            spans={name: _runs(sorted(touched)) for name, touched in hours.items()},
        )
        transaction.on_commit(lambda: publish_refresh(deployment_id))


def _runs(hours: list[int]) -> list[list[str]]:
    """Consecutive hour numbers as [first hour's start, last hour's start] in ISO 8601."""
    runs: list[list[int]] = []
    for hour in hours:
        if runs and hour == runs[-1][1] + 1:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    return [[_moment(lo * HOUR).isoformat(), _moment(hi * HOUR).isoformat()] for lo, hi in runs]


def publish_refresh(deployment_id: int) -> None:
    from deployments.tasks import rollups_refresh_task

    try:
        rollups_refresh_task.apply_async(args=[deployment_id], retry=False)
    except Exception:  # the broker is down: the beat sweep refreshes it later
        log.warning("Rollup refresh of deployment %s not published; the sweep will.", deployment_id)


def _recompute_sql(deployment_id: int, name: str, start: float, end: float) -> None:
    with connection.cursor() as cursor:
        # Percentiles sort each bucket's values: in memory rather than temporary files.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        for width in RESOLUTIONS:
            cursor.execute(
                _ROLLUP_SQL,
                {
                    "deployment": deployment_id,
                    "name": name,
                    "width": width,
                    "start": _moment(start),
                    "end": _moment(end),
                },
            )


def _recompute_numpy(deployment_id: int, name: str, start: float, end: float) -> None:
    made: list[MetricRollup] = []
    lo = start
    while lo < end:
        hi = min(lo + READ_SPAN, end)  # whole hours: READ_SPAN and the span are
        found = MetricPoint.objects.filter(
            deployment_id=deployment_id,
            name=name,
            timestamp__gte=_moment(lo),
            timestamp__lt=_moment(hi),
        ).values_list("timestamp", "value")
        pairs = np.array([(t.timestamp(), v) for t, v in found], dtype=np.float64)
        if pairs.size:
            for width in RESOLUTIONS:
                made += [
                    _row(deployment_id, name, width, b)
                    for b in bucket_stats(pairs[:, 0], pairs[:, 1], width)
                ]
        lo = hi
    MetricRollup.objects.bulk_create(made, batch_size=2000)


def _row(deployment_id: int, name: str, width: int, bucket: Bucket) -> MetricRollup:
    return MetricRollup(
        deployment_id=deployment_id,
        name=name,
        resolution=width,
        bucket=_moment(bucket.start),
        count=bucket.count,
        total=bucket.total,
        minimum=bucket.minimum,
        maximum=bucket.maximum,
        p50=bucket.p50,
        p95=bucket.p95,
        p99=bucket.p99,
    )


def rollups_refresh(*, deployment_id: int) -> int:
    """Recompute the buckets of the deployment's due spans; how many due rows were done."""
    with transaction.atomic():
        locked = (
            Deployment.objects.select_for_update(no_key=True)
            .filter(pk=deployment_id)
            .values_list("pk", flat=True)
        )
        if not locked:
            return 0
        due = list(RollupDue.objects.filter(deployment_id=deployment_id)[:DUE_PER_REFRESH])
        spans: dict[str, list[tuple[float, float]]] = {}
        for row in due:
            for name, runs in row.spans.items():
                spans.setdefault(name, []).extend(
                    (datetime.fromisoformat(lo).timestamp(), datetime.fromisoformat(hi).timestamp())
                    for lo, hi in runs
                )
        recompute = _recompute_sql if connection.vendor == "postgresql" else _recompute_numpy
        for name, found in sorted(spans.items()):
            for start, end in merge_spans(found, HOUR):
                MetricRollup.objects.filter(
                    deployment_id=deployment_id,
                    name=name,
                    bucket__gte=_moment(start),
                    bucket__lt=_moment(end),
                ).delete()
                recompute(deployment_id, name, start, end)
        RollupDue.objects.filter(pk__in=[row.pk for row in due]).delete()
    if len(due) == DUE_PER_REFRESH:
        publish_refresh(deployment_id)  # more are waiting
    return len(due)


def rollups_sweep() -> int:
    """Refresh every deployment with due spans (those whose push could not publish a
    refresh, or whose refresh was lost); how many deployments were refreshed."""
    waiting = set(RollupDue.objects.order_by().values_list("deployment_id", flat=True).distinct())
    for deployment_id in sorted(waiting):
        rollups_refresh(deployment_id=deployment_id)
    return len(waiting)
