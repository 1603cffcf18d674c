"""Metric points partitioned by month against the plain table they replace.

Usage::

    .venv/bin/python benchmarks/metric_partitions.py   # = --points 2400000

The script creates its own PostgreSQL database (``--database``, by default
``stagegate_bench_partitions`` on 127.0.0.1:5432; dropped and created again if it
exists), migrates it, steps the points table back to the plain one (``migrate
deployments 0007``) and makes one deployment through the services. It then writes
``--points`` points in time order, 13 seconds apart from the first day of the month a
year ago (three metrics in turn, as pushes would store them), and measures on the plain
table, then again after ``migrate deployments 0008`` partitions it:

- a one-day window of one deployment's metric (the window index serves both);
- a one-day window of every deployment (no deployment in the query: a whole-table scan
  before, one month's partition read through the BRIN index after), with the partitions
  the plan reads;
- a DELETE of one month's points (rolled back) on the plain table, against the upkeep
  dropping the two oldest months with ``METRIC_POINT_RETENTION_DAYS`` set.

Each query time is the median of ``--repeat`` runs after one warm-up. The migration is
timed as ``manage.py migrate`` runs it. The database is dropped at the end unless
``--keep-database`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.analysis.months import add_months  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
TABLE = "deployments_metricpoint"

MAKE_DEPLOYMENT = """
from tests.factories import UserFactory, build_team, make_deployment
world = build_team("bench", UserFactory(username="bench_external"))
deployment, _ = make_deployment(world, stage=False)
print("DEPLOYMENT", deployment.pk)
"""

UPKEEP = """
import json, time
from deployments.services.partitions import metric_points_upkeep
started = time.perf_counter()
done = metric_points_upkeep()
print("UPKEEP", json.dumps({"seconds": time.perf_counter() - started,
      "dropped": [f"{m:%Y-%m}" for m in done.dropped], "points": done.removed}))
"""


def manage(env: dict, *args: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout, time.perf_counter() - started


def timed(db: psycopg.Connection, sql: str, params: list, repeat: int) -> tuple[float, object]:
    db.execute(sql, params).fetchall()  # warm-up
    times, rows = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        rows = db.execute(sql, params).fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, rows


def scanned(db: psycopg.Connection, sql: str, params: list) -> list[str]:
    plan = db.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    found: list[str] = []

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return sorted(found)


def measure(db: psycopg.Connection, deployment: int, day: datetime, repeat: int) -> dict:
    end = day.replace(day=day.day + 1)
    one = (
        f"SELECT count(*), avg(value) FROM {TABLE} WHERE deployment_id = %s AND name = %s "
        "AND timestamp >= %s AND timestamp < %s"
    )
    every = f"SELECT count(*), avg(value) FROM {TABLE} WHERE timestamp >= %s AND timestamp < %s"
    one_ms, one_rows = timed(db, one, [deployment, "latency_ms", day, end], repeat)
    every_ms, every_rows = timed(db, every, [day, end], repeat)
    return {
        "one_deployment_day_ms": round(one_ms, 2),
        "one_deployment_day_points": one_rows[0][0],
        "every_deployment_day_ms": round(every_ms, 2),
        "every_deployment_day_points": every_rows[0][0],
        "every_deployment_day_reads": scanned(db, every, [day, end]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=2_400_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default="stagegate_bench_partitions")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    url = f"{SERVER}/{args.database}"
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    env.setdefault("VAR_DIR", str(ROOT / "var" / "bench-partitions"))
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    try:
        manage(env, "migrate", "-v0")
        manage(env, "migrate", "-v0", "deployments", "0007")
        out, _ = manage(env, "shell", "-c", MAKE_DEPLOYMENT)
        deployment = int(out.split("DEPLOYMENT")[1].split()[0])
        now = datetime.now(UTC)
        first = add_months(now, -12)
        with psycopg.connect(url, autocommit=True) as db:
            batch = db.execute(
                "INSERT INTO deployments_metricbatch (deployment_id, idempotency_key, "
                "body_sha256, points, created_at, token_prefix) "
                "VALUES (%s, 'bench', '', %s, now(), '') RETURNING id",
                [deployment, args.points],
            ).fetchone()[0]
            started = time.perf_counter()
            db.execute(
                f"INSERT INTO {TABLE} (deployment_id, batch_id, name, timestamp, value, labels) "
                "SELECT %s, %s, (ARRAY['latency_ms', 'error_rate', 'throughput_qps'])[1 + g %% 3], "
                "%s + g * interval '13 seconds', random() * 100, '{}'::jsonb "
                "FROM generate_series(0, %s - 1) g",
                [deployment, batch, first, args.points],
            )
            written = time.perf_counter() - started
            db.execute(f"VACUUM ANALYZE {TABLE}")
            size = db.execute(
                f"SELECT pg_size_pretty(pg_total_relation_size('{TABLE}'))"
            ).fetchone()[0]
            day = add_months(now, -6).replace(day=10)
            plain = measure(db, deployment, day, args.repeat)
            month = add_months(now, -11)
            db.execute("BEGIN")
            started = time.perf_counter()
            deleted = db.execute(
                f"DELETE FROM {TABLE} WHERE timestamp >= %s AND timestamp < %s",
                [month, add_months(month, 1)],
            ).rowcount
            delete_s = time.perf_counter() - started
            db.execute("ROLLBACK")

        _, migrate_s = manage(env, "migrate", "-v0", "deployments", "0008")
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"VACUUM ANALYZE {TABLE}")
            partitioned = measure(db, deployment, day, args.repeat)
        for key in ("one_deployment_day_points", "every_deployment_day_points"):
            assert plain[key] == partitioned[key], (key, plain[key], partitioned[key])
        # The two oldest months end before the cutoff: they go, the rest stay.
        days = (now - add_months(now, -10)).days
        out, _ = manage({**env, "METRIC_POINT_RETENTION_DAYS": str(days)}, "shell", "-c", UPKEEP)
        upkeep = json.loads(out.split("UPKEEP", 1)[1])
    finally:
        if not args.keep_database:
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')

    results = {
        "points": args.points,
        "table_size": size,
        "write_s": round(written, 1),
        "plain": plain,
        "migrate_s": round(migrate_s, 1),
        "partitioned": partitioned,
        "plain_delete_month": {"points": deleted, "seconds": round(delete_s, 3)},
        "upkeep_drop": {**upkeep, "seconds": round(upkeep["seconds"], 3)},
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
