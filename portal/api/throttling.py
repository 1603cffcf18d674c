"""Request throttles that fail open.

The counters live in the cache (Redis in production). When the cache cannot be
reached the API keeps answering, unthrottled, rather than turning every call
into a 500: an outage of the cache must not take the gate CI polls down with
it. Each such call is logged, so the lapse is visible.
"""

from __future__ import annotations

import logging

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

log = logging.getLogger(__name__)


class FailOpenMixin:
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # each cache backend raises its own connection errors
            log.warning("throttle cache unavailable, request let through: %s", exc)
            return True


class AnonThrottle(FailOpenMixin, AnonRateThrottle):
    pass


class UserThrottle(FailOpenMixin, UserRateThrottle):
    pass
