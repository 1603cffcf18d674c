"""The audit trail: an append-only, hash-chained list of events."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.jobs import Job
from portal.records import AppendOnlyError, WriteOnce
from projects.analysis.chain import GENESIS_HASH


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("events are append-only")

    def delete(self):
        raise AppendOnlyError("events are append-only")

    _raw_delete = delete


class Event(WriteOnce):
    write_once_message = "events are append-only"

    seq = models.PositiveBigIntegerField(unique=True)
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
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.verb} {self.target_type}:{self.target_id}"


class EventHead(models.Model):
    """One row holding the chain's tip; appenders lock it so the sequence has no gaps."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.seq}"


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
