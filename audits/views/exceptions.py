"""Exceptions, listed for one project or across a team."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audits import selectors
from portal import access


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
