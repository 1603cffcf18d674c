"""Fairness audits: the project's configuration versions, audit runs and auditor reviews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import IntegrityError, transaction

from audits.analysis.audit_config import clean_config, default_config
from audits.analysis.audit_job import audit_columns, content_sha256
from audits.analysis.fairness import AuditError
from audits.analysis.gates import FAILING_VERDICTS
from audits.models import AuditConfig, AuditReview, AuditRun
from audits.services.exceptions import audit_exception_grant, exception_clean
from audits.services.review_workflow import audit_finished_notify, changes_requested_notify
from portal.exceptions import ApplicationError, Conflict
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import local_file
from projects.analysis.tabular import DataError, column_names, read_columns, read_groups
from projects.models import Evaluation, Project
from projects.services.evaluations import evaluation_truth, version_columns
from projects.services.events import event_record, job_failed_record
from projects.services.uploads import read_limits

if TYPE_CHECKING:
    from projects.models import ApiToken


# --- Configuration ---------------------------------------------------------------------
def audit_config_save(
    *, actor, project: Project, changes: dict, note: str = "", token: ApiToken | None = None
) -> AuditConfig:
    """Store the current configuration with ``changes`` as the project's next version.

    Settings left out keep their current values (the portal's defaults for a first
    version); so do thresholds left out of ``changes["thresholds"]``. A threshold given is
    given whole: a new limit comes with its rationale.
    """
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        previous = project.audit_configs.order_by("-version").first()
        base = previous.as_dict() if previous is not None else default_config()
        thresholds = changes.get("thresholds", {})
        if not isinstance(thresholds, dict):
            raise ApplicationError(
                "thresholds must map a threshold's name to its limit and rationale.",
                code="invalid_config",
            )
        try:
            clean = clean_config(
                {**base, **changes, "thresholds": {**base["thresholds"], **thresholds}}
            )
        except AuditError as exc:
            raise ApplicationError(str(exc), code="invalid_config") from None
        if previous is not None and previous.as_dict() == clean:
            raise Conflict(
                f"This is audit configuration v{previous.version} already; change a setting "
                "to make a new version.",
                code="unchanged",
            )
        version = previous.version + 1 if previous is not None else 1
        saved = AuditConfig.objects.create(
            project=project, version=version, note=note[:500], created_by=actor, **clean
        )
        event_record(
            actor=actor,
            verb="audit_config.saved",
            target=saved,
            project=project,
            token=token,
            payload={"version": version, "note": note, **clean},
        )
        return saved


def _config_for(actor, evaluation: Evaluation, token: ApiToken | None) -> AuditConfig:
    """The project's current configuration; the first audit saves the defaults as v1, with
    the sensitive columns the evaluation named (or the dataset declares)."""
    project = evaluation.model_version.project
    # Locked, so two first audits cannot both find no configuration and both save one.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    current = project.audit_configs.order_by("-version").first()
    if current is not None:
        return current
    sensitive = evaluation.mapping.get("sensitive") or list(
        evaluation.dataset_version.dataset.sensitive_columns
    )
    if not sensitive:
        raise ApplicationError(
            "Name the sensitive features to audit: in the project's audit configuration, or "
            "as sensitive columns when uploading the predictions.",
            code="no_sensitive_features",
        )
    return audit_config_save(
        actor=actor,
        project=project,
        changes={"sensitive_features": sensitive},
        note="Portal defaults, saved by the first audit.",
        token=token,
    )


# --- Runs ------------------------------------------------------------------------------
def audit_request(
    *, actor, evaluation: Evaluation, token: ApiToken | None = None
) -> tuple[AuditRun, bool]:
    """Queue an audit of ``evaluation`` under the current configuration.

    The same evaluation under the same configuration is one audit: asking again returns
    the existing run (and False), unless it failed.
    """
    if evaluation.status != Evaluation.Status.SUCCEEDED:
        raise Conflict(
            f"Evaluation {evaluation.pk} is {evaluation.status}; audit it once its metrics "
            "are computed.",
            code="not_ready",
        )
    with transaction.atomic():
        config = _config_for(actor, evaluation, token)
        existing = _existing_run(evaluation, config)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                run = AuditRun.objects.create(
                    evaluation=evaluation, config=config, requested_by=actor
                )
        except IntegrityError:  # a concurrent request created it first
            return _existing_run(evaluation, config), False
        event_record(
            actor=actor,
            verb="audit.requested",
            target=run,
            project=config.project,
            token=token,
            payload={"evaluation": evaluation.pk, "config_version": config.version},
        )
        job_enqueue(run)
        return run, True


def _existing_run(evaluation: Evaluation, config: AuditConfig) -> AuditRun | None:
    return (
        AuditRun.objects.filter(evaluation=evaluation, config=config)
        .exclude(status=AuditRun.Status.FAILED)
        .first()
    )


def _sensitive_columns(
    evaluation: Evaluation, features: list[str], path
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each sensitive feature from the predictions file (at ``path``), else from the
    dataset version, its rows paired with the predictions as the evaluation checked them
    (by position, or by row id)."""
    fmt, limits = evaluation.format, read_limits()
    in_file = set(column_names(path, fmt=fmt, limits=limits))
    here = [f for f in features if f in in_file]
    elsewhere = [f for f in features if f not in in_file]
    columns = read_groups(path, here, fmt=fmt, limits=limits) if here else {}
    sources = dict.fromkeys(here, "predictions")
    if elsewhere:
        version = evaluation.dataset_version
        in_version = {c["name"] for c in version.schema}
        missing = [f for f in elsewhere if f not in in_version]
        if missing:
            raise AuditError(
                f"Sensitive column {missing[0]!r} is in neither the predictions file nor "
                f"{version}; fix the audit configuration or add the column."
            )
        columns.update(version_columns(evaluation, elsewhere, groups=True))
        sources.update(dict.fromkeys(elsewhere, "dataset version"))
    return columns, sources


@dataclass(frozen=True)
class AuditInputs:
    """What an audit (and its mitigation) reads of an evaluation: the mapped columns and
    the configuration's sensitive features, with where each came from."""

    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    sensitive: dict[str, Any]
    sources: dict[str, str]


def audit_inputs(evaluation: Evaluation, config: AuditConfig) -> AuditInputs:
    """Read an evaluation's labels, predictions and scores (when mapped), and the audit's
    sensitive columns; DataError or AuditError when the files do not hold them."""
    mapping = evaluation.mapping
    wanted = [mapping[k] for k in ("y_true", "y_pred", "y_score", "row_id") if k in mapping]
    # One copy of the file for both reads (from object storage, one download).
    with local_file(evaluation.file) as path:
        columns = read_columns(
            path, wanted, fmt=evaluation.format, limits=read_limits(), compact=True
        )
        sensitive, sources = _sensitive_columns(evaluation, config.sensitive_features, path)
    return AuditInputs(
        y_true=evaluation_truth(evaluation, columns),
        y_pred=columns[mapping["y_pred"]],
        y_score=columns[mapping["y_score"]] if "y_score" in mapping else None,
        sensitive=sensitive,
        sources=sources,
    )


def _audit_work(run: AuditRun, progress: Progress):
    evaluation, config = run.evaluation, run.config
    progress(5, "Reading predictions")
    try:
        inputs = audit_inputs(evaluation, config)
        sources = inputs.sources
        progress(40, "Computing group metrics")
        body = audit_columns(
            evaluation.task,
            inputs.y_true,
            inputs.y_pred,
            inputs.sensitive,
            config.as_dict(),
            y_score=inputs.y_score,
        )
    except (AuditError, DataError) as exc:
        raise ApplicationError(str(exc), code="bad_data") from None
    result = {
        **body,
        "evaluation": {"id": evaluation.pk, "sha256": evaluation.sha256},
        "model": str(evaluation.model_version),
        "config_version": config.version,
        "config": config.as_dict(),
        "sensitive_sources": sources,
    }

    def store() -> None:
        stored = AuditRun.objects.filter(pk=run.pk)
        stored.update(kind=result["kind"], verdict=result["status"], result=result)
        # Hash what the database gives back, so a review binds to what anyone will read
        # (a JSON column may normalise numbers, e.g. PostgreSQL's jsonb 1e+16).
        digest = content_sha256(stored.values_list("result", flat=True).get())
        stored.update(result_sha256=digest)
        event_record(
            actor=run.requested_by,
            verb="audit.finished",
            target=run,
            project=config.project,
            payload={"verdict": result["status"], "result_sha256": digest},
        )
        run.verdict = result["status"]
        audit_finished_notify(run)

    return store


def audit_run(*, run_id: int) -> None:
    job_run(AuditRun, run_id, _audit_work, on_failure=job_failed_record("audit.failed"))


# --- Reviews ---------------------------------------------------------------------------
def audit_review(
    *,
    actor,
    audit: AuditRun,
    decision: str,
    rationale: str,
    exception: dict | None = None,
    token: ApiToken | None = None,
) -> AuditReview:
    """Record an auditor's decision on exactly the result they read. An approval of a
    failing audit (fail or insufficient evidence) is an exception: ``exception`` gives its
    finding, conditions, owner and expiry date, and nothing else may approve it."""
    if decision not in AuditReview.Decision.values:
        raise ApplicationError(
            f"Decide one of {', '.join(AuditReview.Decision.values)}.", code="invalid_decision"
        )
    rationale = (rationale or "").strip()
    if not rationale:
        raise ApplicationError("Write the rationale for your decision.", code="rationale_missing")
    with transaction.atomic():
        audit = (
            AuditRun.objects.select_for_update(no_key=True, of=("self",))
            .select_related("config__project")
            .get(pk=audit.pk)
        )
        if audit.status != AuditRun.Status.SUCCEEDED:
            raise Conflict(
                f"Audit {audit.pk} is {audit.status}; only a finished audit can be reviewed.",
                code="not_ready",
            )
        if content_sha256(audit.result) != audit.result_sha256:
            raise Conflict(
                "The stored result no longer matches its hash; it cannot be approved.",
                code="result_changed",
            )
        cleaned = _exception_for(audit, decision, exception)
        review = AuditReview.objects.create(
            audit=audit,
            decision=decision,
            rationale=rationale,
            result_sha256=audit.result_sha256,
            reviewer=actor,
        )
        event_record(
            actor=actor,
            verb="audit.reviewed",
            target=audit,
            project=audit.config.project,
            token=token,
            payload={
                "decision": decision,
                "rationale": rationale,
                "result_sha256": audit.result_sha256,
                "verdict": audit.verdict,
            },
        )
        if cleaned is not None:
            audit_exception_grant(actor=actor, review=review, cleaned=cleaned, token=token)
        if decision == AuditReview.Decision.REQUEST_CHANGES:
            changes_requested_notify(actor, audit, review)
        return review


def _exception_for(audit: AuditRun, decision: str, exception: dict | None) -> dict | None:
    """The exception's fields checked, when ``decision`` on ``audit`` needs one; refuses an
    approval of a failing audit without one, and an exception nothing needs."""
    failing = audit.verdict in FAILING_VERDICTS
    verdict = audit.get_verdict_display()
    if decision == AuditReview.Decision.APPROVE and failing:
        if not exception:
            raise ApplicationError(
                f"Audit {audit.pk}'s verdict is {verdict}: approve it only as an exception, "
                "with the finding, the conditions it is accepted under, an owner and an "
                "expiry date.",
                code="exception_required",
            )
        return exception_clean(audit.config.project, exception)
    if exception:
        raise ApplicationError(
            "An exception qualifies an approval of a failing audit only; audit "
            f"{audit.pk}'s verdict is {verdict} and the decision is {decision}.",
            code="exception_not_needed",
        )
    return None
