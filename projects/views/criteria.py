"""Pages for success criteria: the current version, how it stands, its history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal import access
from portal.exceptions import ApplicationError
from projects import selectors
from projects.analysis.criteria import CATALOG
from projects.analysis.criteria_templates import TEMPLATES
from projects.services.criteria import criteria_from_template

__all__ = ["criteria_page", "criteria_version"]


def _context(request: HttpRequest, project, version) -> dict:
    perms = access.project_perms(request.user, project)
    return {
        "project": project,
        "version": version,
        "rows": selectors.criteria_assessment(version) if version else [],
        "changes": selectors.criteria_changes(version) if version else [],
        "versions": selectors.criteria_versions(project),
        "current": selectors.criteria_current(project),
        "catalog": CATALOG,
        "templates": list(TEMPLATES) if access.CHANGE in perms else [],
    }


@login_required
def criteria_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The current criteria version with each criterion measured; start from a template."""
    project = access.access_project(request.user, slug)
    if request.method == "POST":
        access.require_project_perm(request.user, project, access.CHANGE)
        try:
            version = criteria_from_template(
                actor=request.user, project=project, template=request.POST.get("template", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"Saved criteria v{version.version}.")
        return redirect("criteria", slug=slug)
    context = _context(request, project, selectors.criteria_current(project))
    return render(request, "criteria/criteria.html", context)


@login_required
def criteria_version(request: HttpRequest, pk: int) -> HttpResponse:
    version = selectors.criteria_version_get(request.user, pk)
    context = _context(request, version.project, version)
    return render(request, "criteria/criteria.html", context)
