"""Alert changes by e-mail to the people the monitoring spec's ``notify`` names.

Each entry is a username (their account's e-mail address, if they may see the project) or
an e-mail address. Who cannot be mailed is skipped, and the skip is kept on the alert so
its delivery log shows it. The mail itself is sent by the worker, through the same
delivery rows and retries as the webhooks (``deployments.services.alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.urls import reverse

from deployments import selectors
from deployments.models import Deployment
from portal import access

CHANGE_WORDS = {"firing": "Firing", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def notify_recipients(deployment: Deployment) -> tuple[list[str], list[dict[str, str]]]:
    """The addresses the current plan's ``notify`` resolves to, and who was skipped why."""
    plan = selectors.plan_current(deployment)
    entries = ((plan.content.get("monitoring") or {}).get("notify") or []) if plan else []
    if not entries:
        return [], []
    users = {u.username: u for u in get_user_model().objects.filter(username__in=list(entries))}
    addresses: dict[str, str] = {}
    skipped = []
    for who in entries:
        user = users.get(who)
        if user is not None:
            reason = ""
            if not user.is_active:
                reason = "their account is inactive."
            elif not user.email:
                reason = "no e-mail address on their account."
            elif not access.has_project_perm(user, deployment.project, access.VIEW):
                # The mail tells what the alert says: only to who may read the project.
                reason = "they may not see this project."
            if reason:
                skipped.append({"who": who, "reason": reason})
                continue
            address = user.email
        else:
            try:
                validate_email(who)
            except ValidationError:
                skipped.append({"who": who, "reason": "no such user, nor an e-mail address."})
                continue
            address = who
        addresses.setdefault(address.casefold(), address)
    return list(addresses.values()), skipped


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] + " UTC" if value else "—"


def alert_mail(body: Mapping[str, Any], recipient: str) -> EmailMessage:
    """The e-mail telling of one change, built from the delivery's stored body."""
    alert, change = body["alert"], body["change"]
    deployment = body["deployment"]
    word = CHANGE_WORDS.get(change, change)
    severity = f" [{alert['severity']}]" if alert.get("severity") else ""
    subject = (
        f"[Stagegate] {word}{severity}: {alert['rule']} on {deployment['name']} ({body['project']})"
    )
    link = (
        settings.SITE_URL.rstrip("/")
        + reverse("deployment", args=[deployment["id"]])
        + f"#alert-{alert['id']}"
    )
    lines = [
        f"{alert['rule']} is {alert['state']}.",
        "",
        alert["summary"],
        "",
        f"Fired: {_when(alert['fired_at'])}",
    ]
    if alert.get("acknowledged_at"):
        by = alert.get("acknowledged_by") or "—"
        lines.append(f"Acknowledged: {_when(alert['acknowledged_at'])} by {by}")
    if alert.get("resolved_at"):
        by = alert.get("resolved_by") or "its source"
        lines.append(f"Resolved: {_when(alert['resolved_at'])} by {by}")
        if alert.get("resolve_reason"):
            lines += ["", alert["resolve_reason"]]
    lines += ["", f"The alert and its history: {link}", ""]
    return EmailMessage(
        subject=subject,
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
    )


def mail_send(body: Mapping[str, Any], recipient: str) -> str:
    """Send one delivery's e-mail; why it failed (empty when sent)."""
    try:
        alert_mail(body, recipient).send(fail_silently=False)
    except (OSError, ValueError) as exc:  # refused, timed out, unreachable (smtplib's too)
        return f"{type(exc).__name__}: {exc}"[:500]
    return ""
