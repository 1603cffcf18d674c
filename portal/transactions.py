"""Transactions that are tried again when the database refuses them for a conflict.

PostgreSQL breaks a deadlock by failing one of the transactions in it, and fails a
serializable one that raced another; SQLite answers "database is locked" when a
writer outwaits its busy timeout. Each is safe to run again from the start, so the
outermost transaction is retried a few times, with a short random pause, before
the error reaches the caller.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: PostgreSQL's deadlock_detected, serialization_failure and lock_not_available.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
ATTEMPTS = 5


def is_conflict(exc: BaseException) -> bool:
    """True for a database error that a fresh attempt of the same transaction may pass."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc)


def retry_atomic(func: Callable[[], R]) -> R:
    """Run ``func`` in a transaction; on a conflict, roll back and run it again.

    Inside an outer transaction it cannot start over alone, so it just joins it
    and the conflict goes up to whoever opened the outermost one.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return func()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return func()
        except OperationalError as exc:
            if attempt == ATTEMPTS or not is_conflict(exc):
                raise
            log.warning("transaction conflict (%s); attempt %d of %d", exc, attempt + 1, ATTEMPTS)
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
    raise AssertionError("unreachable")


def atomic_retry(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`retry_atomic`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return retry_atomic(lambda: func(*args, **kwargs))

    return wrapper
