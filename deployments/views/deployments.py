"""The deployment page and its plan: a new deployment, a new plan version."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.forms import DeploymentForm, DeploymentTokenForm, PlanForm
from deployments.services.plans import deployment_create, plan_save
from deployments.services.tokens import deployment_token_create
from deployments.views.page import render_deployment
from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import check_posted_text
from projects.views.projects import form_errors

__all__ = [
    "deployment_create_view",
    "deployment_detail",
    "deployment_token_create_view",
    "plan_create",
    "plan_detail",
]


def _analysis_id(request: HttpRequest) -> int | None:
    """``?analysis=<id>``: chart that analysis's window instead of the current one."""
    value = request.GET.get("analysis", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = selectors.deployment_get(request.user, pk)
    return render_deployment(request, deployment, analysis_id=_analysis_id(request))


@login_required
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The deployment page with an older (or the current) plan version in view."""
    plan = selectors.plan_get(request.user, pk)
    deployment = selectors.deployment_get(request.user, plan.deployment_id)
    return render_deployment(request, deployment, plan, analysis_id=_analysis_id(request))


@login_required
@require_POST
def deployment_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Start planning the deployment of the project's candidate model."""
    project = access.access_project(request.user, slug, access.CHANGE)
    form = DeploymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(project)
    model = project.models.filter(pk=form.cleaned_data["model_version"]).first()
    if model is None:
        messages.error(request, "No such model version in this project.")
        return redirect(project)
    try:
        deployment = deployment_create(
            actor=request.user,
            project=project,
            model_version=model,
            name=form.cleaned_data["name"],
            environment=form.cleaned_data["environment"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(project)
    messages.success(
        request, f"Created {deployment.name}. Write its plan below: it starts from a template."
    )
    return redirect(reverse("deployment", args=[deployment.pk]) + "#edit-plan")


@login_required
@require_POST
def plan_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the posted JSON as the deployment's next plan version; a refusal shows on the
    form, with the JSON as typed."""
    deployment = selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.CHANGE)
    form = PlanForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            check_posted_text(request.POST, max_lengths={"note": 500})
            plan = plan_save(
                actor=request.user,
                deployment=deployment,
                content=form.cleaned_data["content"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            form.add_error("content", exc.detail)
            status = exc.status
        else:
            messages.success(
                request,
                f"Saved plan v{plan.version}. It needs a business owner's and an ML engineer's "
                "sign-off before a rollout.",
            )
            return redirect(reverse("deployment", args=[deployment.pk]) + "#signoffs")
    problems = " ".join(str(e) for errors in form.errors.values() for e in errors)
    messages.error(request, f"The plan was not saved. {problems}")
    return render_deployment(request, deployment, plan_form=form, status=status)


@login_required
@require_POST
def deployment_token_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Make the deployment's own metrics token; the page shows its key this once."""
    deployment = selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.CHANGE)
    form = DeploymentTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"No token was made. {form_errors(form)}")
        return render_deployment(request, deployment, token_form=form, status=400)
    try:
        check_posted_text(request.POST, max_lengths={"name": 100})
        token, key = deployment_token_create(
            actor=request.user,
            deployment=deployment,
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
        )
    except ApplicationError as exc:
        messages.error(request, f"No token was made. {exc.detail}")
        return render_deployment(request, deployment, token_form=form, status=exc.status)
    return render_deployment(request, deployment, new_token=(token, key))
