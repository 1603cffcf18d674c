"""One error shape for the whole API: ``{"code": ..., "detail": ...}``.

Every refusal (401, 403, and a 404 that hides an object the caller may not see) also
writes one line to the ``stagegate.security`` log, here and nowhere else.
"""

from __future__ import annotations

import logging
import re

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.error_pages import unreadable_request_error
from portal.exceptions import ApplicationError, NotFound
from portal.logs import request_id

log = logging.getLogger(__name__)
security_log = logging.getLogger("stagegate.security")

# The public part of a key as sent: "Token sg_<8 hex>_<secret>" gives "sg_<8 hex>".
_SENT_PREFIX = re.compile(r"(?:token|bearer)\s+(sg_[0-9a-f]{8})_", re.IGNORECASE)


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


def log_refusal(request: Request, status_code: int, reason: str) -> None:
    """One security-log line: who was refused what, and why."""
    # The authenticated user and token as DRF left them; reading request.user here
    # would run authentication again.
    user = getattr(request, "_user", None)
    token = getattr(request, "_auth", None)
    prefix = getattr(token, "prefix", None)
    if prefix is None:
        sent = _SENT_PREFIX.match(request.META.get("HTTP_AUTHORIZATION", ""))
        prefix = sent.group(1) if sent else None
    fields = {
        "request_id": request_id.get(),
        "user_id": user.pk if user is not None and user.is_authenticated else None,
        "token_prefix": prefix,
        "method": request.method,
        "path": request.path,
        "status": status_code,
        "reason": reason,
    }
    security_log.warning(
        "denied %s %s: %s %s",
        request.method,
        request.path,
        status_code,
        reason,
        extra={"fields": fields},
    )


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
