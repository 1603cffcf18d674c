"""Automatic baselines: queue a cross-validated run and store its scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from audits.analysis.baselines import BaselineError, choose_rows, run_baselines
from audits.models import BaselineRun
from portal.exceptions import ApplicationError
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import parquet_source
from projects.analysis.tabular import DataError, read_frame, read_rows
from projects.models import DatasetVersion
from projects.services.datasets import version_require_ready
from projects.services.events import event_record, job_failed_record

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
    try:
        with parquet_source(version.parquet) as path:
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
