"""Appending to the audit trail. Every state change calls :func:`event_record`
inside the same transaction as the change itself.

Lock order: a transaction locks the rows it changes first (project, dataset, job,
...) and the chain's head last, inside :func:`event_record`; row locks are taken
``FOR NO KEY UPDATE`` (``no_key=True``) so that the foreign-key checks other
transactions make at commit (``FOR KEY SHARE``) never wait on them. Each project
has its own chain and head, so writes to different projects do not wait on each
other.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from projects.analysis.chain import PORTAL_CHAIN, Head, canonical_time, chain_genesis, link_hash
from projects.analysis.chain import merkle_root as chain_merkle_root
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


def chain_key(project: Project | None, team: Team | None) -> str:
    """The chain an event goes to: its project's, else its team's, else the portal's."""
    if project is not None:
        return f"project-{project.pk}"
    if team is not None:
        return f"team-{team.pk}"
    return PORTAL_CHAIN


def _locked_head(key: str) -> EventHead:
    heads = EventHead.objects.select_for_update(no_key=True)
    head = heads.filter(key=key).first()
    if head is None:
        try:
            with transaction.atomic():
                EventHead.objects.create(key=key, seq=0, hash=chain_genesis(key))
        except IntegrityError:
            # Another appender started the chain first; its row is locked below.
            if not EventHead.objects.filter(key=key).exists():
                raise
        head = heads.get(key=key)
    return head


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
    """Append one event to its chain. Locks the chain's head, last, so the sequence stays
    gapless; call it after locking and writing the rows the event is about."""
    with transaction.atomic():
        if project is not None and team is None:
            team = project.team
        head = _locked_head(chain_key(project, team))
        event = Event(
            chain=head.key,
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
        EventHead.objects.filter(pk=head.pk).update(seq=event.seq, hash=event.hash)
        return event


def checkpoint_build() -> dict:
    """Every chain's head and their Merkle root, as a plain dict to keep outside the
    database (``manage.py export_checkpoint``)."""
    heads = [Head(h.key, h.seq, h.hash) for h in EventHead.objects.order_by("key")]
    return {
        "created_at": canonical_time(timezone.now()),
        "chains": {h.chain: {"seq": h.seq, "hash": h.hash} for h in heads},
        "root": chain_merkle_root(heads),
    }


def checkpoint_record() -> Event | None:
    """Anchor every chain's head in the portal chain, when any moved since the last
    anchor: rewriting a project's chain then also means rewriting the portal's."""
    with transaction.atomic():
        # Taking the portal head first makes concurrent anchors queue, so none repeats.
        anchor = _locked_head(PORTAL_CHAIN)
        heads = EventHead.objects.exclude(key=PORTAL_CHAIN).order_by("key")
        chains = {h.key: {"seq": h.seq, "hash": h.hash} for h in heads}
        last = Event.objects.filter(chain=PORTAL_CHAIN, verb="trail.checkpoint").last()
        if not chains or (last is not None and last.payload.get("chains") == chains):
            return None
        root = chain_merkle_root(Head(k, v["seq"], v["hash"]) for k, v in chains.items())
        return event_record(
            actor=None,
            verb="trail.checkpoint",
            target=anchor,
            payload={"root": root, "chains": chains},
        )
