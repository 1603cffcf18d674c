"""Signing a deployment plan in the web, as criteria versions are signed: bound to the
plan's content and to the evidence the signer was shown."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from projects.views.signing import revoke_posted, sign_posted

__all__ = ["plan_signoff_create", "plan_signoff_revoke"]


@login_required
@require_POST
def plan_signoff_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject a plan version in one of the user's signing roles."""
    plan = selectors.plan_get(request.user, pk)
    sign_posted(request, plan)
    return redirect(reverse("deployment-plan", args=[plan.pk]) + "#signoffs")


@login_required
@require_POST
def plan_signoff_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    signoff = selectors.plan_signoff_get(request.user, pk)
    revoke_posted(request, signoff)
    return redirect(reverse("deployment-plan", args=[signoff.plan_id]) + "#signoffs")
