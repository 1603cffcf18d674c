"""Pages for baselines, model versions and evaluations, with comparison charts."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors as audit_selectors
from portal import access
from portal.exceptions import ApplicationError
from portal.uploads import refuse_bad_upload
from projects import forms, selectors
from projects.analysis.charts import comparison_charts
from projects.analysis.evaluation_charts import evaluation_figures, threshold_text
from projects.analysis.rigor import comparison_deltas, independence_check, training_overlap
from projects.models import DatasetVersion, Evaluation
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
    "model_training_data",
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
    versions = selectors.version_choices(project).exclude(status=DatasetVersion.Status.FAILED)
    form = forms.ModelVersionForm(request.POST or None, versions=versions)
    status = 200
    if request.method == "POST":
        access.access_project(request.user, slug, access.CHANGE)
        if form.is_valid():
            data = dict(form.cleaned_data)
            training = data.pop("training_data")
            try:
                model = evaluations.model_register(
                    actor=request.user,
                    project=project,
                    training_data=training.pk if training else None,
                    **data,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, f"Registered {model}.")
                return redirect(model)
        # The form again, with what was wrong: bad input answers 400.
        status = 400
    context = {
        "project": project,
        "perms": perms,
        "models": project.models.select_related("training_data__dataset").order_by(
            "name", "-created_at"
        ),
        "form": form if access.CHANGE in perms else None,
    }
    return render(request, "evaluations/model_list.html", context, status=status)


@login_required
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.model_get(request.user, pk)
    perms = access.project_perms(request.user, model.project)
    versions = selectors.ready_versions(model.project)
    shown = list(model.evaluations.select_related("dataset_version__dataset"))
    flags = selectors.on_training_data(shown)
    context = {
        "model": model,
        "project": model.project,
        "perms": perms,
        "evaluations": [{"evaluation": e, "on_training_data": flags[e.pk]} for e in shown],
        "form": forms.EvaluationUploadForm(versions=versions) if access.CHANGE in perms else None,
        "version_hints": _version_hints(versions) if access.CHANGE in perms else [],
        "training_form": forms.TrainingDataForm(versions=versions)
        if access.CHANGE in perms and model.training_data_id is None
        else None,
    }
    return render(request, "evaluations/model_detail.html", context)


def _version_hints(versions) -> list[dict]:
    """For each dataset version predictions can be about: its columns (a row id must be
    one) and which of the mapping's columns it holds itself (its label column can be the
    true value)."""
    hints = []
    for version in versions:
        columns = selectors.version_column_names(version)
        dataset = version.dataset
        hints.append(
            {
                "version": version,
                "columns": columns,
                "columns_json": json.dumps(columns),
                "label": dataset.label_column if dataset.label_column in columns else "",
                "sensitive": [c for c in dataset.sensitive_columns if c in columns],
            }
        )
    return hints


@login_required
@require_POST
def model_training_data(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.model_get(request.user, pk)
    access.require_project_perm(request.user, model.project, access.CHANGE)
    form = forms.TrainingDataForm(request.POST, versions=selectors.ready_versions(model.project))
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(model)
    try:
        model = evaluations.model_training_data_record(
            actor=request.user, model=model, training_data=form.cleaned_data["training_data"].pk
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Recorded {model.training_data} as {model}'s training data.")
    return redirect(model)


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
        refuse_bad_upload(request)
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


def _curves(evaluation: Evaluation) -> dict:
    """The evaluation's charts and where its decision threshold stands. Evaluations scored
    before curve data was kept have none: ``missing`` says so."""
    stored = evaluation.curves or {}
    return {
        "figures": evaluation_figures(stored),
        "missing": not stored,
        "threshold": threshold_text(stored, evaluation.mapping.get("y_pred", "y_pred"))
        if evaluation.task == "classification"
        else "",
        "notes": stored.get("notes", []),
    }


@login_required
def evaluation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = selectors.evaluation_get(request.user, pk)
    project = evaluation.model_version.project
    rows = selectors.evaluation_comparison(evaluation)
    deltas = comparison_deltas(rows)
    charts = [{**chart, "delta": deltas.get(chart["metric"])} for chart in comparison_charts(rows)]
    data = selectors.evaluated_data([evaluation])[evaluation.pk]
    finished = evaluation.status == Evaluation.Status.SUCCEEDED
    context = {
        "evaluation": evaluation,
        "model": evaluation.model_version,
        "project": project,
        "perms": access.project_perms(request.user, project),
        "charts": charts,
        "curves": _curves(evaluation) if finished else None,
        "status": _evaluation_status(evaluation),
        "on_training_data": training_overlap(data),
        "independence": independence_check(data),
        # Set when the true value is the dataset version's column, not the file's.
        "truth_label": evaluations.truth_column(evaluation),
        "standing": selectors.evaluation_baseline_standing(evaluation, project)
        if finished
        else None,
    }
    return render(request, "evaluations/evaluation_detail.html", context)


def _evaluation_status(evaluation) -> dict:
    """What the job-status fragment shows for an evaluation, polled while it is scored."""
    return {
        "job": evaluation,
        "dom_id": "evaluation-status",
        "poll_url": reverse("evaluation-status", args=[evaluation.pk]),
        "page_url": evaluation.get_absolute_url(),
        "region": "evaluation-live",
    }


@login_required
def evaluation_status(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = selectors.evaluation_get(request.user, pk)
    status = {**_evaluation_status(evaluation), "swap_in": True}
    return render(request, "_job_status.html", {"status": status})
