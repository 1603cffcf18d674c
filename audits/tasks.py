from __future__ import annotations

from celery import shared_task

from audits.services import exceptions
from audits.services.baselines import baseline_run
from audits.services.fairness import audit_run
from audits.services.mitigation import mitigation_run
from audits.services.monitoring_reports import monitoring_report_render
from audits.services.packs import pack_render


@shared_task(name="audits.baseline_run")
def baseline_run_task(run_id: int) -> None:
    baseline_run(run_id=run_id)


@shared_task(name="audits.audit_run")
def audit_run_task(run_id: int) -> None:
    audit_run(run_id=run_id)


@shared_task(name="audits.mitigation_run")
def mitigation_run_task(mitigation_id: int) -> None:
    mitigation_run(mitigation_id=mitigation_id)


@shared_task(name="audits.pack_render")
def pack_render_task(pack_id: int) -> None:
    pack_render(pack_id=pack_id)


@shared_task(name="audits.monitoring_report_render")
def monitoring_report_render_task(report_id: int) -> None:
    monitoring_report_render(report_id=report_id)


@shared_task(name="audits.exceptions_remind")
def exceptions_remind_task() -> dict[str, int]:
    return exceptions.exceptions_remind()
