"""Logs as one JSON object a line, each tagged with the request it belongs to.

A request takes its id from ``X-Request-ID`` when the proxy in front set a sane one,
else a new one; the id goes back in the response's ``X-Request-ID`` and into every
log line written while the request is served, and into the body of a 500, so a
person reporting an error can quote it. JSON escapes newlines and terminal control
characters, so a user name or file name cannot forge or hide a log line.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str] = ContextVar("request_id", default="")

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = rid
        # Kept until the response is closed: Django logs a 4xx or 5xx after the
        # middleware has returned, and that line belongs to the request too.
        request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    request_id.set("")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        # Named fields a line carries besides its message (``extra={"fields": {...}}``).
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, default=str)


security_log = logging.getLogger("stagegate.security")

# The public part of a key as sent: "Token sg_<8 hex>_<secret>" gives "sg_<8 hex>".
_SENT_PREFIX = re.compile(r"(?:token|bearer)\s+(sg_[0-9a-f]{8})_", re.IGNORECASE)


def log_refusal(request: HttpRequest, status_code: int, reason: str) -> None:
    """One security-log line: who was refused what, and why (an API or a web request)."""
    if hasattr(request, "_request"):
        # DRF's request: the user and token as authentication left them; reading
        # request.user would authenticate again.
        user, token = getattr(request, "_user", None), getattr(request, "_auth", None)
    else:
        user, token = getattr(request, "user", None), None
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
