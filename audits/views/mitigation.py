"""Mitigation options on the audit page: ask for them, poll the worker, show the trade-off."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors
from audits.analysis.gates import FAILING_VERDICTS
from audits.analysis.mitigation_charts import tradeoff_svg
from audits.models import AuditRun, Mitigation
from audits.services.mitigation import mitigation_refusal, mitigation_request
from portal import access
from portal.exceptions import ApplicationError


def _status(mitigation: Mitigation) -> dict[str, Any]:
    return {
        "job": mitigation,
        "dom_id": "mitigation-status",
        "poll_url": reverse("mitigation-status", args=[mitigation.audit_id]),
        "page_url": reverse("audit-detail", args=[mitigation.audit_id]),
        "region": "mitigation-live",
    }


def mitigation_context(user, audit: AuditRun) -> dict[str, Any]:
    """What the audit page needs for its mitigation section: the newest run and its status,
    its stored result and chart, and whether this user may ask (or why nobody can)."""
    mitigation = selectors.mitigation_latest(audit)
    failed_or_none = mitigation is None or mitigation.status == Mitigation.Status.FAILED
    refusal = mitigation_refusal(audit)
    done = mitigation is not None and mitigation.status == Mitigation.Status.SUCCEEDED
    result = mitigation.result if done else {}
    return {
        "mitigation_job": mitigation,
        "mitigation_status": _status(mitigation) if mitigation is not None else None,
        # The partial's two inputs (templates/audits/_mitigation.html).
        "mitigation": result,
        "mitigation_svg": tradeoff_svg(result) if result else "",
        "mitigation_offered": audit.status == AuditRun.Status.SUCCEEDED
        and audit.verdict in FAILING_VERDICTS,
        "mitigation_refusal": refusal.detail if refusal is not None else "",
        "may_request_mitigation": failed_or_none
        and refusal is None
        and access.CHANGE in access.project_perms(user, audit.project),
    }


@login_required
@require_POST
def mitigation_create(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    # Who may ask for an audit may ask what mitigating it would cost.
    access.require_project_perm(request.user, audit.project, access.CHANGE)
    back = reverse("audit-detail", args=[audit.pk]) + "#mitigation"
    try:
        _, created = mitigation_request(actor=request.user, audit=audit)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(back)
    if created:
        messages.success(request, "Mitigation queued; a worker runs ThresholdOptimizer now.")
    else:
        messages.info(request, "This audit has its mitigation options already.")
    return redirect(back)


@login_required
def mitigation_status(request: HttpRequest, pk: int) -> HttpResponse:
    mitigation = selectors.mitigation_get(request.user, pk)
    status = {**_status(mitigation), "swap_in": True}
    return render(request, "_job_status.html", {"status": status})
