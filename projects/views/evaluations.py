"""Pages for baselines, model versions and evaluations, with comparison charts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors as audit_selectors
from portal import access
from portal.exceptions import ApplicationError
from portal.uploads import refuse_too_large
from projects import forms, selectors
from projects.analysis.charts import comparison_charts
from projects.services import evaluations
from projects.services.uploads import upload_check
from projects.views.projects import _submit, form_errors

__all__ = [
    "baseline_list",
    "evaluation_create",
    "evaluation_detail",
    "evaluation_status",
    "model_candidate",
    "model_detail",
    "model_list",
]


@login_required
def baseline_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Recorded and trained baselines side by side, with each model's latest evaluation."""
    project = access.access_project(request.user, slug)
    perms = access.project_perms(request.user, project)
    if request.method == "POST":
        access.access_project(request.user, slug, access.CHANGE)
        _submit(
            request,
            forms.BaselineForm(request.POST),
            lambda data: evaluations.baseline_record(actor=request.user, project=project, **data),
            "Baseline recorded.",
        )
        return redirect("baseline-list", slug=slug)
    rows = selectors.comparison(project, selectors.latest_evaluations(project))
    context = {
        "project": project,
        "perms": perms,
        "baselines": selectors.baselines_recorded(project),
        "runs": audit_selectors.baseline_runs(project),
        "charts": comparison_charts(rows),
        "form": forms.BaselineForm() if access.CHANGE in perms else None,
    }
    return render(request, "evaluations/baseline_list.html", context)


@login_required
def model_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    perms = access.project_perms(request.user, project)
    form = forms.ModelVersionForm(request.POST or None)
    if request.method == "POST":
        access.access_project(request.user, slug, access.CHANGE)
        if form.is_valid():
            try:
                model = evaluations.model_register(
                    actor=request.user, project=project, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, f"Registered {model}.")
                return redirect(model)
    context = {
        "project": project,
        "perms": perms,
        "models": project.models.order_by("name", "-created_at"),
        "form": form if access.CHANGE in perms else None,
    }
    return render(request, "evaluations/model_list.html", context)


@login_required
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.model_get(request.user, pk)
    perms = access.project_perms(request.user, model.project)
    versions = selectors.ready_versions(model.project)
    context = {
        "model": model,
        "project": model.project,
        "perms": perms,
        "evaluations": model.evaluations.select_related("dataset_version__dataset"),
        "form": forms.EvaluationUploadForm(versions=versions) if access.CHANGE in perms else None,
    }
    return render(request, "evaluations/model_detail.html", context)


@login_required
@require_POST
def model_candidate(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.model_get(request.user, pk)
    access.require_project_perm(request.user, model.project, access.CHANGE)
    evaluations.model_mark_candidate(actor=request.user, model=model)
    messages.success(request, f"{model} is the candidate model now.")
    return redirect(model)


@login_required
@require_POST
def evaluation_create(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.model_get(request.user, pk)
    access.require_project_perm(request.user, model.project, access.CHANGE)
    versions = selectors.ready_versions(model.project)
    form = forms.EvaluationUploadForm(request.POST, request.FILES, versions=versions)
    try:
        refuse_too_large(request)
        if not form.is_valid():
            raise ApplicationError(form_errors(form))
        data = dict(form.cleaned_data)
        evaluation = evaluations.evaluation_upload(
            actor=request.user,
            model=model,
            dataset_version=data.pop("dataset_version"),
            upload=upload_check(data.pop("file")),
            mapping=data,
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(model)
    messages.success(request, "Predictions uploaded; computing the metrics now.")
    return redirect(evaluation)


@login_required
def evaluation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = selectors.evaluation_get(request.user, pk)
    charts = comparison_charts(selectors.evaluation_comparison(evaluation))
    context = {
        "evaluation": evaluation,
        "model": evaluation.model_version,
        "project": evaluation.model_version.project,
        "perms": access.project_perms(request.user, evaluation.model_version.project),
        "charts": charts,
        "status": _evaluation_status(evaluation, shown=bool(charts)),
    }
    return render(request, "evaluations/evaluation_detail.html", context)


def _evaluation_status(evaluation, shown: bool = False) -> dict:
    """What the job-status fragment shows for an evaluation, polled while it is scored."""
    return {
        "job": evaluation,
        "dom_id": "evaluation-status",
        "poll_url": reverse("evaluation-status", args=[evaluation.pk]),
        "ready_text": "Metrics ready: show them",
        "shown": shown,
    }


@login_required
def evaluation_status(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = selectors.evaluation_get(request.user, pk)
    return render(request, "_job_status.html", {"status": _evaluation_status(evaluation)})
