"""Answers derived from a project's records, kept in the shared cache until the records move.

Every change the portal records appends an event: to the project's chain, to its team's
(memberships), to a team it is shared with, or to the portal's (people). The heads of
those chains, with the day (exceptions lapse by the day), make a project's *mark*: it
moves exactly when something an answer reads may have changed. An answer kept under its
mark is as fresh as one computed now, and costs one look at the heads instead of the
dozens of queries it took to compute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from projects.analysis.chain import PORTAL_CHAIN
from projects.models import EventHead, Project, ProjectShare
from projects.services.events import chain_key

log = logging.getLogger(__name__)

T = TypeVar("T")


def change_marks(projects: Iterable[Project]) -> dict[int, str]:
    """Per project id, its mark: two queries for any number of projects."""
    projects = list(projects)
    chains = {p.pk: {chain_key(p, None), chain_key(None, p.team), PORTAL_CHAIN} for p in projects}
    shared = ProjectShare.objects.filter(project__in=chains, team__isnull=False)
    for project_id, team_id in shared.values_list("project_id", "team_id"):
        chains[project_id].add(f"team-{team_id}")
    wanted = set().union(*chains.values()) if chains else set()
    heads = dict(EventHead.objects.filter(key__in=wanted).values_list("key", "seq"))
    today = timezone.localdate()
    return {
        pk: f"{today}|" + ",".join(f"{key}:{heads.get(key, 0)}" for key in sorted(keys))
        for pk, keys in chains.items()
    }


def kept_per_project(
    name: str, projects: Iterable[Project], compute: Callable[[Project], T]
) -> dict[int, T]:
    """``compute(project)`` for each project, from the cache where its mark has not moved
    since it was kept (``GATE_CACHE_SECONDS`` at most; 0 computes every time). A cache
    that does not answer costs only the computation."""
    projects = list(projects)
    if not settings.GATE_CACHE_SECONDS:
        return {p.pk: compute(p) for p in projects}
    marks = change_marks(projects)
    keys = {p.pk: f"{name}:{p.pk}:{p.stage}:{marks[p.pk]}" for p in projects}
    try:
        found, reachable = cache.get_many(list(keys.values())), True
    except Exception as exc:  # each cache backend raises its own connection errors
        log.warning("cache unavailable, %s computed instead: %s", name, exc)
        found, reachable = {}, False
    answers, fresh = {}, {}
    for project in projects:
        key = keys[project.pk]
        if key in found:
            answers[project.pk] = found[key]
        else:
            answers[project.pk] = fresh[key] = compute(project)
    if fresh and reachable:
        try:
            cache.set_many(fresh, settings.GATE_CACHE_SECONDS)
        except Exception as exc:
            log.warning("cache unavailable, %s not kept: %s", name, exc)
    return answers
