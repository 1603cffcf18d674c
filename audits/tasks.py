from __future__ import annotations

from celery import shared_task

from audits.services import baseline_run


@shared_task(name="audits.baseline_run")
def baseline_run_task(run_id: int) -> None:
    baseline_run(run_id=run_id)
