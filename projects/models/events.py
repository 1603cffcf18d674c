"""The audit trail: append-only, hash-chained events, one chain per project (and per
team, and one for the portal), each with its own head row."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.jobs import Job
from portal.records import AppendOnlyError, WriteOnce
from projects.analysis.chain import GENESIS_HASH, PORTAL_CHAIN


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("events are append-only")

    def delete(self):
        raise AppendOnlyError("events are append-only")

    _raw_delete = delete

    def bulk_create(self, objs, *args, **kwargs):
        # Rows made here would bypass event_record: no head lock, no chained hash.
        raise AppendOnlyError("events are appended one at a time through event_record")

    def bulk_update(self, objs, fields, *args, **kwargs):
        raise AppendOnlyError("events are append-only")


class Event(WriteOnce):
    write_once_message = "events are append-only"

    #: The chain the event belongs to: ``project-<id>``, ``team-<id>`` or ``portal``.
    chain = models.CharField(max_length=40, default=PORTAL_CHAIN)
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    token_prefix = models.CharField(max_length=20, blank=True)
    verb = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, null=True, related_name="events"
    )
    team = models.ForeignKey("projects.Team", on_delete=models.PROTECT, null=True, related_name="+")
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        # Within a chain, ids and seqs rise together (both are taken under the head's lock).
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="event_chain_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.chain} #{self.seq} {self.verb} {self.target_type}:{self.target_id}"


class EventHead(models.Model):
    """A chain's tip; appenders lock it so the chain's sequence has no gaps."""

    key = models.CharField(max_length=40, unique=True, default=PORTAL_CHAIN)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.key} head #{self.seq}"


class EventExport(Job):
    """A CSV export of a project's audit trail, written by a worker."""

    task_name = "projects.event_export_run"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="event_exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to="exports/", blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.project}"
