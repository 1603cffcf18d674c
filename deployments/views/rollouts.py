"""Moving a rollout from the deployment page: start, promote, roll back, abort.

A refusal (the window still open, a failing analysis, a missing reason) renders the page
with its status and the reasons, the failing checks included; it never looks like a move.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.analysis.catalog import number_text
from deployments.forms import MoveForm
from deployments.models import Deployment, Rollout
from deployments.services.rollouts import (
    plan_steps,
    rollout_abort,
    rollout_promote,
    rollout_rollback,
    rollout_start,
)
from deployments.views.page import render_deployment
from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import check_posted_text
from projects.views.projects import form_errors

__all__ = [
    "rollout_abort_view",
    "rollout_promote_view",
    "rollout_rollback_view",
    "rollout_start_view",
]


def _move(request: HttpRequest, pk: int, act: Callable[[Deployment, dict], str]) -> HttpResponse:
    deployment = selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.TRANSITION)
    form = MoveForm(request.POST)
    if not form.is_valid():
        refusal = {"detail": form_errors(form)}
        return render_deployment(request, deployment, refusal=refusal, status=400)
    try:
        check_posted_text(request.POST, max_lengths={"reason": 2000})
        done = act(deployment, form.cleaned_data)
    except ApplicationError as exc:
        refusal = {
            "detail": exc.detail,
            "code": exc.code,
            "checks": exc.extra.get("checks", []),
            "analysis": exc.extra.get("analysis"),
        }
        return render_deployment(
            request, deployment, refusal=refusal, status=exc.status, analysis_id=refusal["analysis"]
        )
    messages.success(request, done)
    return redirect(reverse("deployment", args=[deployment.pk]) + "#rollout")


@login_required
@require_POST
def rollout_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    def start(deployment: Deployment, data: dict) -> str:
        rollout = rollout_start(actor=request.user, deployment=deployment, reason=data["reason"])
        return (
            f"Rollout started by plan v{rollout.plan.version}: the new model serves "
            f"{number_text(rollout.traffic)} % of traffic."
        )

    return _move(request, pk, start)


@login_required
@require_POST
def rollout_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    def promote(deployment: Deployment, data: dict) -> str:
        rollout, analysis = rollout_promote(
            actor=request.user, deployment=deployment, reason=data["reason"], step=data["step"]
        )
        checks = analysis.checks.get("summary", "")
        if rollout.status == Rollout.Status.FINISHED:
            where = (
                f"{rollout.live_environment} now serves all traffic"
                if rollout.live_environment
                else f"the new model serves {number_text(rollout.traffic)} % of traffic"
            )
            return f"{checks} The rollout finished: {where}."
        total = len(plan_steps(rollout.plan.content))
        return (
            f"{checks} Promoted to step {rollout.step + 1} of {total}: "
            f"{number_text(rollout.traffic)} % of traffic."
        )

    return _move(request, pk, promote)


@login_required
@require_POST
def rollout_rollback_view(request: HttpRequest, pk: int) -> HttpResponse:
    def rollback(deployment: Deployment, data: dict) -> str:
        rollout_rollback(actor=request.user, deployment=deployment, reason=data["reason"])
        return "Rolled back: all traffic is on the model that served before."

    return _move(request, pk, rollback)


@login_required
@require_POST
def rollout_abort_view(request: HttpRequest, pk: int) -> HttpResponse:
    def abort(deployment: Deployment, data: dict) -> str:
        rollout_abort(actor=request.user, deployment=deployment, reason=data["reason"])
        return "Rollout aborted: traffic is back on the model that served before."

    return _move(request, pk, abort)
