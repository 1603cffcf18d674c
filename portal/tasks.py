from __future__ import annotations

from celery import shared_task

from portal.jobs import jobs_sweep
from portal.storage import incoming_sweep


@shared_task(name="portal.jobs_sweep")
def jobs_sweep_task() -> int:
    return jobs_sweep()


@shared_task(name="portal.incoming_sweep")
def incoming_sweep_task() -> int:
    return incoming_sweep()
