"""Exporting a project's audit trail to CSV, as a background job."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from portal.jobs import Job, Progress, job_enqueue, job_run
from portal.storage import storage_errors
from projects.analysis.chain import canonical_time
from projects.analysis.exports import spreadsheet_safe
from projects.models import EventExport, Project
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

COLUMNS = (
    "chain",
    "seq",
    "created_at",
    "actor",
    "verb",
    "target_type",
    "target_id",
    "payload",
    "hash",
)
BATCH = 500


def event_export_request(*, actor, project: Project, token: ApiToken | None = None) -> EventExport:
    """Queue an export, or hand back the one of this person's that is still under way."""
    with transaction.atomic():
        pending = EventExport.objects.filter(
            project=project,
            requested_by=actor,
            status__in=[Job.Status.QUEUED, Job.Status.RUNNING],
        ).first()
        if pending is not None:
            return pending
        export = EventExport.objects.create(project=project, requested_by=actor)
        event_record(
            actor=actor, verb="export.requested", target=export, project=project, token=token
        )
        job_enqueue(export)
        return export


def _export_work(export: EventExport, progress: Progress):
    events = export.project.events.select_related("actor").order_by("id")
    total = events.count() or 1
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rows = 0
    for event in events.iterator(chunk_size=BATCH):
        payload = json.dumps(event.payload, sort_keys=True)
        cells = (
            event.chain,
            event.seq,
            canonical_time(event.created_at),
            event.actor_label,
            event.verb,
            event.target_type,
            event.target_id,
            payload,
            event.hash,
        )
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
        rows += 1
        if rows % BATCH == 0:
            progress(rows * 100 // total, f"{rows} of {total} events")
    data = buffer.getvalue().encode()
    digest = hashlib.sha256(data).hexdigest()
    name = f"exports/{export.project.slug}-events-{export.pk}.csv"
    with storage_errors(name):
        name = default_storage.save(name, ContentFile(data))

    def store() -> None:
        EventExport.objects.filter(pk=export.pk).update(file=name, rows=rows, sha256=digest)
        event_record(
            actor=export.requested_by,
            verb="export.finished",
            target=export,
            project=export.project,
            payload={"rows": rows, "sha256": digest},
        )

    return store


def event_export_run(*, export_id: int) -> None:
    job_run(EventExport, export_id, _export_work)
