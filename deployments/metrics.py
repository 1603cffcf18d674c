"""Live metrics of a deployment's window: pushed points from our table, or Prometheus.

Each source gives, per metric, a :class:`~deployments.analysis.window.MetricWindow`:
statistics of the window's values, where they came from, or why there are none. On
PostgreSQL the statistics are computed where the points are (``percentile_cont`` equals
NumPy's linear percentiles), so a window of a million points never travels to Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from deployments.analysis.window import Agreement, MetricWindow, Stats, shadow_agreement
from deployments.analysis.window import window_stats as numpy_stats
from deployments.models import Deployment, MetricPoint
from deployments.prometheus import PrometheusError, query_range, step_for

PUSHED = "pushed"
SHADOW_METRIC = "shadow_agreement"

_STATS_SQL = """
SELECT name, count(*), avg(value), min(value), max(value), sum(value),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY value)
FROM deployments_metricpoint
WHERE deployment_id = %s AND name = ANY(%s) AND timestamp >= %s AND timestamp < %s
GROUP BY name
"""


def pushed_windows(
    deployment: Deployment, metrics: Iterable[str], start: datetime, end: datetime
) -> dict[str, MetricWindow]:
    """Statistics of each metric's pushed points in ``[start, end)``; a metric without
    points has a window without statistics."""
    names = sorted(set(metrics))
    found: dict[str, Stats] = {}
    if names and connection.vendor == "postgresql":
        # Percentiles sort the window's values: in memory, not in temporary files (the
        # default 4 MB of work_mem holds about 100,000 of them).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(_STATS_SQL, [deployment.pk, names, start, end])
            for name, count, _mean, low, high, total, (p50, p95, p99) in cursor.fetchall():
                found[name] = Stats(
                    count=int(count),
                    mean=float(total) / int(count),  # as NumPy: sum / count
                    min=float(low),
                    max=float(high),
                    sum=float(total),
                    p50=float(p50),
                    p95=float(p95),
                    p99=float(p99),
                )
    elif names:
        points = MetricPoint.objects.filter(
            deployment=deployment, name__in=names, timestamp__gte=start, timestamp__lt=end
        ).values_list("name", "value")
        values: dict[str, list[float]] = {}
        for name, value in points.iterator(chunk_size=10_000):
            values.setdefault(name, []).append(value)
        for name, series in values.items():
            stats = numpy_stats(np.asarray(series))
            if stats is not None:
                found[name] = stats
    return {name: MetricWindow(name, found.get(name), PUSHED) for name in names}


def shadow_window(deployment: Deployment, start: datetime, end: datetime) -> Agreement:
    """Agreement of the shadow's outputs with the live decisions: one pushed point per case
    (1 agreed, 0 not), its segment in the ``segment`` label."""
    rows = MetricPoint.objects.filter(
        deployment=deployment, name=SHADOW_METRIC, timestamp__gte=start, timestamp__lt=end
    ).values_list("value", "labels")
    agree, segments = [], []
    for value, labels in rows.iterator(chunk_size=10_000):
        agree.append(value >= 0.5)
        segment = labels.get("segment") if isinstance(labels, dict) else None
        segments.append(str(segment) if segment is not None else None)
    if not agree:
        return Agreement(None, 0)
    keyed = segments if any(s is not None for s in segments) else None
    return shadow_agreement(np.asarray(agree, dtype=bool), keyed)


def _origin_and_path(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def prometheus_allowed(url: str) -> bool:
    """Whether the portal may query ``url``: the configured Prometheus, or one under an
    allowed URL (same scheme, host and port; the same path or below it). A plan cannot
    point the server at an arbitrary host."""
    scheme, host, port, path = _origin_and_path(url)
    for allowed in [settings.PROMETHEUS_URL, *settings.PROMETHEUS_ALLOWED_URLS]:
        if not allowed:
            continue
        a_scheme, a_host, a_port, a_path = _origin_and_path(allowed)
        if (scheme, host, port) == (a_scheme, a_host, a_port) and (
            path == a_path or path.startswith(a_path + "/")
        ):
            return True
    return False


def prometheus_windows(
    plan: dict, metrics: Iterable[str], start: datetime, end: datetime
) -> dict[str, MetricWindow]:
    """Each metric the plan gives a PromQL query for, read from Prometheus's query_range
    over the window (as Argo Rollouts' Prometheus provider does)."""
    config = plan.get("prometheus") or {}
    queries = config.get("queries") or {}
    base = (config.get("url") or settings.PROMETHEUS_URL or "").strip()
    windows = {}
    seconds = max((end - start).total_seconds(), 1.0)
    for metric in sorted(set(metrics) & set(queries)):
        query = queries[metric]
        source = f"prometheus: {query}"
        if not base:
            windows[metric] = MetricWindow(
                metric, None, source, "No Prometheus URL: set one in the plan or PROMETHEUS_URL."
            )
            continue
        if not prometheus_allowed(base):
            windows[metric] = MetricWindow(
                metric,
                None,
                source,
                f"{base} is not an allowed Prometheus (PROMETHEUS_URL, PROMETHEUS_ALLOWED_URLS).",
            )
            continue
        try:
            result = query_range(
                base,
                query,
                start=start,
                end=end,
                step_seconds=step_for(seconds),
                timeout=settings.PROMETHEUS_TIMEOUT,
            )
        except PrometheusError as exc:
            windows[metric] = MetricWindow(metric, None, source, exc.reason)
            continue
        except ValueError as exc:  # a window Prometheus cannot be asked about
            windows[metric] = MetricWindow(metric, None, source, str(exc))
            continue
        windows[metric] = MetricWindow(metric, numpy_stats(result.values), source)
    return windows
