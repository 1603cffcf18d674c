"""Domain errors. Services raise these; the API and the web turn them into responses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404

if TYPE_CHECKING:
    from django.db.models import QuerySet


class ApplicationError(Exception):
    """A request that the domain refuses. ``code`` is stable; ``detail`` is for people."""

    status = 400
    code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra or {}


class Conflict(ApplicationError):
    """The request is well formed but the object's current state forbids it."""

    status = 409
    code = "conflict"


class NotFound(ApplicationError, Http404):
    """Also an Http404, so web views answer with the 404 page.

    ``unfiltered`` is the same lookup without the caller's visibility. When it finds the
    object, the 404 hid it from the caller: the API logs that as a refused access. The
    answer is the same either way, and the lookup runs only when the API logs.
    """

    status = 404
    code = "not_found"

    def __init__(self, detail: str, *, unfiltered: QuerySet | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.unfiltered = unfiltered

    def hides_an_object(self) -> bool:
        return self.unfiltered is not None and self.unfiltered.exists()


class Forbidden(ApplicationError, PermissionDenied):
    """Also a PermissionDenied, so web views answer with the 403 page."""

    status = 403
    code = "permission_denied"


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "too_large"


@contextmanager
def unique_or_conflict(detail: str, code: str) -> Iterator[None]:
    """An atomic block whose insert hits a unique constraint when the row exists already;
    that (also when two requests race) answers 409, not a database error."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise Conflict(detail, code=code) from None
