"""The spec's alert rules through a real worker: the beat's task evaluates a deployment
that stopped reporting, fires its silence alert, and the worker mails the change to a
real SMTP server."""

from __future__ import annotations

import pytest

from deployments.models import Alert, AlertDelivery
from deployments.tasks import alert_rules_evaluate_task
from projects.models import Project
from tests.factories import UserFactory, build_team, make_deployment, plan_content
from tests.harness import wait_for
from tests.servers import MailReceiver

pytestmark = pytest.mark.integration


def test_a_worker_fires_a_silence_alert_and_mails_it(worker_factory):
    receiver = MailReceiver()
    try:
        worker_factory(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(receiver.port),
        )
        team = build_team("w", UserFactory(username="w_external"))
        content = plan_content()
        content["monitoring"]["alerts"] = [
            {"name": "Scorer quiet", "metric": "silence", "minutes": 5, "severity": "page"}
        ]
        content["monitoring"]["notify"] = ["oncall@example.com"]
        deployment, _ = make_deployment(team, content=content, stage=False)
        Project.objects.filter(pk=team.project.pk).update(stage=Project.Stage.MONITORING)

        alert_rules_evaluate_task.delay()
        wait_for(
            lambda: AlertDelivery.objects.filter(status="delivered").exists(),
            60,
            "the worker to mail the alert",
        )
    finally:
        receiver.close()
    alert = Alert.objects.get()
    assert (alert.deployment_id, alert.rule, alert.state) == (
        deployment.pk,
        "Scorer quiet",
        "firing",
    )
    (got,) = receiver.received
    assert got.to == ["oncall@example.com"]
    assert got.message["Subject"].startswith("[Stagegate] Firing [page]: Scorer quiet")
    delivery = AlertDelivery.objects.get()
    assert (delivery.recipient, delivery.status, delivery.attempts) == (
        "oncall@example.com",
        "delivered",
        1,
    )
