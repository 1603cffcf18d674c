"""Signing a deployment plan in the web, as criteria versions are signed: bound to the
plan's content and to the evidence the signer was shown."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from portal.inputs import check_posted_text
from projects.analysis.signoffs import ROLE_LABELS
from projects.services.signoffs import signoff_record, signoff_revoke
from projects.templatetags.stagegate import DECIDED

__all__ = ["plan_signoff_create", "plan_signoff_revoke"]


@login_required
@require_POST
def plan_signoff_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject a plan version in one of the user's signing roles."""
    plan = selectors.plan_get(request.user, pk)
    # A refusal (not current, signed already, not your role) answers its 4xx page: a
    # signature must never look as if it went through.
    check_posted_text(request.POST, max_lengths={"comment": 4000})
    signoff = signoff_record(
        actor=request.user,
        document=plan,
        role=request.POST.get("role", ""),
        decision=request.POST.get("decision", ""),
        comment=request.POST.get("comment", ""),
        evidence_sha256=request.POST.get("evidence_sha256", ""),
    )
    messages.success(
        request,
        f"You {DECIDED[signoff.decision]} plan v{plan.version} as {ROLE_LABELS[signoff.role]}.",
    )
    return redirect(reverse("deployment-plan", args=[plan.pk]) + "#signoffs")


@login_required
@require_POST
def plan_signoff_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    signoff = selectors.plan_signoff_get(request.user, pk)
    check_posted_text(request.POST, max_lengths={"reason": 500})
    signoff_revoke(actor=request.user, signoff=signoff, reason=request.POST.get("reason", ""))
    messages.success(request, "Your sign-off is revoked.")
    return redirect(reverse("deployment-plan", args=[signoff.plan_id]) + "#signoffs")
