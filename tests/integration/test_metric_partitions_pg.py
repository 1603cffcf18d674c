"""Metric points partitioned by month on a real PostgreSQL.

Points pushed across months land in their month's partition, or in the default partition
when their month has none; the upkeep creates a month's partition and moves its waiting
points into it; retention drops only old months whose rollups are done, and the rollups
and the kept windows read the same afterwards. A time window of one deployment reads only
its months' partitions. The migration itself runs from an empty and from a filled table,
and back, in a scratch database of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.db import connection

from deployments.analysis.months import add_months, month_start, partition_name
from deployments.analysis.rollups import HOUR, bucket_stats
from deployments.dashboard import read_buckets
from deployments.metrics import pushed_windows
from deployments.models import MetricPoint, RollupDue
from deployments.services.metrics import metrics_push
from deployments.services.partitions import (
    DEFAULT_PARTITION,
    TABLE,
    metric_partitions_ensure,
    metric_points_upkeep,
    partition_create,
    partitions,
)
from deployments.services.rollups import rollups_refresh
from projects.models import Event, Role
from tests.factories import UserFactory, build_team, make_deployment

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="partitions are PostgreSQL's; on SQLite the table stays plain",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _at(months_back: int, day: int = 10, hour: int = 3) -> datetime:
    return add_months(NOW, -months_back) + timedelta(days=day - 1, hours=hour)


def _push(deployment, world, moments: list[datetime], key: str, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    points = [
        {"name": "latency_ms", "value": float(v), "timestamp": at.isoformat()}
        for at, v in zip(moments, rng.gamma(4, 10, len(moments)), strict=True)
    ]
    engineer = world["a"].people[Role.ML_ENGINEER]
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key=key)
    return points


def _where(deployment) -> dict[str, int]:
    """The table each of the deployment's points is stored in, counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text, count(*) FROM {TABLE} "
            "WHERE deployment_id = %s GROUP BY 1",
            [deployment.pk],
        )
        return dict(cursor.fetchall())


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE %s", [f"{TABLE}\\_%"])
        return {name for (name,) in cursor.fetchall() if name.startswith(f"{TABLE}_p")}


def _partitions_from_last_month() -> None:
    """Last month's partition too: the test database may have been made this month."""
    metric_partitions_ensure(now=_at(1))
    metric_partitions_ensure(now=NOW)


def _minutes(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(minutes=7 * i) for i in range(count)]


@pytest.fixture
def deployment(world):
    deployment, _ = make_deployment(world["a"], stage=False)
    return deployment


def test_points_land_in_their_months_and_retention_drops_only_old_rolled_up_ones(
    deployment, world, settings
):
    _partitions_from_last_month()
    # Months 14 and 13 ago have no partition (the migration made them for months with
    # rows and from its day on): their points wait in the default partition.
    oldest, older = _minutes(_at(14), 40), _minutes(_at(13), 30)
    recent = _minutes(_at(1), 20)
    # This month's, all in the past (a few seconds apart from midnight on the first).
    start = max(month_start(NOW), NOW - timedelta(hours=5))
    current = [start + timedelta(seconds=10 * i) for i in range(25)]
    points = _push(deployment, world, oldest + older + recent + current, "spread", seed=1)
    assert _where(deployment) == {
        DEFAULT_PARTITION: 70,
        partition_name(TABLE, _at(1)): 20,
        partition_name(TABLE, NOW): 25,
    }

    # An upkeep that ran late, in month -13: that month's partition is made, and its points
    # move out of the default partition in the same transaction.
    late = metric_partitions_ensure(now=_at(13))
    assert month_start(_at(13)) in late.created and late.moved == 30
    assert partition_create(month=_at(13)) == 0  # a second run finds it made
    assert _where(deployment)[partition_name(TABLE, _at(13))] == 30
    assert _where(deployment)[DEFAULT_PARTITION] == 40

    # Retention waits while the rollups of those months are due.
    settings.METRIC_POINT_RETENTION_DAYS = 120
    assert RollupDue.objects.filter(deployment=deployment).exists()
    waiting = metric_points_upkeep(now=NOW)
    assert {month_start(_at(14)), month_start(_at(13))} <= set(waiting.waiting)
    assert not {month_start(_at(14)), month_start(_at(13))} & set(waiting.dropped)
    assert MetricPoint.objects.filter(deployment=deployment).count() == 115

    rollups_refresh(deployment_id=deployment.pk)
    everything = (_at(15), NOW + timedelta(hours=1))
    hours_before = read_buckets(deployment, ["latency_ms"], *everything, HOUR)
    times = np.array([datetime.fromisoformat(p["timestamp"]).timestamp() for p in points])
    values = np.array([p["value"] for p in points])
    expected = bucket_stats(times, values, HOUR)
    stored = hours_before["latency_ms"]
    assert [(b.start, b.count) for b in stored] == [(b.start, b.count) for b in expected]
    for got, want in zip(stored, expected, strict=True):
        assert (got.total, got.p95) == pytest.approx((want.total, want.p95), rel=1e-9)
    kept_window = (_at(1, day=1, hour=0), NOW + timedelta(hours=1))
    windows_before = pushed_windows(deployment, ["latency_ms"], *kept_window)

    done = metric_points_upkeep(now=NOW)

    # Months -14 (default partition) and -13 to -10 (partitions the late run made) go;
    # -1 and this month stay.
    assert month_start(_at(14)) in done.dropped and month_start(_at(13)) in done.dropped
    assert done.removed == 70
    assert _where(deployment) == {
        partition_name(TABLE, _at(1)): 20,
        partition_name(TABLE, NOW): 25,
    }
    tables = _tables()
    assert month_start(_at(13)) not in partitions()
    assert partition_name(TABLE, _at(13)) not in tables  # dropped, not left detached
    assert partition_name(TABLE, _at(1)) in tables
    assert read_buckets(deployment, ["latency_ms"], *everything, HOUR) == hours_before
    assert pushed_windows(deployment, ["latency_ms"], *kept_window) == windows_before
    window = windows_before["latency_ms"].stats
    kept_values = values[-45:]
    assert window.count == 45
    assert window.p95 == pytest.approx(np.percentile(kept_values, 95), rel=1e-9)
    events = Event.objects.filter(verb="deployment.points_dropped").order_by("seq")
    assert [(e.payload["month"], e.payload["points"]) for e in events] == [
        (f"{_at(14):%Y-%m}", 40),
        (f"{_at(13):%Y-%m}", 30),
    ]


def test_a_window_of_one_deployment_reads_only_its_months_partitions(deployment):
    _partitions_from_last_month()
    this_month = month_start(NOW)
    one_month = MetricPoint.objects.filter(
        deployment=deployment,
        name="latency_ms",
        timestamp__gte=this_month + timedelta(days=1),
        timestamp__lt=this_month + timedelta(days=2),
    )
    assert _scanned(one_month) == {partition_name(TABLE, NOW)}
    across = MetricPoint.objects.filter(
        deployment=deployment,
        timestamp__gte=this_month - timedelta(hours=6),
        timestamp__lt=this_month + timedelta(hours=6),
    )
    assert _scanned(across) == {
        partition_name(TABLE, this_month - timedelta(hours=6)),
        partition_name(TABLE, NOW),
    }
    # A window in a month without its own partition reads the default partition alone.
    long_ago = datetime(2001, 5, 3, tzinfo=UTC)
    old = MetricPoint.objects.filter(timestamp__gte=long_ago, timestamp__lt=long_ago + HOURS)
    assert _scanned(old) == {DEFAULT_PARTITION}


HOURS = timedelta(hours=1)


def _scanned(queryset) -> set[str]:
    plan = json.loads(queryset.explain(format="json"))
    return set(re.findall(rf'"Relation Name": "({TABLE}_\w+)"', json.dumps(plan)))


def test_pushes_while_months_are_made_and_dropped_are_neither_refused_nor_lost(
    transactional_db, settings
):
    team = build_team("cc", UserFactory(username="cc_external"))
    deployment, _ = make_deployment(team, stage=False)
    engineer = team.people[Role.ML_ENGINEER]
    month = month_start(_at(20))  # no partition yet: its points wait in the default one
    today = max(month_start(NOW), NOW - timedelta(hours=5))
    errors: list[str] = []

    def push(start: datetime, prefix: str, batches: int = 30, size: int = 100) -> None:
        try:
            for n in range(batches):
                points = [
                    {
                        "name": "latency_ms",
                        "value": float(i),
                        "timestamp": (start + timedelta(seconds=n * size + i)).isoformat(),
                    }
                    for i in range(size)
                ]
                metrics_push(
                    actor=engineer,
                    deployment=deployment,
                    points=points,
                    idempotency_key=f"{prefix}{n}",
                )
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def alongside(start: datetime, prefix: str, work):
        pusher = threading.Thread(target=push, args=(start, prefix))
        pusher.start()
        try:
            return work()
        finally:
            pusher.join()

    push(month, "first", batches=1, size=1)
    made = None
    try:
        # Month -20's partition is made, its waiting point moved, while its points arrive.
        made = alongside(month + HOURS, "old", lambda: metric_partitions_ensure(now=month))
        assert errors == []
        assert month in made.created and made.moved >= 1
        assert _where(deployment) == {partition_name(TABLE, month): 30 * 100 + 1}

        # Then dropped past retention while this month's points arrive.
        rollups_refresh(deployment_id=deployment.pk)
        settings.METRIC_POINT_RETENTION_DAYS = 30
        gone = alongside(today, "now", lambda: metric_points_upkeep(now=NOW))
        assert errors == []
        assert month in gone.dropped
        assert _where(deployment) == {partition_name(TABLE, NOW): 30 * 100}
        event = Event.objects.get(verb="deployment.points_dropped", target_id=str(deployment.pk))
        assert event.payload["points"] == 30 * 100 + 1
    finally:
        # Partitions outlive the test's flush: drop those it made, so runs start alike.
        with connection.cursor() as cursor:
            for created in made.created if made else []:
                cursor.execute(f'DROP TABLE IF EXISTS "{partition_name(TABLE, created)}"')


def test_the_upkeep_gives_way_to_a_long_lock_and_the_next_run_catches_up(db, caplog):
    settings_dict = connection.settings_dict
    url = (
        f"postgresql://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )
    month = month_start(_at(40))
    assert month not in partitions()
    with psycopg.connect(url) as other:
        # Another session holds the table in a mode the upkeep's first lock waits for.
        other.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")
        assert metric_points_upkeep(now=month) is None
        assert "gave up waiting 5s for a lock" in caplog.text
        other.rollback()
    done = metric_points_upkeep(now=month)
    assert done is not None and month in done.created


# --- the migration, in a scratch database ------------------------------------------------

FILL = """
from datetime import UTC, datetime, timedelta
from deployments.services.metrics import metrics_push
from projects.models import Role
from tests.factories import UserFactory, build_team, make_deployment
world = build_team("mig", UserFactory(username="mig_external"))
deployment, _ = make_deployment(world, stage=False)
engineer = world.people[Role.ML_ENGINEER]
starts = {"a": datetime(2024, 2, 29, 23, tzinfo=UTC), "b": datetime(2025, 7, 4, tzinfo=UTC)}
for key, when in starts.items():
    points = [
        {"name": "latency_ms", "value": float(k), "timestamp": (when + timedelta(minutes=k))}
        for k in range(90)
    ]
    for point in points:
        point["timestamp"] = point["timestamp"].isoformat()
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key=key)
"""


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_migration_runs_on_an_empty_and_a_filled_table_and_back(tmp_path):
    settings_dict = connection.settings_dict
    server = f"postgresql://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
    name = f"stagegate_partitions_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": f"{server}/{name}", "VAR_DIR": str(tmp_path)}
    try:
        _manage(env, "migrate", "-v0")  # from empty, then back, then with rows
        _manage(env, "migrate", "-v0", "deployments", "0007")
        _manage(env, "shell", "-c", FILL)
        _manage(env, "migrate", "-v0")
        with psycopg.connect(f"{server}/{name}") as db:
            _check_partitioned(db)
        _manage(env, "migrate", "-v0", "deployments", "0007")
        with psycopg.connect(f"{server}/{name}") as db:
            kind = db.execute("SELECT relkind FROM pg_class WHERE relname = %s", [TABLE])
            assert kind.fetchone() == ("r",)
            assert db.execute(f"SELECT count(*), max(id) FROM {TABLE}").fetchone() == (180, 180)
            assert _foreign_keys(db) == 2
        _manage(env, "migrate", "-v0")
        with psycopg.connect(f"{server}/{name}") as db:
            _check_partitioned(db)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _foreign_keys(db) -> int:
    found = db.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )
    return found.fetchone()[0]


def _check_partitioned(db) -> None:
    rows = db.execute(
        f"SELECT tableoid::regclass::text, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [(f"{TABLE}_p2024_02", 60), (f"{TABLE}_p2024_03", 30), (f"{TABLE}_p2025_07", 90)]
    assert _foreign_keys(db) == 2
    indexes = dict(
        db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [TABLE]
        ).fetchall()
    )
    assert 'USING brin ("timestamp")' in indexes["metric_time_brin"]
    assert '(deployment_id, name, "timestamp")' in indexes["metric_window"]
    assert '(id, "timestamp")' in indexes[f"{TABLE}_pkey"]
    assert (
        db.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", [TABLE]
        ).fetchone()[0]
        >= 4 + 3
    )  # default, this month and three ahead, three with rows
    # The identity sequence carries on where it stood: the next point gets id 181, not 1.
    sequence = db.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE]).fetchone()[0]
    assert sequence == f"public.{TABLE}_id_seq"
    assert db.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone() == (180, True)
