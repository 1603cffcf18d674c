"""The audit trail: a project's events, checking the chains, and trail exports."""

from __future__ import annotations

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
from projects.services.events import event_body


def project_events(project: Project) -> QuerySet[Event]:
    return Event.objects.filter(project=project).select_related("actor").order_by("-id")


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
