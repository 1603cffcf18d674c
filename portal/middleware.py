"""Domain refusals raised by a page become a 4xx page, like they become a 4xx in the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.exceptions import ApplicationError, Forbidden, NotFound


class ApplicationErrorMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        # 404 and 403 keep Django's own handlers (and templates).
        if not isinstance(exc, ApplicationError) or isinstance(exc, NotFound | Forbidden):
            return None
        return render(request, "error.html", {"error": exc}, status=exc.status)
