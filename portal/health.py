"""``/healthz``: is the database, the broker and at least one worker answering?

Anyone may ask, so anyone learns only ``up`` or ``down``; which part is down, and the
workers' host names, go to staff sessions and API tokens (and to the log).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from portal.api.authentication import HashedTokenAuthentication
from portal.celery import app

log = logging.getLogger(__name__)


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _broker() -> dict:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def workers_check() -> dict:
    """Whether a Celery worker answers a ping, and which."""
    try:
        # One reply is enough: the answer comes as soon as any worker responds.
        replies = app.control.ping(timeout=2.0, limit=1)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


def _may_see_details(request: HttpRequest) -> bool:
    """A staff session, or a usable API token sent as the API takes it."""
    try:
        if request.user.is_authenticated and request.user.is_staff:
            return True
        # The API's own authentication, so a key is taken, or refused, exactly as on /api/.
        return HashedTokenAuthentication().authenticate(Request(request)) is not None
    except (APIException, DatabaseError):
        # A wrong key, a sender refused for too many of them, or no database to check
        # the caller against: the short answer.
        return False


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    checks["worker"] = workers_check() if checks["broker"]["ok"] else {"ok": False}
    healthy = all(check["ok"] for check in checks.values())
    status = 200 if healthy else 503
    body = {"status": "up" if healthy else "down"}
    if not healthy:
        log.warning("health check down: %s", checks)
    if checks["database"]["ok"] and _may_see_details(request):
        body.update(checks)
    return JsonResponse(body, status=status)
