"""The monitoring dashboard in the web: the page, and its live part that htmx polls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments import selectors
from deployments.dashboard import RANGES, dashboard

__all__ = ["deployment_dashboard", "deployment_dashboard_live"]

#: How often an open dashboard asks for its live part again.
POLL_SECONDS = 30


def _context(request: HttpRequest, pk: int) -> dict:
    deployment = selectors.deployment_get(request.user, pk)
    return {
        "deployment": deployment,
        "project": deployment.project,
        "board": dashboard(deployment, request.GET.get("range", "")),
        "ranges": list(RANGES),
        "poll_seconds": POLL_SECONDS,
    }


@login_required
def deployment_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "deployments/dashboard.html", _context(request, pk))


@login_required
def deployment_dashboard_live(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "deployments/_dashboard_live.html", _context(request, pk))
