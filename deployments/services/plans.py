"""Deployments and their plans: creating a deployment, saving a plan version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from deployments import selectors
from deployments.analysis.plan import (
    PlanError,
    clean_plan,
    content_sha256,
    plan_against_criteria,
    plan_diff,
)
from deployments.models import Deployment, DeploymentPlan
from portal.exceptions import ApplicationError, Conflict
from projects import selectors as project_selectors
from projects.models import ModelVersion, Project
from projects.services.events import event_record
from projects.services.signoffs import project_lock, signoff_request_notify

if TYPE_CHECKING:
    from projects.models import ApiToken


def _require_candidate(project: Project, model: ModelVersion) -> None:
    candidate = project_selectors.candidate_model(project)
    if candidate is None or candidate.pk != model.pk:
        raise ApplicationError(
            f"{model} is not the candidate model"
            + (f" ({candidate} is)" if candidate else " (no model is marked as candidate)")
            + "; a deployment plan is for the candidate the gate approved.",
            code="not_candidate",
        )


def deployment_create(
    *,
    actor,
    project: Project,
    model_version: ModelVersion,
    name: str = "",
    environment: str = "production",
    token: ApiToken | None = None,
) -> Deployment:
    """Start planning how ``model_version`` (the project's candidate) goes into service."""
    if model_version.project_id != project.pk:
        raise ApplicationError("That model version belongs to another project.", code="invalid")
    environment = (environment or "").strip() or "production"
    name = (name or "").strip() or f"{model_version} to {environment}"
    with transaction.atomic():
        project = project_lock(project)
        _require_candidate(project, model_version)
        deployment = Deployment.objects.create(
            project=project,
            model_version=model_version,
            name=name[:100],
            environment=environment[:60],
            # The project's cycle when it is planned: its gates count only this cycle's.
            cycle=project.cycle,
            created_by=actor,
        )
        event_record(
            actor=actor,
            verb="deployment.created",
            target=deployment,
            project=project,
            token=token,
            payload={
                "name": deployment.name,
                "model_version": model_version.pk,
                "environment": deployment.environment,
                "cycle": deployment.cycle,
            },
        )
        return deployment


def plan_save(
    *,
    actor,
    deployment: Deployment,
    content: dict,
    note: str = "",
    token: ApiToken | None = None,
) -> DeploymentPlan:
    """Store ``content`` as the deployment's next plan version: cleaned, no looser than the
    project's software criteria, for the candidate model. Sign-offs of earlier versions go
    stale; the people who sign are asked."""
    try:
        clean = clean_plan(content)
    except PlanError as exc:
        raise ApplicationError(str(exc), code="invalid_plan") from None
    digest = content_sha256(clean)
    with transaction.atomic():
        # The project's lock, as sign-offs take it: a signature racing a new version lands
        # before or after it, never on a version that is no longer current.
        project = project_lock(deployment.project)
        _require_candidate(project, deployment.model_version)
        looser = plan_against_criteria(clean, selectors.project_criteria(project))
        if looser:
            raise ApplicationError(" ".join(looser), code="looser_than_criteria")
        if selectors.rollout_active(deployment) is not None:
            raise Conflict(
                "A rollout of this deployment is under way; finish, roll back or abort it "
                "before changing its plan.",
                code="rollout_active",
            )
        previous = selectors.plan_current(deployment)
        if previous is not None and previous.content_sha256 == digest:
            raise Conflict(
                f"This is plan v{previous.version} already; change something to make a new "
                "version.",
                code="unchanged",
            )
        number = previous.version + 1 if previous is not None else 1
        plan = DeploymentPlan.objects.create(
            project=project,
            deployment=deployment,
            version=number,
            content=clean,
            content_sha256=digest,
            note=(note or "").strip()[:500],
            created_by=actor,
        )
        asked = signoff_request_notify(plan)
        event_record(
            actor=actor,
            verb="plan.saved",
            target=plan,
            project=project,
            token=token,
            payload={
                "deployment": deployment.pk,
                "version": number,
                "sha256": digest,
                "note": plan.note,
                "plan": clean,
                "changes": plan_diff(previous.content, clean) if previous is not None else [],
                "signoff_asked": asked,
            },
        )
        return plan
