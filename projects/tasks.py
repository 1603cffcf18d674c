from __future__ import annotations

from celery import shared_task

from projects.services.exports import event_export_run


@shared_task(name="projects.event_export_run")
def event_export_run_task(export_id: int) -> None:
    event_export_run(export_id=export_id)
