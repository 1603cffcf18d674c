"""Mitigation options for a failing audit: a worker runs fairlearn's ThresholdOptimizer on
the audited evaluation's scores and stores the trade-off for the team to weigh."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from audits.analysis.fairness import AuditError
from audits.analysis.gates import FAILING_VERDICTS
from audits.analysis.mitigation import mitigation_columns
from audits.models import AuditRun, Mitigation
from audits.services.fairness import audit_inputs
from portal.exceptions import ApplicationError, Conflict
from portal.jobs import Progress, job_enqueue, job_run
from projects.analysis.tabular import DataError
from projects.services.events import event_record, job_failed_record

if TYPE_CHECKING:
    from projects.models import ApiToken


def mitigation_refusal(audit: AuditRun) -> ApplicationError | None:
    """Why ``audit`` cannot have mitigation options, or None when it can; checked in the
    order a person would ask: is it finished, is it a classifier, does it fail, are there
    scores to move a threshold over."""
    if audit.status != AuditRun.Status.SUCCEEDED:
        return Conflict(
            f"Audit {audit.pk} is {audit.status}; ask for mitigation options once it has a "
            "verdict.",
            code="not_ready",
        )
    if audit.kind == "regression" or audit.evaluation.task == "regression":
        return ApplicationError(
            f"Audit {audit.pk} is of a regression model; ThresholdOptimizer post-processes a "
            "classifier's scores, so it has no options to offer here.",
            code="regression",
        )
    if audit.verdict not in FAILING_VERDICTS:
        return Conflict(
            f"Audit {audit.pk}'s verdict is {audit.get_verdict_display()}; mitigation options "
            "are for a failing audit (fail or insufficient evidence).",
            code="not_failing",
        )
    if "y_score" not in audit.evaluation.mapping:
        return ApplicationError(
            f"Evaluation {audit.evaluation_id} has no scores: its predictions were uploaded "
            "without a y_score column. ThresholdOptimizer moves a threshold over the scores; "
            "upload the predictions again with their scores, audit them, then ask again.",
            code="no_scores",
        )
    return None


def mitigation_request(
    *, actor, audit: AuditRun, token: ApiToken | None = None
) -> tuple[Mitigation, bool]:
    """Queue ThresholdOptimizer on a failing audit's evaluation. The same audit gives the
    same options: asking again returns the existing run (and False), unless it failed."""
    refusal = mitigation_refusal(audit)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        existing = mitigation_current(audit)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                mitigation = Mitigation.objects.create(audit=audit, requested_by=actor)
        except IntegrityError:  # a concurrent request created it first
            return mitigation_current(audit), False
        event_record(
            actor=actor,
            verb="mitigation.requested",
            target=mitigation,
            project=audit.project,
            token=token,
            payload={"audit": audit.pk, "evaluation": audit.evaluation_id},
        )
        job_enqueue(mitigation)
        return mitigation, True


def mitigation_current(audit: AuditRun) -> Mitigation | None:
    """The audit's mitigation that is queued, running or done (at most one)."""
    return audit.mitigations.exclude(status=Mitigation.Status.FAILED).first()


def _mitigation_work(mitigation: Mitigation, progress: Progress):
    audit = AuditRun.objects.select_related(
        "config__project__team", "evaluation__model_version", "evaluation__dataset_version"
    ).get(pk=mitigation.audit_id)
    evaluation, config = audit.evaluation, audit.config
    progress(5, "Reading predictions and scores")
    try:
        # The audit's own columns and sensitive features, read from where the audit read them.
        inputs = audit_inputs(evaluation, config)
        sources = inputs.sources
        progress(30, "Running ThresholdOptimizer")
        body = mitigation_columns(
            evaluation.task,
            inputs.y_true,
            inputs.y_pred,
            inputs.y_score,
            inputs.sensitive,
            config.as_dict(),
        )
    except (AuditError, DataError) as exc:
        raise ApplicationError(str(exc), code="bad_data") from None
    result = {
        **body,
        "audit": {"id": audit.pk, "result_sha256": audit.result_sha256},
        "evaluation": {"id": evaluation.pk, "sha256": evaluation.sha256},
        "model": str(evaluation.model_version),
        "config_version": config.version,
        "sensitive_sources": sources,
    }

    def store() -> None:
        Mitigation.objects.filter(pk=mitigation.pk).update(result=result)
        event_record(
            actor=mitigation.requested_by,
            verb="mitigation.finished",
            target=mitigation,
            project=config.project,
            payload={
                "audit": audit.pk,
                "features": [f["feature"] for f in result["features"]],
                "skipped": [s["feature"] for s in result["skipped"]],
            },
        )

    return store


def mitigation_run(*, mitigation_id: int) -> None:
    job_run(
        Mitigation,
        mitigation_id,
        _mitigation_work,
        on_failure=job_failed_record("mitigation.failed"),
    )
