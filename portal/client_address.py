"""The client's address, for login lockouts and the invalid-token throttle.

``REMOTE_ADDR`` unless ``TRUSTED_PROXY_COUNT`` says proxies stand in front: then the
address the outermost trusted proxy saw, counted from the right of X-Forwarded-For
(each proxy appends its peer; whatever the client wrote sits further left). The rule is
DRF's ``NUM_PROXIES`` one, so the API throttles and the lockouts agree.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded.strip():
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))] or remote
