"""Per-minute and per-hour rollups of pushed points, and the dashboard that reads them.

Buckets are checked against NumPy over the raw points (the same numbers on SQLite, where
NumPy computes them, and on PostgreSQL, where SQL does); a late point recomputes its old
bucket; a refresh is idempotent; the dashboard draws the monitoring spec's targets and
the periods an alert fired, and reads only what the viewer may see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deployments.analysis.charts import window_chart_svg
from deployments.analysis.rollups import (
    HOUR,
    MINUTE,
    bucket_stats,
    merge_spans,
    resolution_for,
    rollup_series,
)
from deployments.models import Alert, MetricRollup, RollupDue
from deployments.services.alerts import alert_fire, alert_resolve
from deployments.services.metrics import metrics_push
from deployments.services.rollups import rollups_refresh, rollups_sweep
from projects.models import Role
from tests.factories import make_deployment

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# --- pure --------------------------------------------------------------------------------


def test_buckets_hold_numpys_statistics_of_their_points():
    rng = np.random.default_rng(3)
    times = rng.uniform(0, 3 * HOUR, 5000) + 1_700_000_000
    values = rng.lognormal(3, 0.5, 5000)
    buckets = bucket_stats(times, values, MINUTE)
    slots = np.floor(times / MINUTE)
    assert len(buckets) == len(np.unique(slots))
    assert sum(b.count for b in buckets) == 5000
    for b in buckets[:: max(1, len(buckets) // 17)]:
        part = values[slots == b.start / MINUTE]
        assert b.count == part.size
        assert b.total == pytest.approx(part.sum(), rel=1e-12)
        assert (b.minimum, b.maximum) == (part.min(), part.max())
        for got, q in ((b.p50, 50), (b.p95, 95), (b.p99, 99)):
            assert got == pytest.approx(np.percentile(part, q), rel=1e-12)
        assert b.statistic("mean", MINUTE) == pytest.approx(part.mean(), rel=1e-12)
        assert b.statistic("rate", MINUTE) == pytest.approx(part.sum() / 60, rel=1e-12)


def test_spans_widen_to_whole_hours_and_join_where_they_touch():
    t0 = 1_700_002_800.0  # a whole hour
    spans = [(t0 + 10, t0 + 20), (t0 + HOUR + 5, t0 + HOUR + 6), (t0 + 5 * HOUR, t0 + 5 * HOUR)]
    assert merge_spans(spans) == [(t0, t0 + 2 * HOUR), (t0 + 5 * HOUR, t0 + 6 * HOUR)]


def test_a_month_is_read_per_hour_and_a_few_hours_per_minute():
    assert resolution_for(6 * HOUR) == MINUTE
    assert resolution_for(30 * 24 * HOUR) == HOUR


def test_counts_are_drawn_without_a_band_of_the_values():
    buckets = bucket_stats([0, 1, 70], [5.0, 7.0, 9.0], MINUTE)
    series = rollup_series("requests", buckets, "count", MINUTE)
    assert series.values == (2.0, 1.0) and series.lows == series.values


def test_a_months_chart_labels_days_and_shades_alert_periods():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = start + timedelta(days=30)
    buckets = bucket_stats([start.timestamp() + 3600 * i for i in range(720)], [1.0] * 720, HOUR)
    svg = window_chart_svg(
        rollup_series("latency_ms", buckets, "p95", HOUR),
        window_start=start,
        window_end=end,
        title="latency",
        shaded=[(start.timestamp() + 86400, start.timestamp() + 2 * 86400, "Alert fired")],
    )
    assert (
        "08 Nov" in svg
        and 'y1="3' not in svg
        and "from 2026-11-01 00:00 to 2026-12-01 00:00 UTC" in svg
    )
    assert svg.count('class="alerting"') == 1 and "<title>Alert fired</title>" in svg


# --- the service -------------------------------------------------------------------------


@pytest.fixture
def deployment(world):
    deployment, _ = make_deployment(world["a"], stage=False)
    return deployment


def _push(deployment, actor, points, key):
    return metrics_push(actor=actor, deployment=deployment, points=points, idempotency_key=key)


def _points(start: datetime, count: int, seed: int, name: str = "latency_ms") -> list[dict]:
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, 3 * HOUR, count))
    return [
        {
            "name": name,
            "value": float(v),
            "timestamp": (start + timedelta(seconds=float(s))).isoformat(),
        }
        for s, v in zip(offsets, rng.gamma(4, 10, count), strict=True)
    ]


def _expected(points: list[dict], width: int) -> dict[datetime, tuple]:
    times = np.array([datetime.fromisoformat(p["timestamp"]).timestamp() for p in points])
    values = np.array([p["value"] for p in points])
    return {
        datetime.fromtimestamp(b.start, UTC): (b.count, b.total, b.minimum, b.maximum, b.p95)
        for b in bucket_stats(times, values, width)
    }


def _stored(deployment, width: int) -> dict[datetime, tuple]:
    rows = MetricRollup.objects.filter(deployment=deployment, name="latency_ms", resolution=width)
    return {r.bucket.astimezone(UTC): (r.count, r.total, r.minimum, r.maximum, r.p95) for r in rows}


def _same(stored: dict, expected: dict) -> None:
    assert stored.keys() == expected.keys()
    for key, (count, total, low, high, p95) in expected.items():
        got = stored[key]
        assert got[0] == count
        assert got[1:] == pytest.approx((total, low, high, p95), rel=1e-9)


def test_a_push_leaves_its_spans_due_and_a_refresh_rolls_them_up_exactly(deployment, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    start = NOW - timedelta(hours=5)
    points = _points(start, 3000, seed=1)
    _push(deployment, engineer, points, "first")
    assert RollupDue.objects.filter(deployment=deployment).count() == 1
    assert rollups_refresh(deployment_id=deployment.pk) == 1
    assert not RollupDue.objects.exists()
    _same(_stored(deployment, MINUTE), _expected(points, MINUTE))
    _same(_stored(deployment, HOUR), _expected(points, HOUR))
    before = _stored(deployment, HOUR)
    assert rollups_refresh(deployment_id=deployment.pk) == 0  # nothing due: nothing changes
    assert _stored(deployment, HOUR) == before


def test_a_late_point_recomputes_its_old_bucket_from_all_its_points(deployment, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    start = NOW - timedelta(hours=5)
    points = _points(start, 600, seed=2)
    _push(deployment, engineer, points, "on-time")
    rollups_refresh(deployment_id=deployment.pk)
    late = [
        {
            "name": "latency_ms",
            "value": 9999.0,
            "timestamp": (start + timedelta(minutes=1, seconds=5)).isoformat(),
        }
    ]
    _push(deployment, engineer, late, "late")
    # Another metric in the same batch window does not disturb this one's buckets.
    _push(deployment, engineer, _points(start, 50, seed=5, name="error_rate"), "other")
    assert rollups_sweep() == 1
    _same(_stored(deployment, MINUTE), _expected(points + late, MINUTE))
    _same(_stored(deployment, HOUR), _expected(points + late, HOUR))
    assert MetricRollup.objects.filter(name="error_rate", resolution=HOUR).exists()


def test_a_replayed_batch_leaves_nothing_due(deployment, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    points = _points(NOW - timedelta(hours=4), 10, seed=4)
    _push(deployment, engineer, points, "once")
    rollups_refresh(deployment_id=deployment.pk)
    _, stored = _push(deployment, engineer, points, "once")
    assert stored is False and not RollupDue.objects.exists()


def test_a_batch_far_apart_in_time_recomputes_only_the_hours_it_touched(deployment, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    old, recent = NOW - timedelta(days=20, minutes=30), NOW - timedelta(minutes=30)
    points = [
        {"name": "latency_ms", "value": 5.0, "timestamp": old.isoformat()},
        {"name": "latency_ms", "value": 7.0, "timestamp": recent.isoformat()},
    ]
    _push(deployment, engineer, points, "apart")
    [due] = RollupDue.objects.all()
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    # Two runs of one hour each, not the 20 days between.
    first, last = (old - 30 * minute).isoformat(), (NOW - hour).isoformat()
    assert due.spans["latency_ms"] == [[first, first], [last, last]]
    rollups_refresh(deployment_id=deployment.pk)
    hours = MetricRollup.objects.filter(deployment=deployment, resolution=HOUR)
    assert sorted(r.bucket.astimezone(UTC) for r in hours) == [old - 30 * minute, NOW - hour]


# --- the dashboard -----------------------------------------------------------------------


def test_the_dashboard_draws_targets_alert_periods_and_open_alerts(client, deployment, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    points = _points(NOW - timedelta(hours=30), 800, seed=6)
    _push(deployment, engineer, points, "day")
    rollups_refresh(deployment_id=deployment.pk)
    spec_alert = "latency_ms above target"  # the factory plan's alert on latency_ms
    over, _ = alert_fire(
        deployment=deployment,
        source=Alert.Source.SPEC,
        rule=spec_alert,
        key=spec_alert,
        summary="p95 latency 260 ms over 60 minutes",
    )
    alert_resolve(actor=engineer, alert=over, reason="Cache warmed up.")
    Alert.objects.filter(pk=over.pk).update(
        fired_at=NOW - timedelta(hours=20), resolved_at=NOW - timedelta(hours=18)
    )
    alert_fire(
        deployment=deployment,
        source=Alert.Source.SPEC,
        rule=spec_alert,
        key=spec_alert,
        summary="p95 latency 240 ms over 60 minutes",
    )
    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(f"/deployments/{deployment.pk}/dashboard/?range=7d")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart-latency_ms"' in html and "p95 latency_ms ≤ 200 ms" in html
    assert html.count('class="alerting"') == 2  # one resolved period, one still open
    assert "p95 latency 240 ms over 60 minutes" in html  # the open alert is listed
    assert "800 points" in html
    # Each value is an hour's p95, and the text says so (not a mean of points).
    assert "the p95 per hour from" in html and "mean line" not in html
    live = client.get(f"/deployments/{deployment.pk}/dashboard/live/?range=24h")
    assert live.status_code == 200 and b'hx-trigger="every 30s"' in live.content
    assert b"<html" not in live.content


def test_other_teams_and_strangers_do_not_see_the_dashboard(client, deployment, world):
    for path in ("dashboard/", "dashboard/live/"):
        client.force_login(world["b"].people[Role.BUSINESS_OWNER])
        assert client.get(f"/deployments/{deployment.pk}/{path}").status_code == 404
        client.logout()
        assert client.get(f"/deployments/{deployment.pk}/{path}").status_code == 302
