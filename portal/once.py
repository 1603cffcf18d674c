"""Reads computed once within one answer.

A gate asks for the candidate model, its newest evaluation and its audit from several
checks, and the approval-pack comparison asks again: each selector is right on its own,
but together they ran the same queries five times. Inside ``computed_once()`` a selector
marked ``@once`` answers a repeated call with the same arguments from memory; outside
it, every call reads the database as before, so a write path never sees an old answer.

Arguments are matched by value, model instances by class and primary key. A result is
shared between its callers: they must not change it (copy it first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.db import models

P = ParamSpec("P")
R = TypeVar("R")

_memo: ContextVar[dict | None] = ContextVar("computed_once", default=None)


@contextmanager
def computed_once() -> Iterator[None]:
    """Within this block, ``@once`` functions compute each answer once. Nested blocks
    share the outermost one's memory."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _key_part(value: Any) -> Any:
    if isinstance(value, models.Model):
        # An unsaved instance is only ever itself.
        return (type(value), value.pk if value.pk is not None else id(value))
    return value


def once(fn: Callable[P, R]) -> Callable[P, R]:
    """Answer repeated calls from memory inside ``computed_once()``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _memo.get()
        if memo is None:
            return fn(*args, **kwargs)
        key = (
            fn,
            tuple(_key_part(a) for a in args),
            tuple(sorted((name, _key_part(v)) for name, v in kwargs.items())),
        )
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # an argument that cannot be a key: compute as usual
            return fn(*args, **kwargs)
        memo[key] = result = fn(*args, **kwargs)
        return result

    return wrapper
