"""Appending to the audit trail. Every state change calls :func:`event_record`
inside the same transaction as the change itself."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from projects.analysis.chain import canonical_time, link_hash
from projects.models import Event, EventHead

if TYPE_CHECKING:
    from projects.models import ApiToken, Project, Team


def actor_label(actor, token: ApiToken | None = None) -> str:
    if actor is None:
        return "system"
    label = actor.get_username()
    return f"{label} (token {token.prefix})" if token is not None else label


def event_body(event: Event) -> dict:
    """The fields a link's hash covers."""
    return {
        "seq": event.seq,
        "created_at": canonical_time(event.created_at),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "token_prefix": event.token_prefix,
        "verb": event.verb,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "project_id": event.project_id,
        "team_id": event.team_id,
        "payload": event.payload,
    }


def changes_record(
    *,
    actor,
    target: models.Model,
    changes: dict,
    verb: str,
    project: Project,
    token: ApiToken | None = None,
    payload: dict | None = None,
) -> bool:
    """Save the fields of ``changes`` that differ on ``target`` (with ``updated_at``) and
    record them before and after. Call it in the transaction that locked the row.
    False when nothing changed."""
    changed = {k: v for k, v in changes.items() if getattr(target, k) != v}
    if not changed:
        return False
    before = {k: getattr(target, k) for k in changed}
    for key, value in changed.items():
        setattr(target, key, value)
    target.updated_at = timezone.now()
    target.save(update_fields=[*changed, "updated_at"])
    event_record(
        actor=actor,
        verb=verb,
        target=target,
        project=project,
        token=token,
        payload={"before": before, "after": changed, **(payload or {})},
    )
    return True


def job_failed_record(verb: str):
    """An on-failure callback for portal.jobs.job_run that puts the failure on the trail,
    on behalf of whoever started the job."""

    def record(job, error: str) -> None:
        event_record(
            actor=job.started_by,
            verb=verb,
            target=job,
            project=job.project,
            payload={"error": error},
        )

    return record


def event_record(
    *,
    actor,
    verb: str,
    target: models.Model,
    project: Project | None = None,
    team: Team | None = None,
    payload: dict | None = None,
    token: ApiToken | None = None,
) -> Event:
    """Append one event to the chain. Locks the head so the sequence stays gapless."""
    with transaction.atomic():
        head = EventHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            # A migration creates the row; only a database emptied by hand lacks it.
            head = EventHead.objects.create(pk=1)
        if project is not None and team is None:
            team = project.team
        event = Event(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor=actor,
            actor_label=actor_label(actor, token),
            token_prefix=token.prefix if token is not None else "",
            verb=verb,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            project=project,
            team=team,
            # Round-trip through JSON so the hash covers what the database gives back.
            payload=json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder)),
            prev_hash=head.hash,
        )
        event.hash = link_hash(head.hash, event_body(event))
        event.save()
        EventHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
        return event
