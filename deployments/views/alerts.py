"""Alerts in the web: acknowledge and resolve them on the deployment page, add webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.services.alerts import alert_acknowledge, alert_resolve, webhook_create
from deployments.views.page import render_deployment
from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import check_posted_text

__all__ = ["alert_acknowledge_view", "alert_resolve_view", "alert_webhook_create_view"]


def _refused(request: HttpRequest, alert, exc: ApplicationError) -> HttpResponse:
    """The page again, with why (and its status: 409 when the alert moved on meanwhile)."""
    messages.error(request, exc.detail)
    return render_deployment(request, alert.deployment, status=exc.status)


def _back(alert) -> HttpResponse:
    return redirect(reverse("deployment", args=[alert.deployment_id]) + f"#alert-{alert.pk}")


@login_required
@require_POST
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = selectors.alert_get(request.user, pk)
    access.require_project_perm(request.user, alert.deployment.project, access.CHANGE)
    try:
        alert_acknowledge(actor=request.user, alert=alert)
    except ApplicationError as exc:
        return _refused(request, alert, exc)
    messages.success(request, f"Acknowledged {alert.rule}: it is yours until resolved.")
    return _back(alert)


@login_required
@require_POST
def alert_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = selectors.alert_get(request.user, pk)
    access.require_project_perm(request.user, alert.deployment.project, access.CHANGE)
    try:
        check_posted_text(request.POST, max_lengths={"reason": 2000})
        alert_resolve(actor=request.user, alert=alert, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        return _refused(request, alert, exc)
    messages.success(request, f"Resolved {alert.rule}.")
    return _back(alert)


@login_required
@require_POST
def alert_webhook_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a webhook; the page shows its signing secret this once."""
    deployment = selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.CHANGE)
    try:
        check_posted_text(request.POST, max_lengths={"url": 500})
        webhook, secret = webhook_create(
            actor=request.user, deployment=deployment, url=request.POST.get("url", "")
        )
    except ApplicationError as exc:
        messages.error(request, f"No webhook was added. {exc.detail}")
        return render_deployment(request, deployment, status=exc.status)
    return render_deployment(request, deployment, new_webhook=(webhook, secret))
