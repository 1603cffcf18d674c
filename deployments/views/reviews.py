"""Periodic reviews in the web: recorded from the deployment's dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.forms import ReviewForm
from deployments.services.reviews import review_record
from deployments.views.dashboard import deployment_dashboard
from portal import access
from portal.exceptions import ApplicationError

__all__ = ["review_create_view"]


@login_required
@require_POST
def review_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a review; a refusal shows on the dashboard with its reason and the notes kept."""
    deployment = selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.CHANGE)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "No review was recorded: see the fields below.")
        return deployment_dashboard(request, pk, review_form=form, status=400)
    try:
        review_record(
            actor=request.user,
            deployment=deployment,
            outcome=form.cleaned_data["outcome"],
            notes=form.cleaned_data["notes"],
        )
    except ApplicationError as exc:
        messages.error(request, f"No review was recorded. {exc.detail}")
        return deployment_dashboard(request, pk, review_form=form, status=exc.status)
    messages.success(request, "Review recorded; the next one is due a cadence from now.")
    return redirect(reverse("deployment-dashboard", args=[deployment.pk]) + "#review")
