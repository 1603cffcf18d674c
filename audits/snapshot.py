"""The project's case as plain JSON: what an approval pack and a model card are made from.

:func:`pack_state` gathers everything the pack shows and nothing that depends on the
moment it is taken, so its hash changes exactly when the case does; the gate compares
that hash with the newest pack's to tell whether the pack is for "exactly this state".

Once the candidate model has a deployment, the state carries the go-live case too
(:func:`_deployment`): the plan in force with its versions and sign-offs, the gate into
monitoring, and every rollout with its moves and analyses. A new plan version, a
sign-off, a move or an analysis changes the state, so the pack goes stale. Lists are in
a fixed order (oldest first, ids breaking ties) so the same records give the same bytes.

The charts of analysed windows are drawn from pushed points, which
:mod:`audits.rollout_charts` reads for the snapshot beside the state, not in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.db.models import Prefetch

from audits.models import AuditReview, AuditRun, RiskItem
from audits.previous_cycle import previous_cycle_state
from audits.selectors import (
    audit_reviews,
    candidate_audit,
    criterion_exceptions_newest,
    mitigation_latest,
    review_exception,
    risk_exceptions,
)
from deployments import selectors as deployment_selectors
from deployments.analysis.plan import plan_against_criteria
from deployments.models import Analysis, Deployment, DeploymentPlan, RolloutMove
from projects import selectors
from projects.analysis.criteria import content_sha256
from projects.analysis.gates import DEPLOYMENT, MONITORING, check_record, criterion_key
from projects.models import Dataset, DatasetVersion, Evaluation, Project, Role
from projects.models.signing import SignedDocument


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def _user(user) -> str | None:
    return user.username if user else None


#: The project's statements of use; each goes in the state only once written, so a
#: pack of a project without them keeps its hash.
USE_FIELDS = ("intended_use", "out_of_scope_use", "limitations")


def _project(project: Project) -> dict[str, Any]:
    shown = {
        "slug": project.slug,
        "name": project.name,
        "team": project.team.name,
        "task_type": project.get_task_type_display(),
        "description": project.description,
        "business_owners": selectors.people_in_role(project, Role.BUSINESS_OWNER),
        "ml_engineers": selectors.people_in_role(project, Role.ML_ENGINEER),
        "auditors": selectors.people_in_role(project, Role.AUDITOR),
    }
    for field in USE_FIELDS:
        if getattr(project, field):
            shown[field] = getattr(project, field)
    return shown


def _gate(project: Project, target: str = DEPLOYMENT) -> dict[str, Any]:
    # The pack is the case for deployment; it stays valid for that gate after the move
    # (the stage itself goes in the snapshot's meta, not in the state). The go-live part
    # carries the gate into monitoring the same way.
    result = selectors.project_gate(project, target, with_pack=False)
    return {
        "target": result.target,
        "passed": result.passed,
        "checks": [check_record(check) for check in result.checks],
    }


def _criteria(project: Project) -> dict[str, Any] | None:
    version = selectors.criteria_current(project)
    if version is None:
        return None
    rows = []
    exceptions = criterion_exceptions_newest(version)
    for row in selectors.criteria_assessment(version):
        criterion, outcome = row["criterion"], row["outcome"]
        excepted = exceptions.get(criterion_key(criterion["metric"], criterion["source"]))
        rows.append(
            {
                "metric": criterion["metric"],
                "label": row["label"],
                "category": criterion["category"],
                "source": criterion["source"],
                "target": outcome.target_text,
                "value": outcome.value,
                "status": outcome.status,
                "detail": outcome.detail,
                "evidence": row["evidence"],
                "baseline": row["baseline"],
                "rationale": criterion["rationale"],
                # Only for a criterion accepted unmet, so other states keep their hash.
                **({"exception": _exception(excepted)} if excepted else {}),
            }
        )
    return {
        "version": version.version,
        "sha256": version.content_sha256,
        "note": version.note,
        "author": _user(version.created_by),
        "created_at": _when(version.created_at),
        "rows": rows,
        "changes": [asdict(c) for c in selectors.criteria_changes(version)],
        "signed": asdict(selectors.signoff_summary(version)),
    }


def _trail(
    versions: Iterable[SignedDocument], current: SignedDocument | None, evidence: dict
) -> list[dict[str, Any]]:
    """Every sign-off of each of ``versions`` of one signed document (criteria versions, a
    deployment's plans), in the order given and oldest first within a version, with
    whether it still counts and why not."""
    trail = []
    for version in versions:
        for row in reversed(selectors.signoff_rows(version, current, evidence)):
            s = row["signoff"]
            trail.append(
                {
                    "version": version.version,
                    "user": s.signed_by.username,
                    "name": s.signed_by.get_full_name() or s.signed_by.username,
                    "role": s.get_role_display(),
                    "decision": s.decision,
                    "comment": s.comment,
                    "content_sha256": s.content_sha256,
                    "evidence_sha256": s.evidence_sha256,
                    "signed_at": _when(s.created_at),
                    "revoked_at": _when(s.revoked_at),
                    "revoked_by": _user(s.revoked_by),
                    "revoke_reason": s.revoke_reason,
                    "stale": row["stale"],
                }
            )
    return trail


def _signoffs(project: Project) -> list[dict[str, Any]]:
    return _trail(
        selectors.criteria_versions(project).order_by("version"),
        selectors.criteria_current(project),
        selectors.signoff_evidence(project),
    )


def _candidate(project: Project) -> dict[str, Any] | None:
    model = selectors.candidate_model(project)
    if model is None:
        return None
    evaluation = selectors.newest_evaluation(model)
    shown = {
        "id": model.pk,
        "name": model.name,
        "version": model.version,
        "framework": model.framework,
        "code_commit": model.code_commit,
        "artifact_uri": model.artifact_uri,
        "parameters": model.parameters,
        "registered_by": _user(model.created_by),
        "registered_at": _when(model.created_at),
    }
    if model.training_data_id is not None:
        # Only once recorded: a model registered without it reads as before.
        training = DatasetVersion.objects.select_related("dataset").get(pk=model.training_data_id)
        shown["training_data"] = str(training)
        shown["training_data_id"] = training.pk
    return {"model": shown, "evaluation": _evaluation(project, evaluation) if evaluation else None}


def _evaluation(project: Project, evaluation: Evaluation) -> dict[str, Any]:
    shown = {
        "id": evaluation.pk,
        "sha256": evaluation.sha256,
        "dataset_version": str(evaluation.dataset_version),
        "dataset_version_id": evaluation.dataset_version_id,
        "rows": evaluation.rows,
        "task": evaluation.task,
        "metrics": evaluation.metrics,
        "evaluated_at": _when(evaluation.finished_at),
    }
    # The flags go in only when raised, so an evaluation without them reads as before: on
    # training data (or derived from it), and below the best baseline on the
    # primary metric (the first ML criterion of the current criteria, in written order).
    overlap = selectors.on_training_data([evaluation])[evaluation.pk]
    if overlap:
        shown["on_training_data"] = overlap
    standing = selectors.evaluation_baseline_standing(evaluation, project)
    if standing.below:
        shown["below_baseline"] = asdict(standing)
    return shown


def _datasets(project: Project) -> list[dict[str, Any]]:
    out = []
    for dataset in project.datasets.order_by("name").prefetch_related("versions"):
        versions = sorted(dataset.versions.all(), key=lambda v: v.number)
        out.append(
            {
                "name": dataset.name,
                "purpose": dataset.get_purpose_display(),
                "labeling_strategy": ""
                if dataset.labeling_strategy == Dataset.Labeling.NOT_LABELLED
                else dataset.get_labeling_strategy_display(),
                "labeling_notes": dataset.labeling_notes,
                "label_column": dataset.label_column,
                "sensitive_columns": dataset.sensitive_columns,
                "personal_data_columns": dataset.personal_data_columns,
                "source": dataset.source,
                "licence": dataset.licence,
                "owner": dataset.owner,
                "versions": [
                    {
                        "number": v.number,
                        "status": v.status,
                        "sha256": v.sha256,
                        "rows": v.rows,
                        "file": v.original_name,
                        "source_uri": v.source_uri,
                        "collected_at": _when(v.collected_at),
                        "collected_by": v.collected_by,
                        "labeling_batch": v.labeling_batch,
                        "transformation": v.transformation,
                        "code_reference": v.code_reference,
                    }
                    for v in versions
                ],
            }
        )
    return out


def _lineage(candidate: dict[str, Any] | None) -> dict[str, Any] | None:
    if not candidate or not candidate["evaluation"]:
        return None
    version = DatasetVersion.objects.get(pk=candidate["evaluation"]["dataset_version_id"])
    graph = selectors.lineage_graph(version)
    return {
        "nodes": [
            {
                "id": n["id"],
                "label": f"{n['dataset']} v{n['number']}",
                "sha256": n["sha256"],
                "transformation": n["transformation"],
                "current": n["current"],
            }
            for n in graph["nodes"]
        ],
        "edges": graph["edges"],
    }


def _baselines(project: Project, candidate: dict[str, Any] | None) -> dict[str, Any]:
    recorded = [
        {
            "name": b.name,
            "kind": b.get_kind_display(),
            "metric": b.metric,
            "value": b.value,
            "citation": b.citation,
            "evidence": b.evidence,
        }
        for b in selectors.baselines_recorded(project)
    ]
    comparison = []
    if candidate and candidate["evaluation"]:
        evaluation = selectors.newest_evaluation(selectors.candidate_model(project))
        comparison = selectors.evaluation_comparison(evaluation)
    return {
        "recorded": recorded,
        "names": selectors.baseline_names(project),
        "comparison": comparison,
    }


def _audit(project: Project) -> dict[str, Any] | None:
    audit: AuditRun | None = candidate_audit(project)
    if audit is None:
        return None
    shown = {
        "id": audit.pk,
        "verdict": audit.verdict,
        "config_version": audit.config.version,
        "result_sha256": audit.result_sha256,
        "result": audit.result,
        "reviews": [_review(r) for r in reversed(list(audit_reviews(audit)))],
    }
    mitigation = mitigation_latest(audit)
    # Only once the options are computed: the pack shows what the team decided from.
    if mitigation is not None and mitigation.status == mitigation.Status.SUCCEEDED:
        shown["mitigation"] = mitigation.result
    return shown


def _review(review: AuditReview) -> dict[str, Any]:
    shown = {
        "reviewer": review.reviewer.username,
        "decision": review.decision,
        "rationale": review.rationale,
        "result_sha256": review.result_sha256,
        "at": _when(review.created_at),
    }
    exception = review_exception(review)
    # Only when there is one: a pack of a review without one keeps its snapshot.
    if exception is not None:
        shown["exception"] = _exception(exception)
    return shown


def _exception(exception) -> dict[str, Any]:
    return {
        "id": exception.pk,
        "finding": exception.finding,
        "conditions": exception.conditions,
        "owner": exception.owner.username,
        "expires_on": exception.expires_on.isoformat(),
        "granted_by": exception.granted_by.username,
    }


def _risks(project: Project) -> list[dict[str, Any]]:
    risks = RiskItem.objects.filter(project=project).order_by("-likelihood", "title", "pk")
    exceptions = risk_exceptions(project)
    rows = [
        {
            "title": r.title,
            "category": r.get_category_display(),
            "likelihood": r.likelihood,
            "impact": r.impact,
            "severity": r.severity,
            "band": r.severity_band,
            "status": r.get_status_display(),
            "owner": r.owner,
            "mitigation": r.mitigation,
            "rationale": r.rationale,
            "audit_checks": r.audit_checks,
            # Only for a risk accepted as an exception, so other registers keep their hash.
            **({"exception": _exception(exceptions[r.pk])} if r.pk in exceptions else {}),
        }
        for r in risks
    ]
    # Stable: Python's sort keeps the query's order (by pk last) among equals.
    return sorted(rows, key=lambda r: (-r["severity"], r["title"]))


def _measurements(project: Project) -> list[dict[str, Any]]:
    return [
        {
            "metric": m.metric,
            "value": m.value,
            "period": m.period,
            "evidence": m.evidence,
            "attachment_sha256": m.attachment_sha256,
            "entered_by": m.entered_by.username,
            "at": _when(m.created_at),
        }
        for m in selectors.business_measurements(project)
    ]


# --- Go-live: the candidate's deployment ---------------------------------------------------
def _plan(project: Project, plan: DeploymentPlan) -> dict[str, Any]:
    return {
        "id": plan.pk,
        "version": plan.version,
        "sha256": plan.content_sha256,
        "note": plan.note,
        "author": _user(plan.created_by),
        "created_at": _when(plan.created_at),
        # The cleaned plan (deployments.analysis.plan.clean_plan): serving, type, pattern,
        # checks and the monitoring spec, laid out when the pack is.
        "content": plan.content,
        "changes": deployment_selectors.plan_changes(plan),
        "looser": plan_against_criteria(
            plan.content, deployment_selectors.project_criteria(project)
        ),
        "signed": asdict(selectors.signoff_summary(plan)),
    }


def _move(move: RolloutMove) -> dict[str, Any]:
    return {
        "action": move.action,
        "step": move.step,
        "traffic": move.traffic,
        "live_environment": move.live_environment,
        "reason": move.reason,
        "actor": _user(move.actor),
        "token_prefix": move.token_prefix,
        "analysis": move.analysis_id,
        "at": _when(move.created_at),
    }


def _analysis(analysis: Analysis) -> dict[str, Any]:
    return {
        "id": analysis.pk,
        "step": analysis.step,
        "traffic": analysis.traffic,
        "window_start": _when(analysis.window_start),
        "window_end": _when(analysis.window_end),
        "outcome": analysis.outcome,
        "summary": analysis.checks.get("summary", ""),
        "checks": analysis.checks.get("checks", []),
        "sha256": analysis.sha256,
        "requested_by": _user(analysis.requested_by),
        "at": _when(analysis.created_at),
    }


def _rollouts(deployment: Deployment) -> list[dict[str, Any]]:
    rollouts = (
        deployment.rollouts.select_related("plan", "started_by")
        .prefetch_related(
            Prefetch(
                "moves",
                queryset=RolloutMove.objects.select_related("actor").order_by("created_at", "pk"),
            ),
            Prefetch(
                "analyses",
                queryset=Analysis.objects.select_related("requested_by").order_by(
                    "created_at", "pk"
                ),
            ),
        )
        .order_by("started_at", "pk")
    )
    return [
        {
            "id": rollout.pk,
            "plan_version": rollout.plan.version,
            "pattern": rollout.pattern,
            "status": rollout.status,
            "step": rollout.step,
            "traffic": rollout.traffic,
            "live_environment": rollout.live_environment,
            "started_by": _user(rollout.started_by),
            "started_at": _when(rollout.started_at),
            "finished_at": _when(rollout.finished_at),
            "moves": [_move(m) for m in rollout.moves.all()],
            "analyses": [_analysis(a) for a in rollout.analyses.all()],
        }
        for rollout in rollouts
    ]


def _deployment(project: Project) -> dict[str, Any] | None:
    """The go-live case: the deployment the gate into monitoring judges (the candidate's
    newest), its plan in force, every plan version's sign-offs, and every rollout."""
    deployment = deployment_selectors.deployment_for_gate(project)
    if deployment is None:
        return None
    versions = list(deployment_selectors.plan_versions(deployment))  # newest first
    current = versions[0] if versions else None
    signoffs = []
    if current is not None:
        evidence = selectors.document_evidence(current)
        signoffs = _trail(reversed(versions), current, evidence)
    return {
        "id": deployment.pk,
        "name": deployment.name,
        "environment": deployment.environment,
        "model": str(deployment.model_version),
        "created_by": _user(deployment.created_by),
        "created_at": _when(deployment.created_at),
        "gate": _gate(project, MONITORING),
        "plan": _plan(project, current) if current is not None else None,
        "versions": [
            {
                "version": v.version,
                "sha256": v.content_sha256,
                "author": _user(v.created_by),
                "created_at": _when(v.created_at),
                "note": v.note,
            }
            for v in reversed(versions)
        ],
        "signoffs": signoffs,
        "rollouts": _rollouts(deployment),
    }


def _usernames(state: dict[str, Any]) -> set[str]:
    """Everyone the decision rests on: the project's people, signers, reviewers and the
    owners of exceptions."""
    project = state["project"]
    names = {*project["business_owners"], *project["ml_engineers"], *project["auditors"]}
    trails = [state["signoffs"], (state["deployment"] or {}).get("signoffs") or []]
    names |= {row["user"] for trail in trails for row in trail}
    excepted = [r for r in (state["audit"] or {}).get("reviews") or [] if "exception" in r]
    excepted += [r for r in state["risks"] if "exception" in r]
    excepted += [r for r in (state["criteria"] or {}).get("rows") or [] if "exception" in r]
    names |= {r["reviewer"] for r in (state["audit"] or {}).get("reviews") or []}
    for row in excepted:
        names |= {row["exception"]["owner"], row["exception"]["granted_by"]}
    return names


def pack_state(project: Project) -> dict[str, Any]:
    """Everything the approval pack shows, as JSON; nothing that depends on when it is read."""
    candidate = _candidate(project)
    state = {
        "project": _project(project),
        "gate": _gate(project),
        "criteria": _criteria(project),
        "signoffs": _signoffs(project),
        "candidate": candidate,
        "datasets": _datasets(project),
        "lineage": _lineage(candidate),
        "baselines": _baselines(project, candidate),
        "audit": _audit(project),
        "risks": _risks(project),
        "measurements": _measurements(project),
        # None until the candidate model has a deployment in this cycle: then the go-live case.
        "deployment": _deployment(project),
    }
    people = selectors.people_named(_usernames(state))
    if people:
        # How the people the state names read: full name and job title. Only when someone
        # has either, so packs of projects whose people have neither keep their hash.
        state["people"] = people
    if project.cycle > 1:
        # From the second cycle on, the state names its cycle, so no pack of an earlier one
        # matches it, and carries the monitoring evidence that led back here. Left out in the
        # first cycle, so packs rendered before cycles existed still match their state.
        state["cycle"] = project.cycle
        state["previous_cycle"] = previous_cycle_state(project)
    return state


def state_sha256(state: dict[str, Any]) -> str:
    return content_sha256([state])


def model_card_of(project: Project) -> dict[str, Any]:
    """The project's model card (Model Card Toolkit JSON), from the same state as a pack."""
    from django.conf import settings
    from django.utils import timezone

    from audits.analysis.model_card import model_card

    return model_card(
        pack_state(project),
        generated_at=timezone.now().isoformat(timespec="seconds"),
        site_url=settings.SITE_URL,
    )
