"""One beat at a time, however many are started.

Beat sends the periodic tasks (the job sweeper, alert rules, reminders); two beats would
send each twice. Every beat takes a lease, a row in the database both share, before it
sends anything, and renews it while it runs. A second beat finds the lease held and stands
by; it takes over once the holder stops (at once) or dies (when the lease expires). The
lease lives in the database, not the cache, so the local run on SQLite, with an in-process
cache, is covered as well as production.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from portal.models import Lease

log = logging.getLogger(__name__)

BEAT_LEASE = "celery-beat"


def lease_take(*, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``seconds`` from ``now``;
    False while another holder's lease has not expired."""
    now = now or timezone.now()
    until = now + timedelta(seconds=seconds)
    # One conditional update: of two beats racing for an expired lease, the database lets
    # one through; the other's condition no longer matches.
    renewed = (
        Lease.objects.filter(name=name)
        .filter(models.Q(holder=holder) | models.Q(expires_at__lte=now))
        .update(holder=holder, expires_at=until)
    )
    if renewed:
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=until)
    except IntegrityError:
        return False
    return True


def lease_release(*, name: str, holder: str) -> None:
    """Give the lease up now, so a beat standing by takes over without waiting it out."""
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now())


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, sending tasks only while it holds the beat lease.

    The lease lasts ``BEAT_LEASE_SECONDS`` and is renewed every third of that; a beat
    standing by asks for it as often, so it takes over at most that long after the holder
    dies. It also writes no schedule until it holds the lease.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = float(settings.BEAT_LEASE_SECONDS)
        #: None until the first look at the lease, then whether this beat holds it.
        self.holds: bool | None = None
        self._renewed = 0.0
        self._set_up = False
        super().__init__(*args, **kwargs)

    def clock(self) -> datetime:
        """The time the lease is taken and renewed at."""
        return timezone.now()

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3

    def setup_schedule(self) -> None:
        if self._hold():
            self._take_over()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold():
            return self.renew_every
        if not self._set_up:
            self._take_over()
        return min(super().tick(*args, **kwargs), self.renew_every)

    def close(self) -> None:
        super().close()
        if self.holds:
            try:
                lease_release(name=BEAT_LEASE, holder=self.holder)
            except DatabaseError:
                log.warning("beat could not release its lease; it expires on its own")
            self.holds = False

    def _take_over(self) -> None:
        """Start from the schedule in the database: the last beat may have sent tasks
        since this one read it."""
        super().setup_schedule()
        self._set_up = True
        self._initial_read = True
        self._heap = None

    def _hold(self) -> bool:
        if self.holds and time.monotonic() - self._renewed < self.renew_every:
            return True
        try:
            held = lease_take(
                name=BEAT_LEASE, holder=self.holder, seconds=self.lease_seconds, now=self.clock()
            )
        except DatabaseError as exc:
            # Not knowing whether the lease still holds, send nothing; ask again next tick.
            log.warning("beat could not reach the database for its lease: %s", exc)
            held = False
        if held:
            self._renewed = time.monotonic()
        if held != self.holds:
            self._announce(held)
        self.holds = held
        if not held:
            self._set_up = False
        return held

    def _announce(self, held: bool) -> None:
        if held:
            log.info("beat %s holds the beat lease and sends the periodic tasks", self.holder)
            return
        try:
            other = Lease.objects.filter(name=BEAT_LEASE).first()
        except DatabaseError:
            other = None
        log.warning(
            "beat %s is standing by: beat %s holds the beat lease until %s; this one sends "
            "nothing and takes over when that one stops or its lease expires",
            self.holder,
            other.holder if other else "(unknown)",
            f"{other.expires_at:%Y-%m-%d %H:%M:%S} UTC" if other else "(unknown)",
        )
