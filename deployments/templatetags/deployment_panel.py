"""The project page's deployment panel: the project's deployments, what each waits for, and
a form to start planning one for the candidate model. A template tag, so the projects app
shows it without importing the deployments app."""

from __future__ import annotations

from django import template
from django.utils import timezone

from deployments import selectors
from deployments.forms import DeploymentForm
from deployments.models import DeploymentPlan, Rollout
from deployments.views.page import signoff_summary_of
from deployments.views.progress import next_step
from portal import access
from projects import selectors as project_selectors
from projects.models import Project

register = template.Library()

#: Deployments listed on the project page, newest first.
SHOWN = 5


@register.inclusion_tag("deployments/_project_panel.html", takes_context=True)
def deployment_panel(context, project: Project) -> dict:
    user = context["user"]
    now = timezone.now()
    deployments = list(selectors.deployment_list(project)[: SHOWN + 1])
    more, deployments = len(deployments) > SHOWN, deployments[:SHOWN]
    # Each deployment's current plan and newest rollout, in one query each.
    plans: dict[int, DeploymentPlan] = {}
    for plan in DeploymentPlan.objects.filter(deployment__in=deployments).order_by("-version"):
        plans.setdefault(plan.deployment_id, plan)
    rollouts: dict[int, Rollout] = {}
    newest_first = Rollout.objects.filter(deployment__in=deployments).select_related("plan")
    for rollout in newest_first.order_by("-started_at", "-pk"):
        rollouts.setdefault(rollout.deployment_id, rollout)
    # The evidence a plan's sign-off binds to is the project's: read once for all plans.
    evidence = None
    rows = []
    for deployment in deployments:
        plan, rollout = plans.get(deployment.pk), rollouts.get(deployment.pk)
        summary = None
        if plan is not None:
            if evidence is None:
                evidence = project_selectors.document_evidence(plan)
            summary = signoff_summary_of(project_selectors.signoff_rows(plan, plan, evidence))
        rows.append(
            {
                "deployment": deployment,
                "plan": plan,
                "rollout": rollout,
                "signed": bool(summary and summary.passed),
                "next": next_step(
                    project=project, plan=plan, summary=summary, rollout=rollout, now=now
                ),
            }
        )
    candidate = project_selectors.candidate_model(project)
    can_change = access.has_project_perm(user, project, access.CHANGE)
    return {
        "project": project,
        "rows": rows,
        "more": more,
        "candidate": candidate,
        "form": DeploymentForm(initial={"model_version": candidate.pk})
        if candidate and can_change
        else None,
        "csrf_token": context.get("csrf_token"),
    }
