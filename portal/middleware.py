"""Middleware of the portal's own: domain refusals and an absent database become pages
with the right status, and every answer says which browser features it never needs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from portal.exceptions import ApplicationError, Forbidden, NotFound
from portal.sudo import PasswordRequired

log = logging.getLogger(__name__)

#: Browser features no page of the portal uses; ``()`` allows them to no origin, so an
#: injected script or a framed page cannot ask for them either.
DENIED_FEATURES = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "hid",
    "idle-detection",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
)
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in DENIED_FEATURES)


class ApplicationErrorMiddleware:
    """Domain refusals raised by a page become a 4xx page, like they become a 4xx in the API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, PasswordRequired):
            return _confirm_then_back(request, exc)
        # 404 and 403 keep Django's own handlers (and templates).
        if not isinstance(exc, ApplicationError) or isinstance(exc, NotFound | Forbidden):
            return None
        return render(request, "error.html", {"error": exc}, status=exc.status)


def _confirm_then_back(request: HttpRequest, exc: PasswordRequired) -> HttpResponse:
    """To the password page, then back to the page whose form asked (nothing was written)."""
    referer = urlsplit(request.headers.get("Referer", ""))
    back = referer.path if referer.netloc == request.get_host() and referer.path else "/"
    messages.info(request, exc.detail.split(" (")[0])
    return redirect(f"{reverse('password-confirm')}?{urlencode({'next': back})}")


class DatabaseUnavailableMiddleware:
    """A page whose database is down or too busy answers 503 with Retry-After, as the API
    does (``portal.api.errors``), instead of a 500 that says something broke."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        # Rendered without the request: its context processors would ask the database
        # for the user all over again.
        return HttpResponse(render_to_string("503.html"), status=503, headers={"Retry-After": "5"})


class PermissionsPolicyMiddleware:
    """Sends ``Permissions-Policy`` on every answer (Django has no setting for it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
