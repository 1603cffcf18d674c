"""Exceptions, listed for one project or across a team."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits import selectors
from audits.forms import ExceptionForm
from audits.services.exceptions import (
    criterion_exception_grant,
    exception_owners,
    require_business_owner,
)
from portal import access
from portal.exceptions import ApplicationError
from portal.sudo import require_recent_password
from projects import selectors as project_selectors
from projects.views.projects import form_errors


@login_required
def project_exception_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    context = {
        "heading": f"Exceptions of {project.name}",
        "project": project,
        "exceptions": selectors.project_exceptions(project),
    }
    return render(request, "audits/exception_list.html", context)


@login_required
def team_exception_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Every exception on the team's projects that the reader may see."""
    team = access.access_team(request.user, slug)
    context = {
        "heading": f"Exceptions across {team.name}",
        "team": team,
        "exceptions": selectors.exceptions_visible(request.user).filter(project__team=team),
    }
    return render(request, "audits/exception_list.html", context)


@login_required
@require_POST
def criterion_exception_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A business owner accepts an unmet criterion as an exception, from the criteria page."""
    version = project_selectors.criteria_version_get(request.user, pk)
    require_business_owner(request.user, version.project, "an unmet criterion")
    form = ExceptionForm(request.POST, owners=exception_owners(version.project))
    criterion = request.POST.get("criterion", "")
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect("criteria-version", pk=pk)
    require_recent_password(request)  # a redirect to confirm it, then back to the page
    try:
        exception = criterion_exception_grant(
            actor=request.user,
            version=version,
            criterion=criterion,
            exception=form.exception() or {},
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, f"Accepted {criterion} as an exception until {exception.expires_on}."
        )
    return redirect("criteria-version", pk=pk)
