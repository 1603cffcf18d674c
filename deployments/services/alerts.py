"""Alerts: fired by the monitoring spec's rules or the team's Alertmanager, acknowledged and
resolved by people, every change on the trail, POSTed, signed, to the deployment's
webhooks and e-mailed to the spec's ``notify`` by the worker (retried with exponential
backoff, every attempt logged).

A webhook request carries ``Stagegate-Signature: t=<unix seconds>,v1=<hex>``, where the hex
is HMAC-SHA256 with the webhook's secret over ``<t>.<body>``: the receiver recomputes it
and compares, and refuses a timestamp too old (a replay), as with Stripe's signatures.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import Alert, AlertDelivery, AlertWebhook, Deployment
from deployments.services.alert_mail import mail_send, notify_recipients
from portal.exceptions import ApplicationError, Conflict
from projects.services.events import event_record

if TYPE_CHECKING:
    from deployments.models import DriftCheck
    from projects.models import ApiToken

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Stagegate-Signature"
#: Alertmanager's webhook payload version this receiver reads.
ALERTMANAGER_VERSION = "4"


# --- Webhooks ---------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Stagegate-Signature`` header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _refused_address(url: str) -> str:
    """Why the portal may not POST to ``url`` (empty when it may): an http(s) address whose
    host resolves only to public addresses, unless ALERT_WEBHOOK_ALLOW_PRIVATE is set."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http or https address."
    if parts.username or parts.password:
        return "Keep credentials out of the address; the signature authenticates the portal."
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"{parts.hostname} does not resolve."
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return ""
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            return (
                f"{parts.hostname} resolves to {ip}, a private, loopback or reserved address; "
                "the portal posts alerts to public addresses only (ALERT_WEBHOOK_ALLOW_PRIVATE "
                "lifts this for an internal receiver)."
            )
    return ""


def webhook_create(
    *, actor, deployment: Deployment, url: str, token: ApiToken | None = None
) -> tuple[AlertWebhook, str]:
    """Add a webhook for ``deployment``'s alerts; the secret is returned this once."""
    url = (url or "").strip()
    refused = _refused_address(url)
    if refused:
        raise ApplicationError(refused, code="invalid_webhook")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        webhook = AlertWebhook.objects.create(
            deployment=deployment, url=url, secret=secret, created_by=actor
        )
        event_record(
            actor=actor,
            verb="alert_webhook.created",
            target=webhook,
            project=deployment.project,
            token=token,
            payload={"deployment": deployment.pk, "url": url},
        )
    return webhook, secret


def alert_record(alert: Alert) -> dict[str, Any]:
    """An alert as its webhooks and reports tell of it: what fired, who handled it when."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": alert.pk,
        "rule": alert.rule,
        "source": alert.source,
        "severity": alert.severity,
        "summary": alert.summary,
        "state": alert.state,
        "fired_at": when(alert.fired_at),
        "acknowledged_at": when(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.username if alert.acknowledged_by else None,
        "resolved_at": when(alert.resolved_at),
        "resolved_by": alert.resolved_by.username if alert.resolved_by else None,
        "resolve_reason": alert.resolve_reason,
    }


def _body(alert: Alert, change: str) -> dict[str, Any]:
    return {
        "change": change,
        "deployment": {"id": alert.deployment_id, "name": alert.deployment.name},
        "project": alert.deployment.project.slug,
        "alert": alert_record(alert),
    }


def _notify(alert: Alert, change: str) -> None:
    """A delivery of this change to each active webhook and each address the spec's
    ``notify`` resolves to, sent once the change commits; who cannot be mailed is kept on
    the alert (``details.notify_skipped``) for its delivery log."""
    body = _body(alert, change)
    targets: list[dict[str, Any]] = [
        {"webhook": webhook} for webhook in alert.deployment.alert_webhooks.filter(active=True)
    ]
    addresses, skipped = notify_recipients(alert.deployment)
    targets += [{"recipient": address} for address in addresses]
    for target in targets:
        delivery = AlertDelivery.objects.create(alert=alert, change=change, body=body, **target)
        transaction.on_commit(lambda pk=delivery.pk: _publish(pk))
    if skipped:
        details = dict(alert.details or {})
        details["notify_skipped"] = [
            *details.get("notify_skipped", []),
            *({**s, "change": change} for s in skipped),
        ]
        alert.details = details
        alert.save(update_fields=["details"])  # in the change's transaction, beside its event


def _publish(delivery_id: int, countdown: float = 0) -> None:
    from deployments.tasks import alert_deliver_task

    try:
        alert_deliver_task.apply_async(args=[delivery_id], countdown=countdown, retry=False)
    except Exception:  # the broker is down: the sweeper publishes it later
        log.warning("Alert delivery %s not published; the sweeper will.", delivery_id)


def _send(webhook: AlertWebhook, body: bytes) -> int:
    """POST ``body`` signed; the answer's status (redirects are not followed: a webhook
    answers where it was registered)."""
    stamp = int(time.time())
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Stagegate-Alerts",
            SIGNATURE_HEADER: signature(webhook.secret, stamp, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _attempt(delivery: AlertDelivery) -> tuple[int | None, str]:
    """Send once: to the webhook (the answer's status) or by e-mail; the error, if any."""
    if delivery.webhook is None:
        return None, mail_send(delivery.body, delivery.recipient)
    body = json.dumps(delivery.body, sort_keys=True, separators=(",", ":")).encode()
    refused = _refused_address(delivery.webhook.url)
    if refused:
        return None, refused
    try:
        code = _send(delivery.webhook, body)
    except (OSError, ValueError) as exc:  # refused, timed out, unreachable
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if not 200 <= code < 300:
        return code, f"The receiver answered {code}."
    return code, ""


def alert_deliver(*, delivery_id: int) -> None:
    """One attempt at a delivery (a webhook's POST or an e-mail); a failed one is tried
    again later, each wait twice the one before, until ALERT_DELIVERY_ATTEMPTS attempts."""
    delivery = AlertDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != AlertDelivery.Status.PENDING:
        return
    # Claim this attempt: a duplicate message for the same attempt finds it taken.
    claimed = AlertDelivery.objects.filter(
        pk=delivery.pk, status=AlertDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=delivery.attempts + 1)
    if not claimed:
        return
    attempts = delivery.attempts + 1
    code, error = _attempt(delivery)
    now = timezone.now()
    if not error:
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=AlertDelivery.Status.DELIVERED, last_status_code=code, delivered_at=now
        )
        return
    last = attempts >= settings.ALERT_DELIVERY_ATTEMPTS
    wait = settings.ALERT_RETRY_SECONDS * 2 ** (attempts - 1)
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status=AlertDelivery.Status.FAILED if last else AlertDelivery.Status.PENDING,
        last_status_code=code,
        last_error=error,
        next_attempt_at=now + timedelta(seconds=wait),
    )
    if not last:
        _publish(delivery.pk, countdown=wait)


def alert_deliveries_sweep(now: datetime | None = None) -> int:
    """Send again what the broker lost: pending deliveries well past their next attempt."""
    now = now or timezone.now()
    late = AlertDelivery.objects.filter(
        status=AlertDelivery.Status.PENDING,
        next_attempt_at__lt=now - timedelta(seconds=settings.ALERT_RETRY_SECONDS),
    ).values_list("pk", flat=True)[:500]
    for pk in late:
        _publish(pk)
    return len(late)


# --- The alert's life --------------------------------------------------------------------------


def alert_fire(
    *,
    deployment: Deployment,
    source: str,
    rule: str,
    key: str,
    summary: str,
    severity: str = "",
    details: dict | None = None,
    actor=None,
    token: ApiToken | None = None,
) -> tuple[Alert, bool]:
    """The open alert for ``key``, fired now unless one is open already."""
    open_alerts = Alert.objects.filter(deployment=deployment, key=key).exclude(
        state=Alert.State.RESOLVED
    )
    found = open_alerts.first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                deployment=deployment,
                source=source,
                rule=rule[:200],
                key=key[:300],
                severity=severity[:20],
                summary=summary,
                details=details or {},
            )
            event_record(
                actor=actor,
                verb="alert.fired",
                target=alert,
                project=deployment.project,
                token=token,
                payload={"rule": alert.rule, "source": source, "severity": alert.severity},
            )
            _notify(alert, Alert.State.FIRING)
    except IntegrityError:  # fired at the same moment by another request
        return open_alerts.get(), False
    return alert, True


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().select_related("deployment__project").get(pk=alert.pk)


def alert_acknowledge(*, actor, alert: Alert, token: ApiToken | None = None) -> Alert:
    """Someone is on it: the alert keeps firing on the record until it is resolved."""
    with transaction.atomic():
        alert = _locked(alert)
        if alert.state != Alert.State.FIRING:
            raise Conflict(
                f"The alert is {alert.get_state_display().lower()} already.", code="not_firing"
            )
        alert.state = Alert.State.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by = timezone.now(), actor
        alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        event_record(
            actor=actor,
            verb="alert.acknowledged",
            target=alert,
            project=alert.project,
            token=token,
            payload={"rule": alert.rule},
        )
        _notify(alert, Alert.State.ACKNOWLEDGED)
    return alert


def alert_resolve(*, actor, alert: Alert, reason: str = "", token: ApiToken | None = None) -> Alert:
    """Over: by a person (``actor``) or by its source (``actor`` None), with why."""
    with transaction.atomic():
        alert = _locked(alert)
        if alert.state == Alert.State.RESOLVED:
            raise Conflict("The alert is resolved already.", code="resolved_already")
        alert.state = Alert.State.RESOLVED
        alert.resolved_at, alert.resolved_by = timezone.now(), actor
        alert.resolve_reason = (reason or "").strip()[:2000]
        alert.save(update_fields=["state", "resolved_at", "resolved_by", "resolve_reason"])
        event_record(
            actor=actor,
            verb="alert.resolved",
            target=alert,
            project=alert.project,
            token=token,
            payload={"rule": alert.rule, "reason": alert.resolve_reason},
        )
        _notify(alert, Alert.State.RESOLVED)
    return alert


def alerts_resolve_open(deployment: Deployment, key: str, reason: str) -> None:
    """Resolve the open alert of ``key`` as its source; one a person resolved meanwhile
    stays as they left it."""
    for alert in Alert.objects.filter(deployment=deployment, key=key).exclude(
        state=Alert.State.RESOLVED
    ):
        with contextlib.suppress(Conflict):
            alert_resolve(actor=None, alert=alert, reason=reason)


# --- Sources -------------------------------------------------------------------------------


def drift_alerts(check: DriftCheck) -> None:
    """Fire the spec's alerts on a drifted column (``drift:<column>``); resolve an open one
    whose column the check found steady."""
    plan = check.deployment.plans.order_by("-version").first()
    rules = (plan.content.get("monitoring") or {}).get("alerts", []) if plan else []
    columns = {c["column"]: c for c in (check.result or {}).get("columns", [])}
    for rule in rules:
        column = (
            rule["metric"].removeprefix("drift:") if rule["metric"].startswith("drift:") else ""
        )
        if column not in columns:
            continue
        found = columns[column]
        key = f"spec:{rule['name']}"
        if found["drifted"]:
            alert_fire(
                deployment=check.deployment,
                source=Alert.Source.SPEC,
                rule=rule["name"],
                key=key,
                severity=rule["severity"],
                summary=(
                    f"{column} drifted in drift check {check.pk}: {found['method']} "
                    f"{found['statistic']:.4g} against {found['threshold']:g}."
                ),
                details={"drift_check": check.pk, "column": column},
            )
            continue
        alerts_resolve_open(check.deployment, key, f"Drift check {check.pk} found {column} steady.")


def _text(value: Any, limit: int = 500) -> str:
    return value[:limit] if isinstance(value, str) else ""


def alertmanager_receive(
    *, actor, deployment: Deployment, payload: Any, token: ApiToken | None = None
) -> dict[str, int]:
    """Alertmanager's webhook (payload version 4): each firing alert fires here (once per
    fingerprint while it fires), each resolved one resolves its open alert."""
    if not isinstance(payload, dict) or str(payload.get("version", "")) != ALERTMANAGER_VERSION:
        raise ApplicationError(
            "Send Alertmanager's webhook payload, version 4 (an object with version, status "
            "and alerts).",
            code="invalid_payload",
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts or len(alerts) > 1000:
        raise ApplicationError(
            "alerts: give Alertmanager's list of 1 to 1,000 alerts.", code="invalid_payload"
        )
    for n, item in enumerate(alerts, start=1):
        labels = item.get("labels") if isinstance(item, dict) else None
        if (
            not isinstance(labels, dict)
            or not _text(labels.get("alertname"))
            or item.get("status") not in ("firing", "resolved")
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
        ):
            raise ApplicationError(
                f"alerts[{n}]: each alert has a status (firing or resolved) and text labels "
                "with an alertname.",
                code="invalid_payload",
            )
    counts = {"fired": 0, "firing_already": 0, "resolved": 0, "not_open": 0}
    for item in alerts:
        labels = item["labels"]
        annotations = item.get("annotations") if isinstance(item.get("annotations"), dict) else {}
        # Alertmanager's fingerprint names the alert; without one, its sorted labels do.
        fingerprint = (
            _text(item.get("fingerprint"), 100)
            or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        )
        key = f"alertmanager:{fingerprint}"
        if item["status"] == "firing":
            _, fired = alert_fire(
                deployment=deployment,
                source=Alert.Source.ALERTMANAGER,
                rule=labels["alertname"],
                key=key,
                severity=_text(labels.get("severity"), 20),
                summary=_text(annotations.get("summary"), 2000)
                or _text(annotations.get("description"), 2000)
                or labels["alertname"],
                details={
                    "labels": labels,
                    "annotations": {k: v for k, v in annotations.items() if isinstance(v, str)},
                    "starts_at": _text(item.get("startsAt"), 40),
                    "generator_url": _text(item.get("generatorURL"), 1000),
                    "external_url": _text(payload.get("externalURL"), 1000),
                },
                actor=actor,
                token=token,
            )
            counts["fired" if fired else "firing_already"] += 1
            continue
        open_alerts = Alert.objects.filter(deployment=deployment, key=key).exclude(
            state=Alert.State.RESOLVED
        )
        if not open_alerts.exists():
            counts["not_open"] += 1
        for alert in open_alerts:
            ended = _text(item.get("endsAt"), 40)
            alert_resolve(
                actor=None,
                alert=alert,
                reason="Resolved in Alertmanager" + (f" at {ended}." if ended else "."),
                token=token,
            )
            counts["resolved"] += 1
    return counts
