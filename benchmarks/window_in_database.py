"""A rollout step's analysis over a one-hour window of 1,000,000 pushed points, read where
they are stored: our statistics computed in PostgreSQL (``percentile_cont``) and judged,
against pandas reading the same window (``read_sql``) and NumPy computing the statistics.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python \\
        benchmarks/window_in_database.py --points 1000000

The script makes and drops a throwaway test database, fills one deployment's window (four
metrics, one hour) through the service that stores pushed batches (``--layout random``:
one COPY in random time order, the index's worst case), and times each side (median of
``--repeat`` runs, after one warm-up so both read from PostgreSQL's cache). Peak memory
is the largest allocation ``tracemalloc`` traces during a separate, untimed run.
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

METRICS = ("latency_ms", "error_rate", "throughput_qps", "null_output_rate")
START = datetime(2026, 1, 1, tzinfo=UTC)


def _peak_mb(fn) -> float:
    """The largest allocation traced during one run (NumPy and pandas report their buffers
    to tracemalloc), above what was allocated before it."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _points(points: int) -> list[tuple[str, datetime, float]]:
    rng = np.random.default_rng(3)
    seconds = rng.uniform(0, 3600, points)
    values = rng.lognormal(3.5, 0.6, points)
    names = np.array(METRICS)[np.arange(points) % len(METRICS)]
    return [
        (str(name), START + timedelta(seconds=float(second)), float(value))
        for name, second, value in zip(names, seconds, values, strict=True)
    ]


def _fill_pushed(deployment, actor, points: list) -> None:
    """As exporters push them: batches of up to 10,000 points, each over its own stretch
    of the hour, in time order, through the service that stores API batches."""
    from deployments.services.metrics import metrics_push

    points.sort(key=lambda p: p[1])
    for number, first in enumerate(range(0, len(points), 10_000)):
        batch = [
            {"name": name, "timestamp": moment.isoformat(), "value": value}
            for name, moment, value in points[first : first + 10_000]
        ]
        metrics_push(
            actor=actor,
            deployment=deployment,
            points=batch,
            idempotency_key=f"bench-{number}",
            now=START + timedelta(hours=1),
        )


def _fill_random(deployment, actor, points: list) -> None:
    """The worst case for the index: one COPY with the hour's points in random order, so
    consecutive points of a metric sit on different table pages."""
    from deployments.models import MetricBatch

    batch = MetricBatch.objects.create(
        deployment=deployment, idempotency_key="bench", body_sha256="0" * 64, points=0
    )
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY deployments_metricpoint (deployment_id, batch_id, name, timestamp, value, labels)"
            " FROM STDIN"
        ) as copy,
    ):
        for name, moment, value in points:
            copy.write_row((deployment.pk, batch.pk, name, moment, value, "{}"))


def _fill(deployment, actor, points: int, layout: str) -> None:
    rows = _points(points)
    (_fill_pushed if layout == "pushed" else _fill_random)(deployment, actor, rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deployments_metricpoint")


def ours(deployment, plan_content, criteria):
    from deployments import metrics
    from deployments.analysis.window import analyse, derive_checks

    checks = derive_checks(plan_content, criteria, traffic=25)
    wanted = {c.metric for c in checks} | set(METRICS)
    end = START + timedelta(hours=1)
    windows = metrics.pushed_windows(deployment, wanted, START, end)
    return analyse(checks, windows, window_seconds=3600, window_start=START, window_end=end)


def peer(deployment):
    import pandas as pd

    frame = pd.read_sql(
        "SELECT name, value FROM deployments_metricpoint WHERE deployment_id = %s "
        "AND timestamp >= %s AND timestamp < %s",
        connection.connection,  # a plain DB-API connection: pandas warns, and reads it
        params=[deployment.pk, START, START + timedelta(hours=1)],
    )
    out = {}
    for name, group in frame.groupby("name"):
        v = group["value"].to_numpy()
        out[name] = (v.size, v.mean(), *np.percentile(v, [50, 95, 99]))
    return out


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median seconds of ``repeat`` runs after a warm-up (both sides then read from
    PostgreSQL's cache), the peak memory of a separate untimed run, and the result."""
    fn()
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), _peak_mb(fn), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layout", choices=("pushed", "random"), default="pushed")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server.")
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from projects.models import Role
        from tests.factories import UserFactory, build_team, make_deployment

        world = build_team("bench", UserFactory(username="bench_auditor"))
        deployment, plan = make_deployment(world, stage=False)
        started = time.perf_counter()
        _fill(deployment, world.people[Role.ML_ENGINEER], args.points, args.layout)
        filled = time.perf_counter() - started
        criteria = list(world.criteria.criteria)
        our_s, our_mb, analysis = timed(
            lambda: ours(deployment, plan.content, criteria), args.repeat
        )
        peer_s, peer_mb, frame_stats = timed(lambda: peer(deployment), args.repeat)
        # The same numbers on both sides.
        stats = {w.metric: w.stats for w in analysis.windows if w.stats is not None}
        for name, (count, mean, p50, p95, p99) in frame_stats.items():
            mine = stats[name]
            assert mine.count == count
            assert np.allclose(
                [mine.mean, mine.p50, mine.p95, mine.p99], [mean, p50, p95, p99], rtol=1e-9
            )
        print(
            json.dumps(
                {
                    "points": args.points,
                    "layout": args.layout,
                    "fill_seconds": round(filled, 1),
                    "ours_seconds": round(our_s, 3),
                    "pandas_read_sql_numpy_seconds": round(peer_s, 3),
                    "ratio_peer_to_ours": round(peer_s / our_s, 1),
                    "ours_peak_mb": round(our_mb, 2),
                    "peer_peak_mb": round(peer_mb, 1),
                    "outcome": analysis.outcome,
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
