from __future__ import annotations

from celery import shared_task

from projects.services.datasets import version_ingest
from projects.services.evaluations import evaluation_run
from projects.services.events import checkpoint_record
from projects.services.exports import event_export_run


@shared_task(name="projects.event_export_run")
def event_export_run_task(export_id: int) -> None:
    event_export_run(export_id=export_id)


@shared_task(name="projects.dataset_version_ingest")
def dataset_version_ingest_task(version_id: int) -> None:
    version_ingest(version_id=version_id)


@shared_task(name="projects.evaluation_run")
def evaluation_run_task(evaluation_id: int) -> None:
    evaluation_run(evaluation_id=evaluation_id)


@shared_task(name="projects.events_checkpoint")
def events_checkpoint_task() -> int | None:
    event = checkpoint_record()
    return event.seq if event is not None else None
