"""One error shape for the whole API: ``{"code": ..., "detail": ...}``.

Every refusal (401, 403, and a 404 that hides an object the caller may not see) also
writes one line to the ``stagegate.security`` log (``portal.logs.log_refusal``); web
pages write theirs in ``portal.error_pages``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.error_pages import unreadable_request_error
from portal.exceptions import ApplicationError, NotFound
from portal.logs import log_refusal, request_id

log = logging.getLogger(__name__)


def _first_message(data) -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data)


def exception_handler(exc, context):
    response = _error_response(exc, context)
    reason = _refusal(exc, response.status_code)
    if reason:
        log_refusal(context["request"], response.status_code, reason)
    return response


def _refusal(exc, status_code: int) -> str:
    """The reason code when the response refuses access, else ""."""
    if status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
        if isinstance(exc, ApplicationError):
            return exc.code
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        return code if isinstance(code, str) else "permission_denied"
    if (
        status_code == status.HTTP_404_NOT_FOUND
        and isinstance(exc, NotFound)
        and exc.hides_an_object()
    ):
        return "not_visible"
    return ""


def _error_response(exc, context) -> Response:
    if isinstance(exc, SuspiciousOperation):
        # Raised while reading the body (over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields).
        log.warning("refused %s %s: %s", context["request"].method, context["request"].path, exc)
        exc = unreadable_request_error(exc)
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "detail": exc.detail, **exc.extra}
        return Response(body, status=exc.status)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down, or a conflict outlasted its retries: nothing was
        # written, and the same call can be made again shortly.
        log.warning("database unavailable in %s: %s", context["view"].__class__.__name__, exc)
        return Response(
            {"code": "unavailable", "detail": "The database is busy or unreachable; try again."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # An unexpected error: the trace goes to the log, the client gets the JSON shape.
        log.exception("unhandled error in %s", context["view"].__class__.__name__, exc_info=exc)
        rid = request_id.get()
        return Response(
            {
                "code": "server_error",
                "detail": f"Internal error; it has been logged as request {rid}.",
                "request_id": rid,
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": _first_message(exc.detail),
            "errors": exc.detail,
        }
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {
            "code": code if isinstance(code, str) else "error",
            "detail": str(getattr(exc, "detail", exc)),
        }
    return response
