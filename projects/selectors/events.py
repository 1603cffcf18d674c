"""The audit trail: a project's events, checking the chains, and trail exports."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db.models import QuerySet

from portal.exceptions import NotFound
from projects.analysis.chain import (
    ChainBreak,
    ChainReport,
    Link,
    chain_genesis,
    verify_chain,
    verify_checkpoint,
)
from projects.models import ApiToken, Event, EventExport, EventHead, Project
from projects.selectors.teams import project_list
from projects.services.events import chain_key, event_body

log = logging.getLogger(__name__)


def project_events(project: Project) -> QuerySet[Event]:
    """The project's trail, newest first. A project's events are its chain's, so the
    chain's (chain, seq) index serves the newest page however long the trail is."""
    return (
        Event.objects.filter(chain=chain_key(project, None))
        .select_related("actor", "project")
        .order_by("-seq")
    )


#: How long the people of a trail are kept; a renamed person shows within this time.
_ACTORS_SECONDS = 24 * 3600


def trail_actors(project: Project) -> list[str]:
    """Everyone who did something on the project's trail, to filter it by.

    Kept in the cache with the sequence number they were read up to, so each look reads
    only the events appended since: the project page stays as fast at 100,000 events as
    at 100. A chain's head is committed with its newest event, so every event up to the
    head's number is there to read."""
    key = chain_key(project, None)
    cache_key = f"trail-actors:{key}"
    try:
        seen, names = cache.get(cache_key) or (0, frozenset())
    except Exception as exc:  # each cache backend raises its own connection errors
        log.warning("trail cache unavailable, read whole: %s", exc)
        seen, names = 0, frozenset()
    head = EventHead.objects.filter(key=key).values_list("seq", flat=True).first() or 0
    if head > seen:
        new = Event.objects.filter(chain=key, seq__gt=seen, seq__lte=head, actor__isnull=False)
        names = names | frozenset(new.values_list("actor__username", flat=True).distinct())
        try:
            cache.set(cache_key, (head, names), _ACTORS_SECONDS)
        except Exception as exc:
            log.warning("trail cache unavailable, people not kept: %s", exc)
    return sorted(names)


def events_of_projects(projects: QuerySet[Project]) -> QuerySet[Event]:
    """The events of ``projects`` (a queryset of what a person sees), in one query."""
    return Event.objects.filter(project__in=projects).select_related("actor")


def reopening_event(project: Project, cycle: int) -> Event | None:
    """The transition that started ``cycle`` (back to prototyping), with its reason."""
    return (
        Event.objects.filter(project=project, verb="project.transitioned", payload__cycle__to=cycle)
        .exclude(payload__cycle__from=cycle)
        .select_related("actor")
        .order_by("seq")
        .first()
    )


def _chain_verify(key: str, head: EventHead | None) -> ChainReport:
    events = Event.objects.filter(chain=key).order_by("seq").iterator(chunk_size=2000)
    links = (Link(e.seq, e.prev_hash, e.hash, event_body(e)) for e in events)
    report = verify_chain(links, chain_genesis(key))
    if not report.ok:
        return report
    if head is None and report.checked:
        lost = ChainBreak(report.head_seq, "the chain's recorded head is missing")
        return ChainReport(report.checked, report.head_seq, report.head_hash, lost)
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        missing = ChainBreak(report.head_seq + 1, "the chain ends before its recorded head")
        return ChainReport(report.checked, report.head_seq, report.head_hash, missing)
    return report


def events_verify(chains: list[str] | None = None) -> dict[str, ChainReport]:
    """Check each chain (all of them by default) and that its tip matches its head."""
    heads = {h.key: h for h in EventHead.objects.all()}
    if chains is None:
        recorded = Event.objects.values_list("chain", flat=True).distinct()
        chains = sorted(set(heads) | set(recorded))
    return {key: _chain_verify(key, heads.get(key)) for key in chains}


def checkpoint_verify(checkpoint: dict) -> str | None:
    """None when every head in ``checkpoint`` is still in the trail, else what is not."""

    def hash_at(chain: str, seq: int) -> str | None:
        found = Event.objects.filter(chain=chain, seq=seq).values_list("hash", flat=True)
        return found.first()

    return verify_checkpoint(checkpoint, hash_at)


def export_get(user, pk: int, token: ApiToken | None = None) -> EventExport:
    """An audit-trail export of a project the user sees (404 otherwise)."""
    export = (
        EventExport.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project")
        .first()
    )
    if export is None:
        raise NotFound("No such export.", unfiltered=EventExport.objects.filter(pk=pk))
    return export
