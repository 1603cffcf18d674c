"""Pages for the risk register."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits import selectors
from audits.analysis.gates import register_check
from audits.analysis.risks import heat_map
from audits.forms import ExceptionForm, RiskForm
from audits.reports import LABELS
from audits.services.exceptions import exception_owners
from audits.services.risks import RISK_FIELDS, risk_create, risk_starter_import, risk_update
from portal import access
from portal.exceptions import ApplicationError
from portal.sudo import require_recent_password


def _may_edit(user, project) -> bool:
    return bool(access.project_perms(user, project) & set(access.EDIT_RISKS))


@login_required
def risk_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    form = RiskForm(request.POST or None, initial={"likelihood": 3, "impact": 3})
    if request.method == "POST":
        access.require_any_project_perm(request.user, project, access.EDIT_RISKS)
        if form.is_valid():
            try:
                risk_create(actor=request.user, project=project, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, "Risk added.")
                return redirect("risk-list", slug=slug)
    audit = selectors.candidate_audit(project)
    risks = selectors.risk_list(project)
    exceptions = selectors.risk_exceptions(project)
    for risk in risks:
        risk.newest_exception = exceptions.get(risk.pk)
    context = {
        "project": project,
        "risks": risks,
        "heat": heat_map((r.likelihood, r.impact) for r in risks),
        "register": register_check(selectors.risk_register_state(project)),
        "latest_audit": audit,
        "check_statuses": selectors.audit_check_statuses(audit),
        "check_labels": LABELS,
        "form": form if _may_edit(request.user, project) else None,
    }
    return render(request, "audits/risk_list.html", context)


@login_required
@require_POST
def risk_starter(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    access.require_any_project_perm(request.user, project, access.EDIT_RISKS)
    added = risk_starter_import(actor=request.user, project=project)
    messages.success(
        request, f"Added {added} common failure modes." if added else "The list is here already."
    )
    return redirect("risk-list", slug=slug)


@login_required
def risk_edit(request: HttpRequest, pk: int) -> HttpResponse:
    risk = selectors.risk_get(request.user, pk)
    project = risk.project
    access.require_any_project_perm(request.user, project, access.EDIT_RISKS)
    initial = {name: getattr(risk, name) for name in RISK_FIELDS}
    form = RiskForm(request.POST or None, initial=initial)
    # Accepting a high or critical risk: a business owner's exception, in the same form.
    exception_form = ExceptionForm(
        request.POST or None, prefix="exception", owners=exception_owners(project)
    )
    if request.method == "POST" and form.is_valid() and exception_form.is_valid():
        exception = exception_form.exception()
        if exception is not None:
            require_recent_password(request)  # a redirect to confirm it, then back here
        try:
            risk_update(actor=request.user, risk=risk, exception=exception, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(
                request, "Risk accepted as an exception." if exception else "Risk updated."
            )
            return redirect("risk-list", slug=project.slug)
    context = {
        "form": form,
        "exception_form": exception_form,
        "risk": risk,
        "exceptions": risk.exceptions.select_related("owner", "granted_by").order_by("-pk"),
        "project": project,
    }
    return render(request, "audits/risk_edit.html", context)
