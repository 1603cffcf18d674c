"""The monitoring dashboard in the web: the page, and its live part that htmx polls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from deployments import selectors
from deployments.dashboard import RANGES, dashboard
from deployments.forms import ReviewForm
from deployments.reviews import review_panel
from portal import access

__all__ = ["deployment_dashboard", "deployment_dashboard_live"]

#: How often an open dashboard asks for its live part again.
POLL_SECONDS = 30


def _context(request: HttpRequest, pk: int) -> dict:
    deployment = selectors.deployment_get(request.user, pk)
    now = timezone.now()
    board = dashboard(deployment, request.GET.get("range", ""), now=now)
    return {
        "deployment": deployment,
        "project": deployment.project,
        "board": board,
        "ranges": list(RANGES),
        "poll_seconds": POLL_SECONDS,
        # A report covers the period shown, up to now.
        "report_period": (board.start.isoformat(), min(board.end, now).isoformat()),
        "can_change": access.CHANGE in access.project_perms(request.user, deployment.project),
        "reports": deployment.monitoring_reports.select_related("requested_by")[:5],
    }


@login_required
def deployment_dashboard(
    request: HttpRequest, pk: int, *, review_form: ReviewForm | None = None, status: int = 200
) -> HttpResponse:
    """The page; with ``review_form``, shown again as posted with what was wrong in it."""
    context = _context(request, pk)
    # The periodic review: not in the live part, which would wipe a review being written.
    review = review_panel(context["deployment"], now=timezone.now())
    if review_form is None and review.live and context["can_change"]:
        review_form = ReviewForm()
    context["review"], context["review_form"] = review, review_form
    return render(request, "deployments/dashboard.html", context, status=status)


@login_required
def deployment_dashboard_live(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "deployments/_dashboard_live.html", _context(request, pk))
