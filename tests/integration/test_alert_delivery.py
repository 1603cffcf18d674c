"""An alert delivered by a real worker to a real receiver that checks the signature: the
first attempt answered 500, the retry, after its backoff, delivered."""

from __future__ import annotations

import pytest

from deployments.models import AlertDelivery
from tests.factories import UserFactory, build_team, make_deployment
from tests.harness import wait_for
from tests.servers import WebhookReceiver
from tests.test_alerts import ALERTMANAGER

pytestmark = pytest.mark.integration


def test_a_worker_retries_a_failed_delivery_and_delivers_it_signed(worker_factory, api, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    worker_factory(ALERT_WEBHOOK_ALLOW_PRIVATE="true", ALERT_RETRY_SECONDS="1")
    team = build_team("w", UserFactory(username="w_external"))
    deployment, _ = make_deployment(team, stage=False)
    receiver = WebhookReceiver()
    receiver.next_answers = [500]
    try:
        api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
        made = api.post(
            f"/api/v1/deployments/{deployment.pk}/alert-webhooks/", {"url": receiver.url}
        )
        receiver.secret = made.json()["secret"]
        fired = api.post(
            f"/api/v1/deployments/{deployment.pk}/alertmanager/", ALERTMANAGER, format="json"
        )
        assert fired.status_code == 200 and fired.json()["fired"] == 1

        def delivered():
            found = AlertDelivery.objects.get()
            return found if found.status != "pending" else None

        delivery = wait_for(delivered, 60, "the worker to deliver the alert")
    finally:
        receiver.close()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert [r["valid"] for r in receiver.received] == [True, True]
    assert receiver.received[1]["body"]["alert"]["rule"] == "CanaryHighLatency"
