"""Pages for the risk register."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits import selectors
from audits.forms import RiskForm
from audits.reports import LABELS
from audits.services.risks import RISK_FIELDS, risk_create, risk_starter_import, risk_update
from portal import access
from portal.exceptions import ApplicationError


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
    context = {
        "project": project,
        "risks": selectors.risk_list(project),
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
    access.require_any_project_perm(request.user, risk.project, access.EDIT_RISKS)
    initial = {name: getattr(risk, name) for name in RISK_FIELDS}
    form = RiskForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            risk_update(actor=request.user, risk=risk, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, "Risk updated.")
            return redirect("risk-list", slug=risk.project.slug)
    context = {"form": form, "title": f"Edit risk: {risk.title}", "project": risk.project}
    return render(request, "projects/project_form.html", context)
