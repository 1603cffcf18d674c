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


def test_a_worker_estimates_a_period_then_joins_its_labels(worker_factory, api):
    """A production period's estimate and a label batch's join, each done by the worker;
    the realized ROC AUC is scikit-learn's over the labelled rows."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from deployments.models import LabelBatch, ProductionPeriod
    from projects.models import Role
    from tests.factories import make_dataset, make_version, production_frame

    worker_factory()
    team = build_team("p", UserFactory(username="p_external"))
    deployment, _ = make_deployment(team, stage=False)
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    engineer = team.people[Role.ML_ENGINEER]
    frame = production_frame(200, seed=9)
    frame["prediction_id"] = [f"r{i}" for i in range(len(frame))]
    data = make_dataset(team.project, engineer, name="requests", purpose="production_sample")
    version = make_version(data, engineer, frame.to_csv(index=False).encode())
    end = datetime.now(UTC) - timedelta(hours=1)
    asked = api.post(
        f"/api/v1/deployments/{deployment.pk}/production-periods/",
        {
            "dataset_version": version.pk,
            "period_start": (end - timedelta(days=7)).isoformat(),
            "period_end": end.isoformat(),
        },
        format="json",
    )
    assert asked.status_code == 202, asked.content
    period = wait_for(
        lambda: ProductionPeriod.objects.filter(pk=asked.json()["id"], status="succeeded").first(),
        60,
        "the worker to derive the period",
    )
    assert period.id_column == "prediction_id" and "roc_auc" in period.estimate["metrics"]

    outcomes = make_dataset(
        team.project,
        engineer,
        name="outcomes",
        purpose="production_sample",
        label_column="",
        sensitive_columns=[],
        personal_data_columns=[],
    )
    labels = frame[["prediction_id", "defaulted"]].iloc[:150]
    labelled = make_version(outcomes, engineer, labels.to_csv(index=False).encode())
    joined = api.post(
        f"/api/v1/deployments/{deployment.pk}/label-batches/",
        {"dataset_version": labelled.pk, "id_column": "prediction_id", "label_column": "defaulted"},
        format="json",
    )
    assert joined.status_code == 202, joined.content
    batch = wait_for(
        lambda: (
            LabelBatch.objects.filter(pk=joined.json()["id"])
            .exclude(status__in=["queued", "running"])
            .first()
        ),
        60,
        "the worker to join the labels",
    )
    assert batch.status == "succeeded", batch.error
    assert batch.result["matched"] == 150
    period.refresh_from_db()
    rows = frame.iloc[:150]
    scored = rows["score"].notna().to_numpy()
    assert period.realized["labelled"] == int(scored.sum())
    expected = roc_auc_score(rows["defaulted"][scored], rows["score"][scored])
    assert np.isclose(period.realized["metrics"]["roc_auc"], expected)
