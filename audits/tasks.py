from __future__ import annotations

from celery import shared_task

from audits.services.baselines import baseline_run
from audits.services.fairness import audit_run


@shared_task(name="audits.baseline_run")
def baseline_run_task(run_id: int) -> None:
    baseline_run(run_id=run_id)


@shared_task(name="audits.audit_run")
def audit_run_task(run_id: int) -> None:
    audit_run(run_id=run_id)
