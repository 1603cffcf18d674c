"""Reads for deployments: plans, rollouts, analyses, and the plan as a signed document."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from deployments.analysis.plan import plan_diff
from deployments.models import (
    Alert,
    Analysis,
    Deployment,
    DeploymentPlan,
    DeploymentToken,
    DriftCheck,
    LabelBatch,
    MonitoringReview,
    PlanSignOff,
    ProductionPeriod,
    Rollout,
)
from portal.once import once
from projects import selectors
from projects.models import ApiToken, Project
from projects.selectors.datasets import _visible
from projects.signing import DocumentKind


def deployment_list(project: Project) -> QuerySet[Deployment]:
    return project.deployments.select_related("model_version", "created_by")


def deployment_get(user, pk: int, token: ApiToken | None = None) -> Deployment:
    return _visible(
        Deployment.objects.select_related("project__team", "model_version"),
        "project",
        user,
        pk,
        token,
        "deployment",
    )


def plan_get(user, pk: int, token: ApiToken | None = None) -> DeploymentPlan:
    return _visible(
        DeploymentPlan.objects.select_related("project__team", "deployment", "created_by"),
        "project",
        user,
        pk,
        token,
        "deployment plan",
    )


def plan_signoff_get(user, pk: int, token: ApiToken | None = None) -> PlanSignOff:
    return _visible(
        PlanSignOff.objects.select_related("plan__project__team", "signed_by"),
        "plan__project",
        user,
        pk,
        token,
        "sign-off",
    )


def rollout_get(user, pk: int, token: ApiToken | None = None) -> Rollout:
    return _visible(
        Rollout.objects.select_related("deployment__project__team", "plan"),
        "deployment__project",
        user,
        pk,
        token,
        "rollout",
    )


def analysis_get(user, pk: int, token: ApiToken | None = None) -> Analysis:
    return _visible(
        Analysis.objects.select_related("rollout__deployment__project__team"),
        "rollout__deployment__project",
        user,
        pk,
        token,
        "analysis",
    )


def deployment_tokens(deployment: Deployment) -> QuerySet[DeploymentToken]:
    """The deployment's own metrics tokens that still work, newest first."""
    return (
        DeploymentToken.objects.filter(
            deployment=deployment, token__revoked_at__isnull=True, token__user__is_active=True
        )
        .filter(Q(token__expires_at__isnull=True) | Q(token__expires_at__gt=timezone.now()))
        .select_related("token__user")
        .order_by("-token__created_at")
    )


def drift_check_get(user, pk: int, token: ApiToken | None = None) -> DriftCheck:
    return _visible(
        DriftCheck.objects.select_related("deployment__project__team", "requested_by"),
        "deployment__project",
        user,
        pk,
        token,
        "drift check",
    )


def alert_get(user, pk: int, token: ApiToken | None = None) -> Alert:
    return _visible(
        Alert.objects.select_related("deployment__project__team", "acknowledged_by", "resolved_by"),
        "deployment__project",
        user,
        pk,
        token,
        "alert",
    )


def alerts_of(deployment: Deployment) -> QuerySet[Alert]:
    return deployment.alerts.select_related("acknowledged_by", "resolved_by").prefetch_related(
        "deliveries__webhook"
    )


@once
def plan_current(deployment: Deployment) -> DeploymentPlan | None:
    return deployment.plans.order_by("-version").first()


def plan_versions(deployment: Deployment) -> QuerySet[DeploymentPlan]:
    return deployment.plans.select_related("created_by").order_by("-version")


def plan_changes(plan: DeploymentPlan) -> list[str]:
    """What changed from the version before (empty for the first)."""
    previous = plan.deployment.plans.filter(version__lt=plan.version).order_by("-version").first()
    return plan_diff(previous.content, plan.content) if previous is not None else []


def finishing_analysis(rollout: Rollout) -> Analysis | None:
    """The analysis that finished ``rollout`` (its newest pass), None while it runs or when
    it ended otherwise."""
    if rollout.status != Rollout.Status.FINISHED:
        return None
    return rollout.analyses.filter(outcome=Analysis.Outcome.PASS).first()


def criterion_checks(analysis: Analysis) -> dict[str, dict]:
    """The checks ``analysis`` made of success criteria, by the criterion's text ("metric
    target", as ``target_text`` writes it; a scaled check keeps its suffix)."""
    return {
        check["origin"].removeprefix("criterion: "): check
        for check in analysis.checks.get("checks", [])
        if str(check.get("origin", "")).startswith("criterion: ")
    }


def rollout_active(deployment: Deployment) -> Rollout | None:
    return deployment.rollouts.filter(status=Rollout.Status.ACTIVE).first()


@once
def rollout_newest(deployment: Deployment) -> Rollout | None:
    return deployment.rollouts.order_by("-started_at", "-pk").first()


@once
def deployment_for_gate(project: Project) -> Deployment | None:
    """The deployment the gate into monitoring judges: the candidate model's newest in the
    project's current cycle (an earlier cycle's rollout never counts again)."""
    candidate = selectors.candidate_model(project)
    deployments = project.deployments.filter(cycle=project.cycle)
    if candidate is not None:
        deployments = deployments.filter(model_version=candidate)
    return deployments.order_by("-created_at", "-pk").first()


def reopen_grounds(project: Project) -> list[str]:
    """What the current cycle's production says about retraining: the live deployment's
    newest finished drift check found dataset drift, an alert of the monitoring spec is open
    (firing or acknowledged: drift, decay, a metric), or the newest periodic review asked for
    a new cycle. Earlier cycles' findings led to their own reopening."""
    grounds = []
    deployment = deployment_for_gate(project)
    check = (
        deployment.drift_checks.filter(status=DriftCheck.Status.SUCCEEDED)
        .order_by("-created_at", "-pk")
        .first()
        if deployment is not None
        else None
    )
    if check is not None and check.drifted:
        grounds.append(
            f"Drift check {check.pk} of {deployment.name} "
            f"({check.created_at:%Y-%m-%d %H:%M} UTC) found {check.share:.0%} of the columns "
            f"drifted, past the threshold of {check.drift_share:.0%}."
        )
    open_alerts = Alert.objects.filter(
        deployment__project=project,
        deployment__cycle=project.cycle,
        source=Alert.Source.SPEC,
        state__in=[Alert.State.FIRING, Alert.State.ACKNOWLEDGED],
    ).order_by("fired_at", "pk")
    for alert in open_alerts:
        grounds.append(
            f"Alert “{alert.rule}” is {alert.get_state_display().lower()} since "
            f"{alert.fired_at:%Y-%m-%d %H:%M} UTC: {alert.summary}"
        )
    review = (
        MonitoringReview.objects.filter(deployment__project=project, cycle=project.cycle)
        .select_related("reviewed_by")
        .first()
    )
    if review is not None and review.outcome == MonitoringReview.Outcome.RETRAIN:
        grounds.append(
            f"The periodic review of {review.reviewed_at:%Y-%m-%d} by {review.reviewed_by} "
            f"concluded: start a new cycle. {review.notes}"
        )
    return grounds


def cycle_deployments(project: Project, cycle: int) -> QuerySet[Deployment]:
    """The deployments of ``project`` planned in ``cycle``, oldest first, with their drift
    checks and alerts (and who handled those) read in one query each."""
    return (
        project.deployments.filter(cycle=cycle)
        .select_related("model_version")
        .prefetch_related(
            Prefetch("drift_checks", queryset=DriftCheck.objects.order_by("created_at", "pk")),
            Prefetch(
                "alerts",
                queryset=Alert.objects.select_related("acknowledged_by", "resolved_by").order_by(
                    "fired_at", "pk"
                ),
            ),
        )
        .order_by("created_at", "pk")
    )


def project_criteria(project: Project) -> list[dict]:
    """The current success criteria (cleaned dicts), which the plan's targets answer to."""
    version = selectors.criteria_current(project)
    return list(version.criteria) if version is not None else []


def plan_signing_kind() -> DocumentKind:
    """Deployment plans as a signed document (registered by the app at start-up)."""

    def in_force(project: Project) -> list[DeploymentPlan]:
        plans = []
        for deployment in project.deployments.all():
            plan = plan_current(deployment)
            if (
                plan is not None
                and not deployment.rollouts.exclude(
                    status__in=[Rollout.Status.ROLLED_BACK, Rollout.Status.ABORTED]
                ).exists()
            ):
                plans.append(plan)
        return plans

    def criteria_evidence(project: Project) -> dict:
        # The plan's targets answer to the criteria: when they change, the plan is read again.
        version = selectors.criteria_current(project)
        return {
            "criteria": {
                "id": version.pk,
                "name": f"criteria v{version.version}",
                "content_sha256": version.content_sha256,
            }
            if version
            else None
        }

    return DocumentKind(
        key="plan",
        name="deployment plan",
        plural=False,
        heading="deployment plan",
        api_view="api-plan-detail",
        document_model=DeploymentPlan,
        signature_model=PlanSignOff,
        current=lambda plan: plan_current(plan.deployment),
        in_force=in_force,
        changes=lambda old, new: "; ".join(plan_diff(old.content, new.content)[:5]),
        extra_evidence=criteria_evidence,
    )


def production_period_get(user, pk: int, token: ApiToken | None = None) -> ProductionPeriod:
    return _visible(
        ProductionPeriod.objects.select_related(
            "deployment__project__team", "dataset_version__dataset", "created_by"
        ),
        "deployment__project",
        user,
        pk,
        token,
        "production period",
    )


def production_periods_of(deployment: Deployment) -> QuerySet[ProductionPeriod]:
    return deployment.production_periods.select_related("dataset_version__dataset", "created_by")


def label_batch_get(user, pk: int, token: ApiToken | None = None) -> LabelBatch:
    return _visible(
        LabelBatch.objects.select_related(
            "deployment__project__team", "dataset_version__dataset", "created_by"
        ),
        "deployment__project",
        user,
        pk,
        token,
        "label batch",
    )


def label_batches_of(deployment: Deployment) -> QuerySet[LabelBatch]:
    return deployment.label_batches.select_related("dataset_version__dataset", "created_by")


def production_versions(project: Project) -> QuerySet:
    """The versions a production period may hold: the project's profiled production samples."""
    return (
        selectors.ready_versions(project)
        .filter(dataset__purpose="production_sample")
        .select_related("dataset")
    )


def review_get(user, pk: int, token: ApiToken | None = None) -> MonitoringReview:
    return _visible(
        MonitoringReview.objects.select_related("deployment__project__team", "reviewed_by"),
        "deployment__project",
        user,
        pk,
        token,
        "review",
    )


def reviews_of(deployment: Deployment) -> QuerySet[MonitoringReview]:
    """The deployment's periodic reviews, newest first."""
    return deployment.reviews.select_related("reviewed_by")
