"""A 30-day dashboard over 10,000,000 pushed points: read from the per-hour rollups, against
the same hourly buckets computed from the raw points in PostgreSQL (``date_trunc`` with
``percentile_cont``, the best a dashboard can do without rollups).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python \\
        benchmarks/dashboard_rollups.py --points 10000000

The script makes and drops a throwaway test database, fills one deployment with five
metrics over 30 days (in the window index's order, as the push service writes them),
builds the rollups with the worker's refresh (timed: the cost paid once, in the
background), then times each side (median of ``--repeat`` runs after a warm-up): the
rollup read for every metric's chart series, the whole dashboard (its queries and every
SVG), and the raw aggregation. Both sides give the same counts and percentiles. Peak
memory is the largest allocation ``tracemalloc`` traces during a separate, untimed run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

import numpy as np  # noqa: E402
from django.db import connection  # noqa: E402

METRICS = ("latency_ms", "error_rate", "throughput_qps", "missing_value_rate", "null_output_rate")
DAYS = 30

_FILL = """
INSERT INTO deployments_metricpoint (deployment_id, batch_id, name, timestamp, value, labels)
SELECT %(deployment)s, %(batch)s, %(name)s,
       %(start)s::timestamptz + (i * %(step)s) * interval '1 second',
       -ln(1 - random()) * 40, '{}'
FROM generate_series(0, %(count)s - 1) AS i
"""

_RAW = """
SELECT name, date_trunc('hour', timestamp) AS bucket, count(*), sum(value), min(value),
       max(value), percentile_cont(0.95) WITHIN GROUP (ORDER BY value)
FROM deployments_metricpoint
WHERE deployment_id = %s AND name = ANY(%s) AND timestamp >= %s AND timestamp < %s
GROUP BY name, bucket
ORDER BY name, bucket
"""


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def timed(fn, repeat: int) -> tuple[float, float, object]:
    fn()
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), _peak_mb(fn), result


def _fill(deployment, start: datetime, points: int) -> None:
    from deployments.models import MetricBatch, RollupDue

    batch = MetricBatch.objects.create(
        deployment=deployment, idempotency_key="bench", body_sha256="0" * 64, points=points
    )
    each = points // len(METRICS)
    step = DAYS * 86400 / each
    with connection.cursor() as cursor:
        for name in METRICS:
            cursor.execute(
                _FILL,
                {
                    "deployment": deployment.pk,
                    "batch": batch.pk,
                    "name": name,
                    "start": start,
                    "step": step,
                    "count": each,
                },
            )
        cursor.execute("ANALYZE deployments_metricpoint")
    end = start + timedelta(days=DAYS)
    # What the push service records for the worker: the hours each metric touched.
    RollupDue.objects.create(
        deployment=deployment,
        spans={
            name: [[start.isoformat(), (end - timedelta(hours=1)).isoformat()]] for name in METRICS
        },
    )


def ours(deployment, start: datetime, end: datetime):
    from deployments.analysis.rollups import HOUR, rollup_series
    from deployments.dashboard import read_buckets

    found = read_buckets(deployment, list(METRICS), start, end, HOUR)
    return {name: rollup_series(name, found.get(name, []), "p95", HOUR) for name in METRICS}


def raw(deployment, start: datetime, end: datetime):
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '64MB'")
        cursor.execute(_RAW, [deployment.pk, list(METRICS), start, end])
        rows = cursor.fetchall()
    out: dict[str, list] = {}
    for name, bucket, count, total, low, high, p95 in rows:
        out.setdefault(name, []).append((bucket.timestamp(), count, total, low, high, p95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server.")
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from deployments.dashboard import dashboard
        from deployments.services.rollups import rollups_refresh
        from tests.factories import UserFactory, build_team, make_deployment

        world = build_team("bench", UserFactory(username="bench_auditor"))
        deployment, _ = make_deployment(world, stage=False)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=DAYS)
        started = time.perf_counter()
        _fill(deployment, start, args.points)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        rollups_refresh(deployment_id=deployment.pk)
        built = time.perf_counter() - started
        end = now + timedelta(hours=1)
        our_s, our_mb, series = timed(lambda: ours(deployment, start, end), args.repeat)
        board_s, board_mb, board = timed(lambda: dashboard(deployment, "30d", now=now), args.repeat)
        raw_s, raw_mb, buckets = timed(lambda: raw(deployment, start, end), args.repeat)
        # The same buckets on both sides: counts exactly, p95 to rounding.
        for name in METRICS:
            mine, theirs = series[name], buckets[name]
            assert mine.counts == tuple(b[1] for b in theirs)
            assert np.allclose(mine.values, [b[5] for b in theirs], rtol=1e-9)
        charts = sum(len(charts) for _, charts in board.groups)
        print(
            json.dumps(
                {
                    "points": args.points,
                    "metrics": len(METRICS),
                    "days": DAYS,
                    "fill_seconds": round(filled, 1),
                    "rollup_build_seconds": round(built, 1),
                    "rollup_read_seconds": round(our_s, 4),
                    "dashboard_seconds": round(board_s, 4),
                    "dashboard_charts": charts,
                    "raw_aggregation_seconds": round(raw_s, 3),
                    "ratio_raw_to_rollup_read": round(raw_s / our_s, 1),
                    "ratio_raw_to_dashboard": round(raw_s / board_s, 1),
                    "rollup_read_peak_mb": round(our_mb, 2),
                    "dashboard_peak_mb": round(board_mb, 2),
                    "raw_peak_mb": round(raw_mb, 2),
                    "same_numbers": True,
                },
                indent=2,
            )
        )
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
