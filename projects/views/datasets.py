"""Pages for the dataset registry: cards, uploads, version profiles and lineage."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors as audit_selectors
from audits.services.baselines import baseline_run_request
from portal import access
from portal.exceptions import ApplicationError, PayloadTooLarge
from portal.uploads import refuse_bad_upload
from projects import forms, selectors
from projects.analysis.charts import LineageNode, bars_svg, histogram_svg, lineage_svg
from projects.models import Dataset, DatasetVersion
from projects.services import datasets
from projects.services.uploads import upload_check
from projects.views.projects import form_errors

__all__ = [
    "baseline_run_create",
    "baseline_run_status",
    "dataset_create",
    "dataset_detail",
    "dataset_edit",
    "version_detail",
    "version_status",
    "version_upload",
]


def _dataset(request: HttpRequest, pk: int, perm: str = access.VIEW) -> Dataset:
    dataset = selectors.dataset_get(request.user, pk)
    access.require_project_perm(request.user, dataset.project, perm)
    return dataset


def _dataset_fields(dataset: Dataset) -> dict:
    return {name: getattr(dataset, name) for name in datasets.DATASET_FIELDS}


@login_required
def dataset_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug, access.CHANGE)
    form = forms.DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = datasets.dataset_create(
                actor=request.user, project=project, **form.cleaned_data
            )
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"Dataset {dataset.name} registered.")
            return redirect(dataset)
    context = {"form": form, "title": "Register a dataset", "project": project, "section": "data"}
    return render(request, "projects/project_form.html", context)


@login_required
def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk, access.CHANGE)
    version = selectors.latest_profiled_version(dataset)
    form = forms.DatasetForm(
        request.POST or None,
        initial=_dataset_fields(dataset),
        version=version,
        columns=selectors.version_column_names(version),
    )
    if request.method == "POST" and form.is_valid():
        try:
            datasets.dataset_update(actor=request.user, dataset=dataset, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, "Dataset updated.")
            return redirect(dataset)
    context = {
        "form": form,
        "title": f"Edit {dataset.name}",
        "project": dataset.project,
        "section": "data",
    }
    return render(request, "projects/project_form.html", context)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dataset card: what a reviewer needs without opening the data."""
    dataset = _dataset(request, pk)
    perms = access.project_perms(request.user, dataset.project)
    versions = list(dataset.versions.select_related("uploaded_by").prefetch_related("parents"))
    latest = next((v for v in versions if v.status == "succeeded"), None)
    upload_form = None
    if access.CHANGE in perms:
        source, said_by = _carried_source(dataset, versions)
        upload_form = forms.VersionUploadForm(
            versions=selectors.ready_versions(dataset.project), initial={"source_uri": source}
        )
        if said_by:
            upload_form.fields[
                "source_uri"
            ].help_text = f"As {said_by} says; change it if this file came from elsewhere."
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "perms": perms,
        "versions": versions,
        "latest": latest,
        "summary": _profile_summary(latest) if latest else None,
        "upload_form": upload_form,
    }
    return render(request, "datasets/dataset_detail.html", context)


def _carried_source(dataset: Dataset, versions: list[DatasetVersion]) -> tuple[str, str]:
    """Where a new version comes from, as far as is known, and who says so: the newest
    version's source, else the dataset card's."""
    newest = max(versions, key=lambda v: v.number, default=None)
    if newest is not None and newest.source_uri:
        return newest.source_uri, f"v{newest.number}"
    if dataset.source:
        return dataset.source, "the dataset card"
    return "", ""


def _profile_summary(version: DatasetVersion) -> dict:
    profile = selectors.version_profile(version)
    columns = profile.get("columns", [])
    return {
        "rows": profile.get("rows"),
        "columns": len(columns),
        "missing_columns": [c["name"] for c in columns if c.get("missing")],
        "column_names": [c["name"] for c in columns],
        "label": profile.get("label"),
    }


@login_required
@require_POST
def version_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Store an upload (streamed to disk by the upload handler) as the next version."""
    dataset = _dataset(request, pk, access.CHANGE)
    form = forms.VersionUploadForm(
        request.POST,
        request.FILES,
        versions=selectors.ready_versions(dataset.project),
    )
    try:
        refuse_bad_upload(request)
    except PayloadTooLarge as exc:
        return _upload_refused(request, pk, exc)
    if not form.is_valid():
        detail = form_errors(form)
        return _upload_refused(request, pk, ApplicationError(detail))
    data = dict(form.cleaned_data)
    try:
        upload = upload_check(data.pop("file"))
        parents = list(data.pop("parents"))
        version, created = datasets.version_upload(
            actor=request.user, dataset=dataset, upload=upload, parents=parents, **data
        )
    except ApplicationError as exc:
        return _upload_refused(request, pk, exc)
    if created:
        messages.success(request, f"Uploaded as {version}; profiling it now.")
    else:
        messages.info(request, f"These bytes are {version} already.")
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": version.get_absolute_url()})
    return redirect(version)


def _upload_refused(request: HttpRequest, pk: int, exc: ApplicationError) -> HttpResponse:
    if request.headers.get("HX-Request"):
        return render(
            request, "datasets/_upload_error.html", {"detail": exc.detail}, status=exc.status
        )
    messages.error(request, exc.detail)
    return redirect(reverse("dataset-detail", args=[pk]))


def _column_charts(profile: dict) -> list[dict]:
    columns = []
    flagged_groups = {}
    for name, groups in (profile.get("groups") or {}).items():
        flagged_groups[name] = bars_svg(
            [(str(g["value"]), g["count"]) for g in groups],
            title=f"Group sizes of {name}",
            flagged={str(g["value"]) for g in groups if g.get("small")},
        )
    for column in profile.get("columns", []):
        chart = ""
        if column.get("histogram"):
            chart = histogram_svg(
                [tuple(b) for b in column["histogram"]], title=f"Distribution of {column['name']}"
            )
        elif column.get("top") and column["top"][0][1] > 1:  # all-distinct values say nothing
            chart = bars_svg(
                [(str(v), n) for v, n in column["top"]], title=f"Top values of {column['name']}"
            )
        columns.append(
            {**column, "chart": chart, "groups_chart": flagged_groups.get(column["name"])}
        )
    return columns


def _label_chart(profile: dict) -> str:
    label = profile.get("label")
    if not label or not label.get("classes"):
        return ""
    classes = label["classes"]
    return bars_svg(
        [(str(c["value"]), c["count"]) for c in classes],
        title=f"Classes of {label['column']}",
        flagged={str(c["value"]) for c in classes if c.get("rare")},
    )


def _lineage_chart(graph: dict) -> str:
    nodes = [
        LineageNode(
            id=str(n["id"]),
            label=f"{n['dataset']} v{n['number']}",
            sublabel=f"sha256 {n['sha256'][:10]}…",
            href=reverse("version-detail", args=[n["id"]]),
        )
        for n in graph["nodes"]
    ]
    current = next(str(n["id"]) for n in graph["nodes"] if n["current"])
    return lineage_svg(nodes, [(str(p), str(c)) for p, c in graph["edges"]], current=current)


@login_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = selectors.version_get(request.user, pk)
    project = version.dataset.project
    perms = access.project_perms(request.user, project)
    graph = selectors.lineage_graph(version)
    # Nothing to show (not an empty table) until the worker has profiled the file.
    profile = selectors.version_profile(version) if version.profile else {}
    context = {
        "version": version,
        "dataset": version.dataset,
        "project": project,
        "perms": perms,
        "lineage": graph,
        "lineage_svg": _lineage_chart(graph),
        "parents": [n for n in graph["nodes"] if [n["id"], version.pk] in graph["edges"]],
        "columns": _column_charts(profile),
        "label_chart": _label_chart(profile),
        "profile": profile,
        "status": _version_status(version),
        "runs": version.baseline_runs.all(),
        "run_form": forms.BaselineRunForm(initial={"target": version.dataset.label_column})
        if access.CHANGE in perms and version.status == "succeeded"
        else None,
    }
    return render(request, "datasets/version_detail.html", context)


def _version_status(version: DatasetVersion) -> dict:
    """What the job-status fragment shows for a version, polled while it is profiled."""
    return {
        "job": version,
        "dom_id": "version-status",
        "poll_url": reverse("version-status", args=[version.pk]),
        "page_url": version.get_absolute_url(),
        "region": "version-live",
    }


@login_required
def version_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A fragment that htmx polls while the version is profiled."""
    version = selectors.version_get(request.user, pk)
    status = {**_version_status(version), "swap_in": True}
    return render(request, "_job_status.html", {"status": status})


@login_required
@require_POST
def baseline_run_create(request: HttpRequest, pk: int) -> HttpResponse:
    version = selectors.version_get(request.user, pk)
    project = version.dataset.project
    access.require_project_perm(request.user, project, access.CHANGE)
    form = forms.BaselineRunForm(request.POST)
    if form.is_valid():
        try:
            baseline_run_request(actor=request.user, version=version, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.detail)
            return redirect(version)
        messages.success(request, "Baseline run started; it appears below as it progresses.")
    else:
        messages.error(request, "Choose a task or leave it to detection.")
        return redirect(version)
    return redirect("baseline-list", slug=project.slug)


@login_required
def baseline_run_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The run on a page of its own (where the audit trail links), or the fragment htmx
    polls while it trains."""
    run = audit_selectors.baseline_run_get(request.user, pk)
    if request.headers.get("HX-Request"):
        return render(request, "datasets/_baseline_run.html", {"run": run})
    project = run.dataset_version.dataset.project
    return render(request, "datasets/baseline_run.html", {"run": run, "project": project})
