"""Reviews overdue: what the home pages list as past its review date.

As gate checks and grounds to reopen are (projects/gates.py, projects/reopening.py), an app
whose records are reviewed on a cadence registers a source when it starts (deployments:
live deployments past their periodic review), so the home page and the team page list them
without importing that app. A source is ``fn(projects, now) -> Iterable[OverdueReview]``;
``projects`` is a queryset of the projects the reader may see, and a source answers for
those only, in a fixed number of queries whatever their count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from django.utils import timezone

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from projects.models import Project


@dataclass(frozen=True)
class OverdueReview:
    """``subject`` of ``project`` was due for review at ``due_at``; review it at ``url``."""

    subject: str
    url: str
    project: Project
    due_at: datetime
    days_overdue: int


OverdueSource = Callable[["QuerySet[Project]", datetime], Iterable[OverdueReview]]
_Source = TypeVar("_Source", bound=OverdueSource)
_sources: list[OverdueSource] = []


def _name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def overdue_source(fn: _Source) -> _Source:
    """Register ``fn(projects, now) -> Iterable[OverdueReview]``; registering again replaces
    it (a module imported twice)."""
    _sources[:] = [s for s in _sources if _name(s) != _name(fn)] + [fn]
    return fn


def overdue_source_remove(fn: OverdueSource) -> None:
    """Take ``fn`` out of the registry (for tests)."""
    _sources[:] = [s for s in _sources if _name(s) != _name(fn)]


def overdue_reviews(
    projects: QuerySet[Project], now: datetime | None = None
) -> list[OverdueReview]:
    """Every registered source's overdue reviews of ``projects``, the longest overdue first."""
    now = now or timezone.now()
    found = [item for source in _sources for item in source(projects, now)]
    return sorted(found, key=lambda item: (item.due_at, item.project.name, item.subject))
