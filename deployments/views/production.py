"""Production periods in the web: record one from the deployment page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.forms import LabelBatchForm, ProductionPeriodForm
from deployments.services.performance import label_batch_create
from deployments.services.production import production_period_create
from deployments.views.page import render_deployment
from portal import access
from portal.exceptions import ApplicationError

__all__ = ["label_batch_create_view", "production_period_create_view"]


@login_required
@require_POST
def production_period_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a period; a refusal shows on the deployment page with its reason."""
    deployment = selectors.deployment_get(request.user, pk)
    project = deployment.project
    access.require_project_perm(request.user, project, access.CHANGE)
    form = ProductionPeriodForm(request.POST, versions=selectors.production_versions(project))
    if not form.is_valid():
        messages.error(request, "No period was recorded: see the fields below.")
        return render_deployment(request, deployment, production_form=form, status=400)
    data = form.cleaned_data
    try:
        production_period_create(
            actor=request.user,
            deployment=deployment,
            version=data["dataset_version"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            score_column=data["score_column"],
            id_column=data["id_column"],
            threshold=data["threshold"],
        )
    except ApplicationError as exc:
        messages.error(request, f"No period was recorded. {exc.detail}")
        return render_deployment(request, deployment, production_form=form, status=exc.status)
    messages.success(request, "Period recorded; a worker derives its metrics now.")
    return redirect(reverse("deployment", args=[deployment.pk]) + "#production")


@login_required
@require_POST
def label_batch_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Join a batch of labels; a refusal shows on the deployment page with its reason."""
    deployment = selectors.deployment_get(request.user, pk)
    project = deployment.project
    access.require_project_perm(request.user, project, access.CHANGE)
    form = LabelBatchForm(request.POST, versions=selectors.production_versions(project))
    if not form.is_valid():
        messages.error(request, "No labels were joined: see the fields below.")
        return render_deployment(request, deployment, label_form=form, status=400)
    data = form.cleaned_data
    try:
        label_batch_create(
            actor=request.user,
            deployment=deployment,
            version=data["dataset_version"],
            id_column=data["id_column"],
            label_column=data["label_column"],
        )
    except ApplicationError as exc:
        messages.error(request, f"No labels were joined. {exc.detail}")
        return render_deployment(request, deployment, label_form=form, status=exc.status)
    messages.success(request, "Labels recorded; a worker joins them to the periods now.")
    return redirect(reverse("deployment", args=[deployment.pk]) + "#labels")
