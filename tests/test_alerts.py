"""Alerts through HTTP: fired by Alertmanager's webhook and by drift, acknowledged and
resolved by people, each change POSTed to a real local receiver that checks the HMAC
signature, failures retried with backoff and kept in the delivery log."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from deployments.models import Alert, AlertDelivery, AlertWebhook
from deployments.services.alerts import alert_deliver, alert_deliveries_sweep, alert_fire
from deployments.services.drift import drift_check_run
from projects.models import Event, Role
from tests.data import sample_frame
from tests.factories import make_dataset, make_deployment, make_version, plan_content
from tests.servers import WebhookReceiver

# Alertmanager's webhook payload, version 4, as its documentation describes it.
ALERTMANAGER = {
    "version": "4",
    "groupKey": '{}:{alertname="CanaryHighLatency"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "stagegate",
    "groupLabels": {"alertname": "CanaryHighLatency"},
    "commonLabels": {"alertname": "CanaryHighLatency", "severity": "critical", "job": "canary"},
    "commonAnnotations": {"summary": "p95 latency above 300 ms for 5 minutes"},
    "externalURL": "http://alertmanager.monitoring:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "CanaryHighLatency", "severity": "critical", "job": "canary"},
            "annotations": {"summary": "p95 latency above 300 ms for 5 minutes"},
            "startsAt": "2026-12-06T09:30:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=latency",
            "fingerprint": "3f1c2a9b7d0e4c11",
        }
    ],
}


@pytest.fixture
def receiver(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.ALERT_WEBHOOK_TIMEOUT = 0.5
    running = WebhookReceiver()
    yield running
    running.close()


@pytest.fixture
def deployment(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    return deployment


def hook(api, deployment, receiver) -> dict:
    made = api.post(f"/api/v1/deployments/{deployment.pk}/alert-webhooks/", {"url": receiver.url})
    assert made.status_code == 201, made.content
    receiver.secret = made.json()["secret"]
    return made.json()


def deliver_pending() -> None:
    for pk in AlertDelivery.objects.filter(status="pending").values_list("pk", flat=True):
        alert_deliver(delivery_id=pk)


def test_an_alert_fires_is_delivered_signed_acknowledged_and_resolved(api, deployment, receiver):
    hook(api, deployment, receiver)
    fired = api.post(
        f"/api/v1/deployments/{deployment.pk}/alertmanager/", ALERTMANAGER, format="json"
    )
    assert fired.status_code == 200 and fired.json()["fired"] == 1
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.state) == ("CanaryHighLatency", "critical", "firing")
    assert alert.summary == "p95 latency above 300 ms for 5 minutes"
    # Sent again while it fires, it stays one alert.
    again = api.post(
        f"/api/v1/deployments/{deployment.pk}/alertmanager/", ALERTMANAGER, format="json"
    )
    assert again.json()["firing_already"] == 1 and Alert.objects.count() == 1
    deliver_pending()

    acked = api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "a_business_owner"
    twice = api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert twice.status_code == 409 and twice.json()["code"] == "not_firing"
    deliver_pending()
    resolved = api.post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "Pool resized."}, format="json"
    )
    assert resolved.status_code == 200 and resolved.json()["resolve_reason"] == "Pool resized."
    deliver_pending()

    assert [r["valid"] for r in receiver.received] == [True, True, True]
    assert [r["body"]["change"] for r in receiver.received] == [
        "firing",
        "acknowledged",
        "resolved",
    ]
    assert receiver.received[2]["body"]["alert"]["resolved_by"] == "a_business_owner"
    log = api.get(f"/api/v1/alerts/{alert.pk}/").json()["deliveries"]
    assert [(d["change"], d["status"], d["last_status_code"]) for d in log] == [
        ("firing", "delivered", 200),
        ("acknowledged", "delivered", 200),
        ("resolved", "delivered", 200),
    ]
    verbs = Event.objects.filter(verb__startswith="alert.").values_list("verb", flat=True)
    assert sorted(verbs) == ["alert.acknowledged", "alert.fired", "alert.resolved"]


def test_alertmanager_resolving_an_alert_resolves_it_here(api, deployment):
    url = f"/api/v1/deployments/{deployment.pk}/alertmanager/"
    api.post(url, ALERTMANAGER, format="json")
    over = {
        **ALERTMANAGER,
        "status": "resolved",
        "alerts": [
            {**ALERTMANAGER["alerts"][0], "status": "resolved", "endsAt": "2026-12-06T09:50:00Z"}
        ],
    }
    answer = api.post(url, over, format="json")
    assert answer.json()["resolved"] == 1
    alert = Alert.objects.get()
    assert alert.state == "resolved" and alert.resolved_by is None
    assert alert.resolve_reason == "Resolved in Alertmanager at 2026-12-06T09:50:00Z."
    assert api.post(url, over, format="json").json()["not_open"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {**ALERTMANAGER, "version": "3"},
        {**ALERTMANAGER, "alerts": []},
        {**ALERTMANAGER, "alerts": [{"status": "firing", "labels": {"severity": "x"}}]},
        {**ALERTMANAGER, "alerts": [{"status": "pending", "labels": {"alertname": "X"}}]},
        {**ALERTMANAGER, "alerts": [{"status": "firing", "labels": {"alertname": ["X"]}}]},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_alertmanager_payload_is_refused_whole(api, deployment, payload):
    answer = api.post(f"/api/v1/deployments/{deployment.pk}/alertmanager/", payload, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_payload"
    assert not Alert.objects.exists()


@pytest.mark.parametrize(("answer", "delay"), [(500, 0.0), (200, 1.5)])
def test_a_failing_receiver_is_retried_with_backoff_and_never_blocks(
    api, deployment, receiver, settings, answer, delay
):
    settings.ALERT_DELIVERY_ATTEMPTS, settings.ALERT_RETRY_SECONDS = 3, 10
    receiver.answer, receiver.delay = answer, delay
    hook(api, deployment, receiver)
    started = time.monotonic()
    api.post(f"/api/v1/deployments/{deployment.pk}/alertmanager/", ALERTMANAGER, format="json")
    # The request only records the delivery: sending is the worker's.
    assert time.monotonic() - started < 1.0 and not receiver.received
    delivery = AlertDelivery.objects.get()
    waits = []
    for _ in range(3):
        alert_deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        waits.append(round((delivery.next_attempt_at - timezone.now()).total_seconds()))
    assert delivery.status == "failed" and delivery.attempts == 3
    assert waits[:2] == [10, 20]  # each wait twice the one before
    expected = "The receiver answered 500." if answer == 500 else "TimeoutError"
    assert expected in delivery.last_error
    shown = api.get(f"/api/v1/alerts/{delivery.alert_id}/").json()["deliveries"][0]
    assert (shown["status"], shown["attempts"]) == ("failed", 3)


def test_a_lost_delivery_is_sent_again_by_the_sweeper(api, deployment, receiver, settings):
    hook(api, deployment, receiver)
    api.post(f"/api/v1/deployments/{deployment.pk}/alertmanager/", ALERTMANAGER, format="json")
    AlertDelivery.objects.update(next_attempt_at=timezone.now() - timezone.timedelta(hours=1))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert alert_deliveries_sweep() == 1


def test_a_webhook_on_a_private_address_is_refused_unless_allowed(api, deployment, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    url = f"/api/v1/deployments/{deployment.pk}/alert-webhooks/"
    for target in ("http://127.0.0.1:9000/hook", "http://10.1.2.3/hook", "http://[::1]/hook"):
        refused = api.post(url, {"url": target})
        assert refused.status_code == 400, target
        assert refused.json()["code"] == "invalid_webhook"
        assert "private, loopback or reserved address" in refused.json()["detail"]
    unresolvable = api.post(url, {"url": "https://no-such-host.invalid/hook"})
    assert unresolvable.json()["detail"] == "no-such-host.invalid does not resolve."


def test_a_drifted_column_fires_the_specs_alert_and_a_steady_one_resolves_it(api, world):
    w = world["a"]
    content = plan_content()
    content["monitoring"]["drift"] = [{"column": "income", "test": "ks", "threshold": 0.05}]
    content["monitoring"]["alerts"] = [
        {"name": "Income drift", "metric": "drift:income", "severity": "ticket"}
    ]
    deployment, _ = make_deployment(w, content=content, stage=False)
    engineer = w.people[Role.ML_ENGINEER]
    dataset = make_dataset(w.project, engineer, name="production", purpose="production_sample")
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")

    def check(frame) -> None:
        version = make_version(dataset, engineer, frame.to_csv(index=False).encode())
        asked = api.post(
            f"/api/v1/deployments/{deployment.pk}/drift-checks/",
            {"reference": w.version.pk, "current": version.pk},
            format="json",
        )
        drift_check_run(check_id=asked.json()["id"])

    moved = sample_frame(400, seed=5)
    moved["income"] = moved["income"] * 1.5
    check(moved)
    alert = Alert.objects.get()
    assert (alert.rule, alert.source, alert.severity) == ("Income drift", "spec", "ticket")
    assert alert.summary.startswith("income drifted in drift check")
    check(sample_frame(400, seed=6))
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by is None
    assert alert.resolve_reason.endswith("found income steady.")


# --- The deployment page -----------------------------------------------------------------


def test_an_engineer_acknowledges_and_resolves_an_alert_on_the_page(client, world, receiver):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    client.force_login(w.people[Role.ML_ENGINEER])
    added = client.post(f"/deployments/{deployment.pk}/alert-webhooks/", {"url": receiver.url})
    secret = AlertWebhook.objects.get().secret
    assert added.status_code == 200 and secret in added.content.decode()
    assert secret not in client.get(f"/deployments/{deployment.pk}/").content.decode()
    alert, _ = alert_fire(
        deployment=deployment, source="spec", rule="Latency", key="spec:Latency", summary="Slow."
    )
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Acknowledge" in page and "Slow." in page and "Deliveries (1)" in page

    acked = client.post(f"/alerts/{alert.pk}/acknowledge/")
    assert acked.status_code == 302 and acked["Location"].endswith(f"#alert-{alert.pk}")
    again = client.post(f"/alerts/{alert.pk}/acknowledge/")
    assert again.status_code == 409 and "acknowledged already" in again.content.decode()
    done = client.post(f"/alerts/{alert.pk}/resolve/", {"reason": "Pool resized."})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert (alert.state, alert.resolve_reason) == ("resolved", "Pool resized.")
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Resolved by a_ml_engineer" in page and ">Acknowledge</button>" not in page


def test_a_webhook_refused_on_the_page_says_why(client, world, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    client.force_login(w.people[Role.ML_ENGINEER])
    refused = client.post(
        f"/deployments/{deployment.pk}/alert-webhooks/", {"url": "http://10.0.0.5/"}
    )
    assert refused.status_code == 400
    assert "No webhook was added" in refused.content.decode()
    assert not AlertWebhook.objects.exists()


@pytest.mark.parametrize("who", [Role.AUDITOR, Role.VIEWER])
def test_who_may_not_change_the_deployment_sees_alerts_but_cannot_handle_them(client, world, who):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    alert, _ = alert_fire(
        deployment=deployment, source="spec", rule="Latency", key="spec:Latency", summary="Slow."
    )
    client.force_login(w.people[who])
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Slow." in page and ">Acknowledge</button>" not in page and "Add webhook" not in page
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.state == "firing"
