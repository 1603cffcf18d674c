"""Pages for monitoring reports: ask for one from the dashboard, follow it, download it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors
from audits.api.monitoring_reports import report_pdf_response
from audits.models import MonitoringReport
from audits.services.monitoring_reports import monitoring_report_request
from deployments import selectors as deployment_selectors
from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import check_posted_text

__all__ = [
    "monitoring_report_create",
    "monitoring_report_detail",
    "monitoring_report_pdf",
    "monitoring_report_status",
]


def _status(report: MonitoringReport) -> dict:
    return {
        "job": report,
        "dom_id": "report-status",
        "poll_url": reverse("monitoring-report-status", args=[report.pk]),
        "page_url": report.get_absolute_url(),
        "region": "report-live",
    }


@login_required
@require_POST
def monitoring_report_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A report on the period the dashboard shows; a refusal returns there with why."""
    deployment = deployment_selectors.deployment_get(request.user, pk)
    access.require_project_perm(request.user, deployment.project, access.CHANGE)
    back = reverse("deployment-dashboard", args=[deployment.pk])
    try:
        check_posted_text(request.POST, max_lengths={"period_start": 40, "period_end": 40})
        report = monitoring_report_request(
            actor=request.user,
            deployment=deployment,
            period_start=request.POST.get("period_start", ""),
            period_end=request.POST.get("period_end", ""),
        )
    except ApplicationError as exc:
        messages.error(request, f"No report was started. {exc.detail}")
        return redirect(back)
    messages.success(request, "Report queued; a worker lays out the PDF now.")
    return redirect(report)


@login_required
def monitoring_report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.monitoring_report_get(request.user, pk)
    context = {
        "report": report,
        "deployment": report.deployment,
        "project": report.deployment.project,
        "status": _status(report),
    }
    return render(request, "packs/monitoring_report_detail.html", context)


@login_required
def monitoring_report_status(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.monitoring_report_get(request.user, pk)
    return render(request, "_job_status.html", {"status": {**_status(report), "swap_in": True}})


@login_required
def monitoring_report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return report_pdf_response(selectors.monitoring_report_get(request.user, pk))
