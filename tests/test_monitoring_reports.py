"""Monitoring reports through HTTP: a deployment's period as a PDF laid out from a stored
snapshot of its metrics (per-hour p95 checked against NumPy on the pushed points), drift
checks, alerts with who handled them, and decisions; refused periods; who may ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from audits.models import MonitoringReport
from audits.services.monitoring_reports import monitoring_report_render
from deployments.models import Alert
from deployments.services.alerts import alert_acknowledge, alert_fire, alert_resolve
from deployments.services.metrics import metrics_push
from deployments.services.rollups import rollups_refresh
from projects.models import Event, Role
from tests.factories import make_deployment, plan_content

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = NOW - timedelta(hours=12)


@pytest.fixture
def deployment(world):
    deployment, _ = make_deployment(world["a"], stage=False)
    return deployment


def _month_of_latency(deployment, engineer) -> list[dict]:
    """Twelve hours of latency, a sample a minute; hours 4 and 5 slow (p95 above 200 ms)."""
    rng = np.random.default_rng(8)
    points = []
    for minute in range(12 * 60):
        slow = 4 * 60 <= minute < 6 * 60
        value = rng.uniform(150, 400) if slow else rng.gamma(6, 8)
        at = START + timedelta(minutes=minute, seconds=30)
        points.append(
            {"name": "latency_ms", "value": round(float(value), 3), "timestamp": at.isoformat()}
        )
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key="day")
    rollups_refresh(deployment_id=deployment.pk)
    return points


def _hourly_p95(points: list[dict]) -> list[float]:
    by_hour: dict[int, list[float]] = {}
    for p in points:
        hour = int(datetime.fromisoformat(p["timestamp"]).timestamp() // 3600)
        by_hour.setdefault(hour, []).append(p["value"])
    return [float(np.percentile(by_hour[h], 95)) for h in sorted(by_hour)]


def _ask(api, deployment, start: datetime | str, end: datetime | str):
    body = {
        "period_start": start if isinstance(start, str) else start.isoformat(),
        "period_end": end if isinstance(end, str) else end.isoformat(),
    }
    return api.post(f"/api/v1/deployments/{deployment.pk}/monitoring-reports/", body, format="json")


def test_a_report_snapshots_the_period_and_renders_it_as_a_pdf(api, world, deployment):
    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    points = _month_of_latency(deployment, engineer)
    alert, _ = alert_fire(
        deployment=deployment,
        source=Alert.Source.SPEC,
        rule="latency_ms above target",
        key="latency_ms above target",
        summary="p95 latency_ms 380 ms over 60 minutes",
    )
    alert_acknowledge(actor=engineer, alert=alert)
    alert_resolve(actor=engineer, alert=alert, reason="Pool resized.")
    Alert.objects.filter(pk=alert.pk).update(
        fired_at=START + timedelta(hours=4, minutes=5), resolved_at=START + timedelta(hours=6)
    )
    api.force_authenticate(engineer)
    asked = _ask(api, deployment, START, NOW)
    assert asked.status_code == 202, asked.content
    report = MonitoringReport.objects.get(pk=asked.json()["id"])
    state = report.snapshot["state"]
    latency = next(m for m in state["metrics"] if m["name"] == "latency_ms")
    expected = _hourly_p95(points)
    assert latency["series"]["values"] == pytest.approx(expected, rel=1e-9)
    assert latency["missed"] == sum(v > 200 for v in expected) == 2
    assert latency["first_missed"] == (START + timedelta(hours=4)).isoformat()
    assert latency["points"] == 12 * 60
    [kept] = state["alerts"]
    assert (kept["acknowledged_by"], kept["resolved_by"]) == (engineer.username, engineer.username)
    assert kept["resolve_reason"] == "Pool resized."
    assert Event.objects.filter(verb="monitoring_report.requested").count() == 1

    monitoring_report_render(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == MonitoringReport.Status.SUCCEEDED and report.pages >= 2
    assert "Metrics against their targets" in report.html and 'class="alerting"' in report.html
    assert "the p95 per hour from" in report.html and "mean line" not in report.html
    pdf = api.get(f"/api/v1/monitoring-reports/{report.pk}/pdf/")
    body = b"".join(pdf.streaming_content)
    assert body.startswith(b"%PDF") and pdf["X-Content-SHA256"] == report.pdf_sha256
    detail = api.get(f"/api/v1/monitoring-reports/{report.pk}/").json()
    assert detail["snapshot"]["state"]["period"]["end"] == NOW.isoformat()
    listed = api.get(f"/api/v1/deployments/{deployment.pk}/monitoring-reports/").json()
    assert [r["id"] for r in listed["results"]] == [report.pk]


def test_a_report_counts_points_still_waiting_for_their_rollups_in_whole_buckets(
    api, world, deployment
):
    """Pushed moments ago (the worker has not rolled them up): the report does; a period
    that starts and ends inside minutes is read over those whole minutes, and says so."""
    engineer = world["a"].people[Role.ML_ENGINEER]
    points = [
        {
            "name": "latency_ms",
            "value": 250.0,
            "timestamp": (START + timedelta(minutes=m)).isoformat(),
        }
        for m in range(0, 120, 2)
    ]
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key="fresh")
    api.force_authenticate(engineer)
    asked = _ask(
        api,
        deployment,
        START + timedelta(minutes=30, seconds=20),
        START + timedelta(minutes=90, seconds=10),
    )
    state = MonitoringReport.objects.get(pk=asked.json()["id"]).snapshot["state"]
    assert state["metrics_period"] == {
        "start": (START + timedelta(minutes=30)).isoformat(),
        "end": (START + timedelta(minutes=91)).isoformat(),
        "resolution": 60,
    }
    latency = next(m for m in state["metrics"] if m["name"] == "latency_ms")
    # Minutes 30, 32, ... 90: p95 250 ms against 200 in each.
    assert latency["points"] == 31 and latency["missed"] == 31
    # The factory plan's missing_value_rate is a mean: judged; a count would not be.
    assert next(m for m in state["metrics"] if m["name"] == "missing_value_rate")["missed"] == 0


def test_buckets_with_fewer_points_than_the_spec_asks_are_not_judged(api, world):
    w = world["a"]
    content = plan_content()
    content["monitoring"]["metrics"][0]["min_points"] = 3
    content["monitoring"]["metrics"].append(
        {"name": "latency_ms", "statistic": "count", "comparator": ">=", "threshold": 100}
    )
    deployment, _ = make_deployment(w, content=content, stage=False)
    engineer = w.people[Role.ML_ENGINEER]
    # Hour 1: two slow points (fewer than 3); hour 2: three slow points.
    moments = [START + timedelta(minutes=m) for m in (5, 10, 65, 70, 75)]
    points = [{"name": "latency_ms", "value": 300.0, "timestamp": t.isoformat()} for t in moments]
    metrics_push(actor=engineer, deployment=deployment, points=points, idempotency_key="few")
    api.force_authenticate(engineer)
    asked = _ask(api, deployment, START, START + timedelta(hours=8))
    metrics = MonitoringReport.objects.get(pk=asked.json()["id"]).snapshot["state"]["metrics"]
    p95, count = [m for m in metrics if m["name"] == "latency_ms"]
    assert (p95["statistic"], p95["missed"]) == ("p95", 1)
    assert (count["statistic"], count["missed"]) == ("count", None)


def test_decisions_of_the_period_are_in_the_report(api, world, deployment):
    engineer = world["a"].people[Role.ML_ENGINEER]
    alert, _ = alert_fire(
        deployment=deployment, source=Alert.Source.SPEC, rule="r", key="r", summary="s"
    )
    alert_resolve(actor=engineer, alert=alert, reason="False alarm: the exporter restarted.")
    api.force_authenticate(engineer)
    asked = _ask(api, deployment, NOW - timedelta(days=1), datetime.now(UTC))
    decisions = MonitoringReport.objects.get(pk=asked.json()["id"]).snapshot["state"]["decisions"]
    resolved = [d for d in decisions if d["verb"] == "alert.resolved"]
    assert resolved and resolved[0]["reason"] == "False alarm: the exporter restarted."
    assert resolved[0]["who"] == engineer.username


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ("2026-11-01T00:00:00", "2026-11-02T00:00:00Z", "naive_timestamp"),
        ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", "invalid_period"),
        ("2024-01-01T00:00:00Z", "2026-11-01T00:00:00Z", "invalid_period"),
        ("yesterday", "2026-11-01T00:00:00Z", "invalid_period"),
        # Times that overflow when turned to UTC, and times no report can be about.
        ("0001-01-01T00:00:00+01:00", "2026-11-01T00:00:00Z", "invalid_period"),
        ("2026-11-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "invalid_period"),
        ("1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z", "invalid_period"),
    ],
)
def test_a_period_that_cannot_be_reported_is_refused(api, world, deployment, start, end, code):
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    refused = _ask(api, deployment, start, end)
    assert refused.status_code == 400 and refused.json()["code"] == code, refused.content
    assert not MonitoringReport.objects.exists()


def test_a_period_ending_in_the_future_is_refused(api, world, deployment):
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    refused = _ask(api, deployment, NOW, NOW + timedelta(days=1))
    assert refused.status_code == 400 and "future" in refused.json()["detail"]
    missing = api.post(
        f"/api/v1/deployments/{deployment.pk}/monitoring-reports/", {}, format="json"
    )
    assert missing.status_code == 400


def test_viewers_read_reports_members_of_other_teams_do_not(api, client, world, deployment):
    w = world["a"]
    api.force_authenticate(w.people[Role.VIEWER])
    assert _ask(api, deployment, START, NOW).status_code == 403
    api.force_authenticate(w.people[Role.ML_ENGINEER])
    report_id = _ask(api, deployment, START, NOW).json()["id"]
    api.force_authenticate(w.people[Role.VIEWER])
    assert api.get(f"/api/v1/monitoring-reports/{report_id}/").status_code == 200
    assert (
        api.get(f"/api/v1/monitoring-reports/{report_id}/pdf/").status_code == 409
    )  # not rendered
    api.force_authenticate(world["b"].people[Role.ML_ENGINEER])
    assert api.get(f"/api/v1/monitoring-reports/{report_id}/").status_code == 404
    assert _ask(api, deployment, START, NOW).status_code == 404
    client.force_login(world["b"].people[Role.BUSINESS_OWNER])
    assert client.get(f"/monitoring-reports/{report_id}/").status_code == 404


def test_the_dashboard_asks_for_a_report_on_the_period_it_shows(client, world, deployment):
    w = world["a"]
    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/deployments/{deployment.pk}/dashboard/?range=24h").content.decode()
    assert "Report on this period" not in page  # a viewer reads, does not ask
    client.force_login(w.people[Role.ML_ENGINEER])
    page = client.get(f"/deployments/{deployment.pk}/dashboard/?range=24h").content.decode()
    assert "Report on this period" in page
    start = page.split('name="period_start" value="')[1].split('"')[0]
    end = page.split('name="period_end" value="')[1].split('"')[0]
    made = client.post(
        f"/deployments/{deployment.pk}/monitoring-reports/",
        {"period_start": start, "period_end": end},
    )
    report = MonitoringReport.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/monitoring-reports/{report.pk}/"
    span = report.period_end - report.period_start
    assert timedelta(hours=23) < span <= timedelta(hours=24)
    shown = client.get(f"/monitoring-reports/{report.pk}/")
    assert shown.status_code == 200 and b"Monitoring report" in shown.content
    client.force_login(w.people[Role.VIEWER])
    refused = client.post(
        f"/deployments/{deployment.pk}/monitoring-reports/",
        {"period_start": start, "period_end": end},
    )
    assert refused.status_code == 403
