"""Monitoring writes finished by a real worker: a pushed batch's rollups recomputed after
the push commits, and a monitoring report laid out by WeasyPrint, its PDF served with its
sha256."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from audits.models import MonitoringReport
from deployments.models import MetricRollup, RollupDue
from tests.factories import UserFactory, build_team, make_deployment
from tests.harness import wait_for

pytestmark = pytest.mark.integration


def test_a_worker_rolls_up_a_push_and_renders_the_report(worker_factory, api):
    worker_factory()
    team = build_team("m", UserFactory(username="m_external"))
    deployment, _ = make_deployment(team, stage=False)
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    points = [
        {
            "name": "latency_ms",
            "value": 40.0 + minute,
            "timestamp": (start + timedelta(minutes=minute, seconds=10)).isoformat(),
        }
        for minute in range(20)
    ]
    pushed = api.post(
        f"/api/v1/deployments/{deployment.pk}/metrics/",
        {"idempotency_key": "first", "points": points},
        format="json",
    )
    assert pushed.status_code == 201

    def rolled_up():
        minutes = MetricRollup.objects.filter(deployment=deployment, resolution=60)
        return minutes.count() == 20 and not RollupDue.objects.exists()

    wait_for(rolled_up, 60, "the worker to roll the push up")
    minute = MetricRollup.objects.get(deployment=deployment, resolution=60, bucket=start)
    assert (minute.count, minute.total, minute.p95) == (1, 40.0, 40.0)

    asked = api.post(
        f"/api/v1/deployments/{deployment.pk}/monitoring-reports/",
        {
            "period_start": start.isoformat(),
            "period_end": datetime.now(UTC).isoformat(),
        },
        format="json",
    )
    assert asked.status_code == 202, asked.content

    def rendered():
        report = MonitoringReport.objects.get(pk=asked.json()["id"])
        return report if report.is_finished else None

    report = wait_for(rendered, 120, "the worker to render the report")
    assert report.status == MonitoringReport.Status.SUCCEEDED, report.error
    pdf = api.get(f"/api/v1/monitoring-reports/{report.pk}/pdf/")
    body = b"".join(pdf.streaming_content)
    assert body.startswith(b"%PDF") and hashlib.sha256(body).hexdigest() == report.pdf_sha256
