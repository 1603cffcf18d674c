"""Alerts through HTTP: fired by Alertmanager's webhook, by drift and by the monitoring
spec's metric-threshold and silence rules (evaluated by the worker's beat), acknowledged
and resolved by people, each change POSTed to a real local receiver that checks the HMAC
signature and e-mailed to the spec's notify (Django's outbox, and a real local SMTP
server), failures retried with backoff and kept in the delivery log."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from deployments.analysis.window import number_text
from deployments.models import Alert, AlertDelivery, AlertWebhook, MetricPoint
from deployments.services.alert_rules import deployment_alert_rules_evaluate
from deployments.services.alerts import alert_deliver, alert_deliveries_sweep, alert_fire
from deployments.services.drift import drift_check_run
from deployments.services.metrics import metrics_push
from deployments.tasks import alert_rules_evaluate_task
from projects.models import Event, Project, Role
from tests.data import sample_frame
from tests.factories import make_dataset, make_deployment, make_version, plan_content
from tests.servers import MailReceiver, WebhookReceiver, free_port

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


# --- The spec's metric-threshold and silence rules, evaluated by the worker ----------------

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
#: latency_ms's p95 over the last 10 minutes, at most 150 ms, on at least 20 points.
LATENCY = {
    "name": "latency_ms",
    "statistic": "p95",
    "comparator": "<=",
    "threshold": 150,
    "window_minutes": 10,
    "min_points": 20,
}
SLOW = {"name": "Scorer slow", "metric": "latency_ms", "severity": "page"}
QUIET = {"name": "Scorer quiet", "metric": "silence", "minutes": 15, "severity": "page"}


def monitored(w, alerts: list[dict], notify: tuple[str, ...] = ()):
    """A deployment of ``w`` watched by the worker: its project in the monitoring stage,
    its plan's latency entry as LATENCY, with ``alerts`` and ``notify``."""
    content = plan_content()
    content["monitoring"]["metrics"][0] = LATENCY
    content["monitoring"]["alerts"] = alerts
    content["monitoring"]["notify"] = list(notify)
    deployment, _ = make_deployment(w, content=content, stage=False)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    return deployment


def push(deployment, values, *, end: datetime, minutes: float = 9.0, name: str = "latency_ms"):
    """``values`` spread evenly over the ``minutes`` before ``end``."""
    step = timedelta(minutes=minutes) / max(len(values), 1)
    points = [
        {"name": name, "value": float(v), "timestamp": (end - step * (i + 1)).isoformat()}
        for i, v in enumerate(values)
    ]
    metrics_push(
        actor=None,
        deployment=deployment,
        points=points,
        idempotency_key=f"k{MetricPoint.objects.count()}-{len(points)}",
        now=end,
    )


def test_a_metric_past_its_threshold_fires_with_its_value_and_resolves_when_it_holds(world):
    deployment = monitored(world["a"], [SLOW])
    rng = np.random.default_rng(7)
    slow = rng.normal(140, 15, 60)
    push(deployment, slow, end=NOW)
    # Points before the window never count: a minute earlier than its 10 minutes.
    push(deployment, [5000.0] * 30, end=NOW - timedelta(minutes=10), minutes=1)
    expected = float(np.percentile(slow, 95))
    assert expected > 150

    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    alert = Alert.objects.get()
    assert (alert.rule, alert.key, alert.source, alert.severity, alert.state) == (
        "Scorer slow",
        "spec:Scorer slow",
        "spec",
        "page",
        "firing",
    )
    assert alert.details["observed"] == pytest.approx(expected, rel=1e-12)
    assert alert.details["points"] == 60
    assert alert.summary == (
        f"latency_ms p95 {number_text(expected, 4)} ms misses ≤ 150 ms over 60 points in the "
        "last 10 minutes."
    )
    assert Event.objects.filter(verb="alert.fired").count() == 1

    later = NOW + timedelta(minutes=11)
    fast = rng.normal(80, 5, 60)
    push(deployment, fast, end=later)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=later)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by is None
    assert alert.resolve_reason == (
        f"Holds again: latency_ms p95 {number_text(np.percentile(fast, 95), 4)} ms ≤ 150 ms "
        "over 60 points in the last 10 minutes."
    )
    assert Event.objects.filter(verb="alert.resolved").count() == 1


def test_a_window_with_fewer_points_than_min_points_neither_fires_nor_resolves(world):
    deployment = monitored(world["a"], [SLOW])
    push(deployment, [400.0] * 19, end=NOW)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    assert not Alert.objects.exists()
    push(deployment, [400.0], end=NOW, minutes=0.05)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    alert = Alert.objects.get()
    assert "over 20 points" in alert.summary
    # Later, too few healthy points: missing evidence does not clear the alert either.
    later = NOW + timedelta(minutes=20)
    push(deployment, [50.0] * 5, end=later)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=later)
    alert.refresh_from_db()
    assert alert.state == "firing"


def test_a_deployment_that_stops_reporting_fires_its_silence_alert_until_points_arrive(world):
    deployment = monitored(world["a"], [QUIET])
    push(deployment, [40.0], end=NOW - timedelta(minutes=20), minutes=0.5)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.state) == ("Scorer quiet", "page", "firing")
    assert alert.summary == (
        "No metric point in the last 15 minutes: the model stopped reporting. The last one "
        "arrived at 2026-12-06 09:39:30 UTC."
    )
    # Any metric counts as reporting.
    push(deployment, [0.0], end=NOW + timedelta(minutes=1), minutes=0.5, name="error_rate")
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW + timedelta(minutes=1))
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by) == ("resolved", None)
    assert alert.resolve_reason == "Reporting again: 1 point in the last 15 minutes."


def test_the_beat_evaluates_monitored_deployments_once_however_often_it_runs(world, settings):
    assert settings.CELERY_BEAT_SCHEDULE["alert-rules-evaluate"] == {
        "task": "deployments.alert_rules_evaluate",
        "schedule": timedelta(seconds=60),
    }
    watched = monitored(world["a"], [SLOW, QUIET])
    # Team B's project is still in deployment: its rules are not evaluated yet.
    content = plan_content()
    content["monitoring"]["alerts"] = [QUIET]
    make_deployment(world["b"], content=content, stage=False)
    push(watched, [400.0] * 30, end=timezone.now())
    alert_rules_evaluate_task()
    alert_rules_evaluate_task()
    assert list(Alert.objects.values_list("deployment", "rule", "state")) == [
        (watched.pk, "Scorer slow", "firing")
    ]
    assert Event.objects.filter(verb="alert.fired").count() == 1


def _emails(w) -> None:
    User = get_user_model()
    User.objects.filter(pk=w.people[Role.ML_ENGINEER].pk).update(email="mle@example.com")


def test_every_change_is_emailed_to_the_specs_notify_and_who_cannot_be_is_shown(api, client, world):
    w = world["a"]
    _emails(w)
    outsider = world["b"].people[Role.ML_ENGINEER]
    get_user_model().objects.filter(pk=outsider.pk).update(email="b@example.com")
    notify = (
        "a_ml_engineer",  # resolved to their e-mail address
        "oncall@example.com",
        "a_business_owner",  # no e-mail address on the account
        "nobody_at_all",
        outsider.username,  # may not see this project
    )
    deployment = monitored(w, [QUIET], notify)
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    alert = Alert.objects.get()
    deliver_pending()
    assert sorted(m.to[0] for m in mail.outbox) == ["mle@example.com", "oncall@example.com"]
    message = mail.outbox[0]
    assert message.subject == "[Stagegate] Firing [page]: Scorer quiet on scorer 1 live (a-project)"
    assert alert.summary in message.body
    assert f"/deployments/{deployment.pk}/#alert-{alert.pk}" in message.body

    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200
    deliver_pending()
    assert [m.subject.split(":")[0] for m in mail.outbox[2:]] == [
        "[Stagegate] Acknowledged [page]"
    ] * 2
    assert "Acknowledged: " in mail.outbox[2].body and "by a_business_owner" in mail.outbox[2].body

    log = api.get(f"/api/v1/alerts/{alert.pk}/").json()
    assert [
        (d["change"], d["recipient"], d["webhook"], d["status"]) for d in log["deliveries"]
    ] == [
        ("firing", "mle@example.com", None, "delivered"),
        ("firing", "oncall@example.com", None, "delivered"),
        ("acknowledged", "mle@example.com", None, "delivered"),
        ("acknowledged", "oncall@example.com", None, "delivered"),
    ]
    skipped = {(s["who"], s["change"]): s["reason"] for s in log["details"]["notify_skipped"]}
    assert skipped == {
        ("a_business_owner", "firing"): "no e-mail address on their account.",
        ("nobody_at_all", "firing"): "no such user, nor an e-mail address.",
        (outsider.username, "firing"): "they may not see this project.",
        ("a_business_owner", "acknowledged"): "no e-mail address on their account.",
        ("nobody_at_all", "acknowledged"): "no such user, nor an e-mail address.",
        (outsider.username, "acknowledged"): "they may not see this project.",
    }
    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Deliveries (4) · 6 skipped" in page
    assert "e-mail mle@example.com" in page and "e-mail a_business_owner" in page
    assert "no e-mail address on their account." in page


def test_an_email_reaches_a_real_smtp_server_after_a_retry(world, settings):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.ALERT_RETRY_SECONDS = 10
    deployment = monitored(world["a"], [QUIET], ("oncall@example.com",))
    deployment_alert_rules_evaluate(deployment_id=deployment.pk, now=NOW)
    delivery = AlertDelivery.objects.get()
    # No mail server yet: the attempt fails and is tried again after the backoff.
    alert_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in delivery.last_error
    receiver = MailReceiver(port=port)
    try:
        alert_deliver(delivery_id=delivery.pk)
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    (got,) = receiver.received
    assert got.to == ["oncall@example.com"] and got.sender == settings.DEFAULT_FROM_EMAIL
    assert got.message["Subject"] == (
        "[Stagegate] Firing [page]: Scorer quiet on scorer 1 live (a-project)"
    )
    assert "No metric point in the last 15 minutes" in got.message.get_content()


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        (
            {"name": "Quiet", "metric": "silence", "severity": "page"},
            "monitoring.alerts[1].minutes: give the minutes without any point after which the "
            "silence alert fires (1 to 1,440).",
        ),
        (
            {**QUIET, "minutes": 1441},
            "monitoring.alerts[1].minutes: the minutes without a point must be from 1 to 1,440 "
            "minutes, not 1,441.",
        ),
        (
            {**QUIET, "minutes": 0},
            "monitoring.alerts[1].minutes: the minutes without a point must be from 1 to 1,440 "
            "minutes, not 0.",
        ),
        (
            {**SLOW, "minutes": 5},
            "monitoring.alerts[1].minutes: only a silence alert (metric silence) takes minutes; "
            "a metric's alert fires on its window_minutes in monitoring.metrics.",
        ),
        (
            {**SLOW, "metric": "queue_depth"},
            "monitoring.alerts[1].metric: 'queue_depth' is not a monitored metric of this plan; "
            "name one from monitoring.metrics (latency_ms, missing_value_rate, "
            "null_output_rate), drift:<column> for a drift test, decay for the model's "
            "performance, or silence for a model that stopped reporting.",
        ),
    ],
)
def test_a_spec_with_a_malformed_silence_or_metric_alert_is_refused(
    api, deployment, alert, message
):
    content = plan_content()
    content["monitoring"]["alerts"] = [alert]
    answer = api.post(
        f"/api/v1/deployments/{deployment.pk}/plans/", {"content": content}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert message in answer.json()["detail"]


def test_a_silence_alert_is_kept_in_the_plan_and_shown_in_its_changes(api, deployment):
    content = plan_content()
    content["monitoring"]["alerts"] = [QUIET]
    answer = api.post(
        f"/api/v1/deployments/{deployment.pk}/plans/", {"content": content}, format="json"
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["content"]["monitoring"]["alerts"] == [QUIET]
    shown = api.get(f"/api/v1/deployment-plans/{answer.json()['id']}/").json()
    assert "Scorer quiet (page on silence for 15 min)" in " ".join(shown["changes"])
