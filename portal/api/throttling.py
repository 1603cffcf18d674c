"""Request throttles that fail open.

The counters live in the cache (Redis in production). When the cache cannot be
reached the API keeps answering, unthrottled, rather than turning every call
into a 500: an outage of the cache must not take the gate CI polls down with
it. Each such call is logged, so the lapse is visible.
"""

from __future__ import annotations

import logging

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from portal.client_address import client_ip

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


class WindowCountThrottle(SimpleRateThrottle):
    """A counter per fixed window, one atomic increment in the shared cache, rather than
    DRF's list of timestamps, which at thousands of calls a minute is a large value read
    and written whole on every call (and loses counts to concurrent writers)."""

    def allow_request(self, request: Request, view) -> bool:
        if self.rate is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{self.get_cache_key(request, view)}:{window}"
        self.cache.add(key, 0, self.duration)
        try:
            count = self.cache.incr(key)
        except ValueError:  # evicted between the two calls
            self.cache.set(key, count := 1, self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self.wait_seconds


class GateThrottle(FailOpenMixin, WindowCountThrottle):
    """Gate reads per user (the ``gate`` rate), apart from the ``user`` rate: a shared CI
    user polling for a few hundred pipelines must neither be stopped nor use up the
    budget its uploads draw on."""

    scope = "gate"

    def get_cache_key(self, request: Request, view=None) -> str:
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class InvalidTokenThrottle(SimpleRateThrottle):
    """Refused API keys per client address (the ``invalid_token`` rate).

    Authentication runs before DRF's throttles, so this one is called by the token
    authentication itself: checked before a key is looked up, counted only when the key
    is refused. Past the rate, a valid key from that address answers 429 as well, since
    a 200 would tell a good guess apart.

    The counter is in the cache and fails open like the throttles above. Keys carry 256
    random bits, so it limits noise and load rather than guard a guessable secret, and
    a database counter would add a write to every refused call and an outage mode of
    its own; losing the limit while Redis is down is the lesser cost.
    """

    scope = "invalid_token"

    def get_cache_key(self, request: Request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "-"}

    def wait_before_lookup(self, request: Request) -> float | None:
        """Seconds until this address may try a key again, or None if it may now."""
        try:
            self.key = self.get_cache_key(request)
            self.history = self.cache.get(self.key, [])
            self.now = self.timer()
            while self.history and self.history[-1] <= self.now - self.duration:
                self.history.pop()
            if len(self.history) < self.num_requests:
                return None
            return self.wait() or 1.0
        except Exception as exc:  # each cache backend raises its own connection errors
            log.warning("throttle cache unavailable, token lookup let through: %s", exc)
            return None

    def record_refusal(self) -> None:
        """Count a refused key against the address checked by ``wait_before_lookup``."""
        try:
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)
        except Exception as exc:
            log.warning("throttle cache unavailable, refused token not counted: %s", exc)
