"""The 400, 403, 404 and 500 answers Django gives outside a view: JSON in the API's
``{"code", "detail"}`` shape under ``/api/``, the portal's pages elsewhere.

A URL that matches nothing, a body Django refuses to read, an error in a middleware:
none reaches DRF's exception handler, and a script calling the API must not get HTML.
A refused page (403, or a 404 that hides another team's object) is security-logged here.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from portal.exceptions import ApplicationError, NotFound, PayloadTooLarge
from portal.logs import log_refusal

API_PREFIX = "/api/"


def unreadable_request_error(exc: SuspiciousOperation) -> ApplicationError:
    """The refusal of a request Django would not read: 413 for a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, else 400."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return PayloadTooLarge(
            f"The request is too large: its body (files in a multipart upload apart) is over "
            f"the {limit:g} MiB this portal reads."
        )
    # Django's own messages name its settings, which mean nothing to a client.
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return ApplicationError(
            f"The request holds more than {limit} files; send at most {limit} at a time.",
            code="too_many_fields",
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApplicationError(
            f"The request holds more than {limit:,} fields; send at most {limit:,}.",
            code="too_many_fields",
        )
    # Other refusals (a bad Host header, a forged signature) say no more than that.
    return ApplicationError("The request is malformed.", code="bad_request")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    error = (
        unreadable_request_error(exception)
        if isinstance(exception, SuspiciousOperation)
        else ApplicationError("The request is malformed.", code="bad_request")
    )
    if _is_api(request):
        return _json(error.code, error.detail, error.status)
    if isinstance(error, PayloadTooLarge) or error.code == "too_many_fields":
        # A limit the person can act on: say which.
        return render(request, "error.html", {"error": error}, status=error.status)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    log_refusal(request, 403, getattr(exception, "code", "permission_denied"))
    if _is_api(request):
        return _json("permission_denied", "You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, NotFound) and exception.hides_an_object():
        log_refusal(request, 404, "not_visible")
    if _is_api(request):
        return _json("not_found", "Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django has logged the trace already; the client gets no detail of it.
    if _is_api(request):
        return _json("server_error", "Internal error; it has been logged.", 500)
    return defaults.server_error(request)
