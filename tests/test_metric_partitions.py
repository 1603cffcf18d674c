"""Months of metric points: the month arithmetic partitions and retention use, and
retention on the plain table (SQLite here; tests/integration/test_metric_partitions_pg.py
runs the partitioned table on PostgreSQL).

Retention drops whole months that ended ``METRIC_POINT_RETENTION_DAYS`` ago, never a month
whose rollups are still due, keeps the rollups, and records on each project's trail which
deployment lost which month's points.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deployments.analysis.months import (
    add_months,
    expired_months,
    month_range,
    month_start,
    months_ahead,
    partition_month,
    partition_name,
    retention_cutoff,
    spans_cover,
)
from deployments.models import MetricPoint, MetricRollup, RollupDue
from deployments.services.metrics import metrics_push
from deployments.services.partitions import metric_points_upkeep
from deployments.services.rollups import rollups_refresh
from projects.models import Event, Role
from projects.trail import event_sentence
from tests.factories import make_deployment

TABLE = "deployments_metricpoint"

# --- pure --------------------------------------------------------------------------------


def test_it_starts_months_in_utc_whatever_the_zone():
    # 01:30 on 1 March at UTC+2 is still February in UTC.
    plus_two = datetime(2027, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert month_start(plus_two) == datetime(2027, 2, 1, tzinfo=UTC)
    assert month_start(datetime(2027, 2, 28, 23, 59, 59)) == datetime(2027, 2, 1, tzinfo=UTC)
    # A moment at midnight UTC of the first belongs to the new month, not the old one.
    assert month_start(datetime(2027, 3, 1, tzinfo=UTC)) == datetime(2027, 3, 1, tzinfo=UTC)


def test_it_adds_months_across_years_both_ways():
    december = datetime(2026, 12, 17, 8, tzinfo=UTC)
    assert add_months(december, 1) == datetime(2027, 1, 1, tzinfo=UTC)
    assert add_months(december, 14) == datetime(2028, 2, 1, tzinfo=UTC)
    assert add_months(december, -12) == datetime(2025, 12, 1, tzinfo=UTC)
    assert add_months(december, -23) == datetime(2025, 1, 1, tzinfo=UTC)
    assert month_range(datetime(2028, 2, 29, tzinfo=UTC)) == (
        datetime(2028, 2, 1, tzinfo=UTC),
        datetime(2028, 3, 1, tzinfo=UTC),
    )


def test_it_lists_this_month_and_those_ahead():
    assert months_ahead(datetime(2026, 11, 30, tzinfo=UTC), 3) == [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 2, 1, tzinfo=UTC),
    ]


def test_it_names_partitions_and_reads_the_names_back():
    name = partition_name(TABLE, datetime(2027, 1, 9, tzinfo=UTC))
    assert name == "deployments_metricpoint_p2027_01"
    assert partition_month(TABLE, name) == datetime(2027, 1, 1, tzinfo=UTC)
    for other in (f"{TABLE}_default", f"{TABLE}_p2027_13", "deployments_metricrollup_p2027_01"):
        assert partition_month(TABLE, other) is None


def test_it_expires_only_months_that_ended_before_the_cutoff():
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert retention_cutoff(now, 0) is None
    assert expired_months([datetime(2000, 1, 1, tzinfo=UTC)], None) == []
    cutoff = retention_cutoff(now, 37)  # 2026-10-31 09:00
    assert cutoff == datetime(2026, 10, 31, 9, tzinfo=UTC)
    months = [add_months(now, -n) for n in range(6)]
    # October ends after the cutoff: part of it is still kept, so all of it stays.
    assert expired_months(months, cutoff) == [
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2026, 9, 1, tzinfo=UTC),
    ]
    exactly = datetime(2026, 10, 1, tzinfo=UTC)
    assert expired_months(months, exactly) == [
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2026, 9, 1, tzinfo=UTC),
    ]
    assert datetime(2026, 9, 1, tzinfo=UTC) in expired_months(months, exactly)


def test_it_sees_a_due_span_that_touches_a_month_by_one_hour():
    start, end = month_range(datetime(2026, 9, 1, tzinfo=UTC))
    last_hour = {"latency_ms": [["2026-09-30T23:00:00+00:00", "2026-09-30T23:00:00+00:00"]]}
    first_after = {"latency_ms": [["2026-10-01T00:00:00+00:00", "2026-10-01T05:00:00+00:00"]]}
    before = {"a": [["2026-08-01T00:00:00+00:00", "2026-08-31T23:00:00+00:00"]]}
    across = {"a": [["2026-08-31T23:00:00+00:00", "2026-09-01T00:00:00+00:00"]]}
    assert spans_cover(last_hour, start, end)
    assert not spans_cover(first_after, start, end)
    assert not spans_cover(before, start, end)
    assert spans_cover(across, start, end)
    assert not spans_cover({}, start, end)


# --- retention on the plain table --------------------------------------------------------

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def deployment(world):
    deployment, _ = make_deployment(world["a"], stage=False)
    return deployment


def _push(deployment, world, moments: list[datetime], key: str) -> None:
    points = [
        {"name": "latency_ms", "value": 10.0 + i, "timestamp": at.isoformat()}
        for i, at in enumerate(moments)
    ]
    engineer = world["a"].people[Role.ML_ENGINEER]
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key=key)


def _months_back(n: int, day: int = 10) -> datetime:
    return add_months(NOW, -n) + timedelta(days=day - 1, hours=3)


def test_it_keeps_every_point_when_retention_is_off(deployment, world, settings):
    settings.METRIC_POINT_RETENTION_DAYS = 0
    _push(deployment, world, [_months_back(30), _months_back(1)], "old")
    rollups_refresh(deployment_id=deployment.pk)
    done = metric_points_upkeep(now=NOW)
    assert done.dropped == [] and done.removed == 0
    assert MetricPoint.objects.filter(deployment=deployment).count() == 2


def test_it_drops_old_rolled_up_months_and_keeps_their_rollups(deployment, world, settings):
    old = [_months_back(8, day) for day in (1, 2, 28)] + [_months_back(6)]
    kept = [_months_back(2), NOW - timedelta(hours=1)]
    _push(deployment, world, old + kept, "mixed")
    settings.METRIC_POINT_RETENTION_DAYS = 90
    rollups_refresh(deployment_id=deployment.pk)
    hours = MetricRollup.objects.filter(deployment=deployment, resolution=3600)
    before = sorted(hours.values_list("bucket", "count", "total"))

    done = metric_points_upkeep(now=NOW)

    assert done.dropped == [month_start(_months_back(8)), month_start(_months_back(6))]
    assert done.removed == 4
    left = MetricPoint.objects.filter(deployment=deployment).values_list("timestamp", flat=True)
    assert sorted(left) == sorted(kept)
    assert sorted(hours.values_list("bucket", "count", "total")) == before
    events = Event.objects.filter(verb="deployment.points_dropped").order_by("seq")
    assert [(e.payload["month"], e.payload["points"]) for e in events] == [
        (f"{_months_back(8):%Y-%m}", 3),
        (f"{_months_back(6):%Y-%m}", 1),
    ]
    assert {e.project_id for e in events} == {deployment.project_id}
    sentence = event_sentence(events[0], deployment.project)
    assert f"from {_months_back(8):%Y-%m} (past retention)" in sentence.after
    assert sentence.obj == f"deployment {deployment.pk}"
    # Nothing more to do: a second run drops nothing and records nothing.
    assert metric_points_upkeep(now=NOW).dropped == []
    assert Event.objects.filter(verb="deployment.points_dropped").count() == 2


def test_it_waits_for_a_months_rollups_before_dropping_it(deployment, world, settings):
    _push(deployment, world, [_months_back(5), _months_back(4)], "first")
    rollups_refresh(deployment_id=deployment.pk)
    _push(deployment, world, [_months_back(4, 20)], "late")  # due again: month -4
    settings.METRIC_POINT_RETENTION_DAYS = 30
    assert RollupDue.objects.filter(deployment=deployment).exists()

    done = metric_points_upkeep(now=NOW)
    assert done.dropped == [month_start(_months_back(5))]
    assert done.waiting == [month_start(_months_back(4))]
    assert MetricPoint.objects.filter(deployment=deployment).count() == 2

    rollups_refresh(deployment_id=deployment.pk)
    assert metric_points_upkeep(now=NOW).dropped == [month_start(_months_back(4))]
    assert not MetricPoint.objects.filter(deployment=deployment).exists()
    assert MetricRollup.objects.filter(deployment=deployment, resolution=3600).count() == 3


def test_it_refuses_points_of_months_retention_drops(api, deployment, world, settings):
    settings.METRIC_POINT_RETENTION_DAYS = 30
    kept_from = month_start(NOW - timedelta(days=30))
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    url = f"/api/v1/deployments/{deployment.pk}/metrics/"
    points = [
        {"name": "latency_ms", "value": 1.0, "timestamp": NOW.isoformat()},
        {"name": "latency_ms", "value": 2.0, "timestamp": (kept_from - SECOND).isoformat()},
    ]
    response = api.post(url, {"points": points}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_points"
    assert response.json()["detail"].startswith("points[2]: ")
    assert f"before {kept_from:%Y-%m-%d}, the oldest month kept" in response.json()["detail"]
    assert not MetricPoint.objects.exists()
    points[1]["timestamp"] = kept_from.isoformat()
    response = api.post(url, {"points": points}, format="json", HTTP_IDEMPOTENCY_KEY="kept")
    assert response.status_code == 201, response.content
    assert MetricPoint.objects.count() == 2


SECOND = timedelta(seconds=1)
