"""Automatic baselines: queue a cross-validated run and store its scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from audits.analysis.baselines import BaselineError, choose_rows, run_baselines
from audits.analysis.risks import SCALE, STARTER_RISKS
from audits.analysis.risks import severity as severity_of
from audits.models import BaselineRun, RiskItem
from portal.exceptions import ApplicationError
from portal.jobs import Progress, job_enqueue, job_run
from projects.analysis.tabular import DataError, read_frame, read_rows
from projects.models import DatasetVersion, Project
from projects.services.datasets import version_require_ready
from projects.services.events import changes_record, event_record, job_failed_record

if TYPE_CHECKING:
    from projects.models import ApiToken


def baseline_run_request(
    *,
    actor,
    version: DatasetVersion,
    target: str = "",
    task: str = "",
    token: ApiToken | None = None,
) -> BaselineRun:
    version_require_ready(version)
    target = target or version.dataset.label_column
    columns = [c["name"] for c in version.schema]
    if not target:
        raise ApplicationError(
            "Name the target column (the dataset has no label column).", code="target_missing"
        )
    if target not in columns:
        raise ApplicationError(
            f"{version} has no column {target!r}; its columns are {', '.join(columns[:20])}.",
            code="unknown_column",
        )
    if task and task not in BaselineRun.Task.values:
        raise ApplicationError(
            f"Unknown task {task!r}; use classification or regression.", code="invalid"
        )
    with transaction.atomic():
        run = BaselineRun.objects.create(
            dataset_version=version,
            target=target,
            requested_task=task,
            row_cap=settings.BASELINE_ROW_CAP,
            requested_by=actor,
        )
        event_record(
            actor=actor,
            verb="baseline_run.requested",
            target=run,
            project=version.dataset.project,
            token=token,
            payload={"dataset_version": version.pk, "target": target, "task": task or "detect"},
        )
        job_enqueue(run)
        return run


def _baseline_work(run: BaselineRun, progress: Progress):
    version = run.dataset_version
    progress(1, "Reading the target")
    personal = set(version.dataset.personal_data_columns)
    # Personal data is never a feature, so it is not even read.
    columns = [c["name"] for c in version.schema if c["name"] not in personal]
    path = version.parquet.path
    try:
        # The target alone picks the rows; only those are read, so memory holds the
        # sample, not the dataset.
        target = read_frame(path, [run.target])[run.target]
        chosen = choose_rows(
            target, run.target, task=run.requested_task or None, row_cap=run.row_cap
        )
        progress(3, f"Reading {len(chosen.positions):,} rows")
        frame = read_rows(path, chosen.positions, columns)
        result = run_baselines(
            frame,
            run.target,
            chosen=chosen,
            progress=lambda fraction, message: progress(int(5 + fraction * 94), message),
        )
    except (BaselineError, DataError) as exc:
        raise ApplicationError(str(exc), code="bad_data") from None
    body = result.to_dict()

    def store() -> None:
        BaselineRun.objects.filter(pk=run.pk).update(
            task=result.task, rows_used=result.rows_used, sampled=result.sampled, result=body
        )
        event_record(
            actor=run.requested_by,
            verb="baseline_run.finished",
            target=run,
            project=version.dataset.project,
            payload={"task": result.task, "rows_used": result.rows_used, "sampled": result.sampled},
        )

    return store


def baseline_run(*, run_id: int) -> None:
    job_run(
        BaselineRun, run_id, _baseline_work, on_failure=job_failed_record("baseline_run.failed")
    )


# --- Risk register -------------------------------------------------------------------
RISK_FIELDS = (
    "title",
    "description",
    "category",
    "likelihood",
    "impact",
    "mitigation",
    "owner",
    "status",
    "rationale",
)


def _check_risk(fields: dict) -> None:
    unknown = set(fields) - set(RISK_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    for key in ("likelihood", "impact"):
        if key in fields and fields[key] not in SCALE:
            raise ApplicationError(f"{key.title()} runs from 1 to 5.", code="invalid")
    if fields.get("status") == RiskItem.Status.ACCEPTED and not fields.get("rationale", "").strip():
        raise ApplicationError(
            "An accepted risk needs the rationale for accepting it.", code="rationale_missing"
        )


def risk_create(*, actor, project: Project, token: ApiToken | None = None, **fields) -> RiskItem:
    _check_risk(fields)
    with transaction.atomic():
        risk = RiskItem.objects.create(project=project, created_by=actor, **fields)
        event_record(
            actor=actor,
            verb="risk.created",
            target=risk,
            project=project,
            token=token,
            payload={**fields, "severity": risk.severity},
        )
        return risk


def risk_update(*, actor, risk: RiskItem, token: ApiToken | None = None, **changes) -> RiskItem:
    with transaction.atomic():
        risk = RiskItem.objects.select_for_update().select_related("project").get(pk=risk.pk)
        # The rule about accepting is checked on the row as it will be.
        _check_risk({**{k: getattr(risk, k) for k in RISK_FIELDS}, **changes})
        severity = severity_of(
            changes.get("likelihood", risk.likelihood), changes.get("impact", risk.impact)
        )
        changes_record(
            actor=actor,
            target=risk,
            changes=changes,
            verb="risk.updated",
            project=risk.project,
            token=token,
            payload={"severity": severity},
        )
        return risk


def risk_starter_import(*, actor, project: Project, token: ApiToken | None = None) -> int:
    """Add the starter list's failure modes the project does not have yet; how many."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        present = set(project.risks.values_list("starter_key", flat=True))
        added = [
            RiskItem.objects.create(
                project=project,
                title=item.title,
                description=item.description,
                category=item.category,
                likelihood=item.likelihood,
                impact=item.impact,
                mitigation=item.mitigation,
                starter_key=item.key,
                created_by=actor,
            )
            for item in STARTER_RISKS
            if item.key not in present
        ]
        if added:
            event_record(
                actor=actor,
                verb="risk.starter_imported",
                target=project,
                project=project,
                token=token,
                payload={"added": [r.starter_key for r in added]},
            )
        return len(added)
