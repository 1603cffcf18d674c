"""Drift checks in the web: start one from the deployment page, read its columns."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.analysis.drift import Histogram
from deployments.analysis.drift_charts import drift_histogram_svg, histogram_description
from deployments.forms import DriftCheckForm
from deployments.models import DriftCheck
from deployments.services.drift import drift_check_request
from deployments.views.page import render_deployment
from portal import access
from portal.exceptions import ApplicationError
from projects import selectors as project_selectors

__all__ = ["drift_check_create_view", "drift_check_detail", "drift_check_status"]


def _status(check: DriftCheck) -> dict:
    return {
        "job": check,
        "dom_id": "drift-check-status",
        "poll_url": reverse("drift-check-status", args=[check.pk]),
        "page_url": reverse("drift-check", args=[check.pk]),
        "region": "drift-check-live",
    }


def _rows(check: DriftCheck) -> list[dict]:
    rows = []
    for column in (check.result or {}).get("columns", []):
        histogram = Histogram(
            labels=tuple(column["histogram"]["labels"]),
            reference=tuple(column["histogram"]["reference"]),
            current=tuple(column["histogram"]["current"]),
            edges=tuple(column["histogram"]["edges"]) if column["histogram"]["edges"] else None,
        )
        name = column["column"]
        rows.append(
            {
                **column,
                "svg": drift_histogram_svg(histogram, column=name),
                "description": histogram_description(histogram, column=name),
                "p_value": column["method"] in ("ks", "chisquare", "z"),
            }
        )
    # Drifted columns first, then by name.
    return sorted(rows, key=lambda r: (not r["drifted"], r["column"]))


@login_required
def drift_check_detail(request: HttpRequest, pk: int) -> HttpResponse:
    check = selectors.drift_check_get(request.user, pk)
    context = {
        "check": check,
        "deployment": check.deployment,
        "project": check.deployment.project,
        "status": _status(check),
        "rows": _rows(check) if check.status == DriftCheck.Status.SUCCEEDED else [],
    }
    return render(request, "deployments/drift_check.html", context)


@login_required
def drift_check_status(request: HttpRequest, pk: int) -> HttpResponse:
    check = selectors.drift_check_get(request.user, pk)
    return render(request, "_job_status.html", {"status": {**_status(check), "swap_in": True}})


@login_required
@require_POST
def drift_check_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Compare the chosen production period with the reference; a refusal shows on the
    deployment page with its reason."""
    deployment = selectors.deployment_get(request.user, pk)
    project = deployment.project
    access.require_project_perm(request.user, project, access.CHANGE)
    form = DriftCheckForm(request.POST, versions=project_selectors.ready_versions(project))
    if not form.is_valid():
        messages.error(request, "No drift check was started: choose two profiled versions.")
        return render_deployment(request, deployment, drift_form=form, status=400)
    try:
        check = drift_check_request(
            actor=request.user,
            deployment=deployment,
            reference=form.cleaned_data["reference"],
            current=form.cleaned_data["current"],
        )
    except ApplicationError as exc:
        messages.error(request, f"No drift check was started. {exc.detail}")
        return render_deployment(request, deployment, drift_form=form, status=exc.status)
    messages.success(request, "Drift check queued; a worker compares the columns now.")
    return redirect("drift-check", check.pk)
