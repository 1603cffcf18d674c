"""Periodic review of live deployments, read from the record: the state the monitoring
checklist judges (deployments/analysis/review.py), the reviews overdue that the home pages
list (registered with projects/overdue.py when the app starts), and what stands in the way
of recording a review.

A deployment is **live**, and reviewed on the spec's cadence, while it belongs to its
project's current cycle, the project is in the monitoring stage, and a rollout of it has
finished (its model serves all traffic). Monitoring began at the **first finish of its
rollout** (``Rollout.finished_at``), not when the project moved into the monitoring stage:
the model is in production, and the risk a review answers to runs, from that moment; the
move into monitoring follows on the gate (a signed pack) and may come days later. So a
team that takes longer than a cadence to move a finished rollout into monitoring finds its
first review due at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Max, Min, Q, QuerySet
from django.urls import reverse

from deployments.analysis.plan_monitoring import DEFAULT_DRIFT_DAYS, DEFAULT_REVIEW_DAYS
from deployments.analysis.review import Due, MonitoringState, due, monitoring_checklist
from deployments.models import (
    Alert,
    Deployment,
    DeploymentPlan,
    DriftCheck,
    MonitoringReview,
    Rollout,
)
from deployments.services.performance import decay_judged, performance_spec
from portal.exceptions import Conflict
from projects.analysis.gates import Check
from projects.models import Project
from projects.overdue import OverdueReview, overdue_source

FINISHED = Q(rollouts__status=Rollout.Status.FINISHED)


def live_deployments(projects: QuerySet[Project]) -> QuerySet[Deployment]:
    """The live deployments of ``projects``, each with ``monitoring_since`` (its rollout's
    first finish) and ``last_reviewed_at`` (None before the first review): one query."""
    return (
        Deployment.objects.filter(
            project__in=projects.values("pk"),
            project__stage=Project.Stage.MONITORING,
            cycle=F("project__cycle"),
        )
        .annotate(
            monitoring_since=Min("rollouts__finished_at", filter=FINISHED),
            last_reviewed_at=Max("reviews__reviewed_at"),
        )
        .filter(monitoring_since__isnull=False)
        .select_related("project__team")
        .order_by("project__name", "created_at", "pk")
    )


def monitoring_since(deployment: Deployment) -> datetime | None:
    """When the deployment's rollout first finished; None while none has."""
    finished = deployment.rollouts.filter(status=Rollout.Status.FINISHED)
    return finished.aggregate(first=Min("finished_at"))["first"]


def not_reviewable(deployment: Deployment, project: Project) -> Conflict | None:
    """Why no periodic review of ``deployment`` can be recorded now (``project`` read fresh,
    locked by the caller that writes), or None when one can."""
    if deployment.cycle != project.cycle:
        return Conflict(
            f"{deployment.name} belongs to cycle {deployment.cycle}; the project is in cycle "
            f"{project.cycle} now. Review a deployment of the current cycle.",
            code="not_current_cycle",
        )
    if project.stage != Project.Stage.MONITORING:
        return Conflict(
            f"The project is in {project.stage}; periodic reviews are recorded while it is in "
            "monitoring.",
            code="not_monitoring",
        )
    if monitoring_since(deployment) is None:
        return Conflict(
            f"No rollout of {deployment.name} has finished: nothing of it is live to review.",
            code="not_live",
        )
    return None


def _cadences(deployment_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Each deployment's (review, drift) cadence in days, from its current plan's monitoring
    spec (the defaults for a plan saved before the spec had them): one query."""
    rows = (
        DeploymentPlan.objects.filter(deployment_id__in=deployment_ids)
        .order_by("deployment_id", "-version")
        .values_list(
            "deployment_id",
            "content__monitoring__review_cadence_days",
            "content__monitoring__drift_cadence_days",
        )
    )
    found: dict[int, tuple[int, int]] = {}
    for deployment_id, review_days, drift_days in rows:
        found.setdefault(
            deployment_id,
            (int(review_days or DEFAULT_REVIEW_DAYS), int(drift_days or DEFAULT_DRIFT_DAYS)),
        )
    return found


def monitoring_state(deployment: Deployment, *, now: datetime) -> MonitoringState | None:
    """The live deployment as its monitoring checklist judges it; None when it is not live
    (see :func:`not_reviewable`)."""
    project = deployment.project
    if deployment.cycle != project.cycle or project.stage != Project.Stage.MONITORING:
        return None
    since = monitoring_since(deployment)
    if since is None:
        return None
    review_days, drift_days = _cadences([deployment.pk]).get(
        deployment.pk, (DEFAULT_REVIEW_DAYS, DEFAULT_DRIFT_DAYS)
    )
    review = deployment.reviews.select_related("reviewed_by").first()
    check = (
        deployment.drift_checks.filter(status=DriftCheck.Status.SUCCEEDED)
        .order_by(F("finished_at").desc(nulls_last=True), "-pk")
        .first()
    )
    firing = deployment.alerts.filter(state=Alert.State.FIRING).order_by("fired_at", "pk")
    watch = performance_spec(deployment)
    decay, period = decay_judged(deployment, watch) if watch else (None, None)
    unjudged = ""
    newest = deployment.production_periods.order_by("-period_end", "-pk").first()
    if watch and decay is None and newest is not None:
        unjudged = (newest.estimate or {}).get("error") or (newest.realized or {}).get("error")
    return MonitoringState(
        now=now,
        since=since,
        review_cadence_days=review_days,
        drift_cadence_days=drift_days,
        last_review_at=review.reviewed_at if review else None,
        last_reviewer=review.reviewed_by.get_username() if review else "",
        last_outcome=review.get_outcome_display() if review else "",
        last_drift_check_id=check.pk if check else None,
        last_drift_check_at=(check.finished_at or check.created_at) if check else None,
        last_drift_check_drifted=check.drifted if check else None,
        unacknowledged=tuple(firing.values_list("rule", "fired_at")),
        performance_watched=bool(watch),
        decay=decay,
        decay_period=str(period) if period else "",
        performance_error=unjudged or "",
    )


@overdue_source
def overdue_deployments(projects: QuerySet[Project], now: datetime) -> list[OverdueReview]:
    """The live deployments of ``projects`` whose periodic review is overdue: two queries."""
    live = list(live_deployments(projects))
    cadences = _cadences([d.pk for d in live])
    overdue = []
    for deployment in live:
        days = cadences.get(deployment.pk, (DEFAULT_REVIEW_DAYS, DEFAULT_DRIFT_DAYS))[0]
        review = due(
            cadence_days=days,
            since=deployment.monitoring_since,
            last_at=deployment.last_reviewed_at,
            now=now,
        )
        if review.overdue:
            overdue.append(
                OverdueReview(
                    subject=deployment.name,
                    url=reverse("deployment-dashboard", args=[deployment.pk]) + "#review",
                    project=deployment.project,
                    due_at=review.due_at,
                    days_overdue=review.days_overdue,
                )
            )
    return overdue


#: Reviews a deployment's panel lists, newest first (the API lists them all).
SHOWN_REVIEWS = 20


@dataclass(frozen=True)
class ReviewPanel:
    """A deployment's periodic review as its dashboard shows it."""

    #: Why no review can be recorded now (blank while the deployment is live).
    refusal: str = ""
    checks: list[Check] = field(default_factory=list)
    review: Due | None = None
    cadence_days: int | None = None
    reviews: list[MonitoringReview] = field(default_factory=list)
    more: bool = False

    @property
    def live(self) -> bool:
        return not self.refusal

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def review_panel(deployment: Deployment, *, now: datetime) -> ReviewPanel:
    """The checklist and the review's due date of a live deployment, or why it is not live;
    its reviews, newest first, either way."""
    reviews = list(deployment.reviews.select_related("reviewed_by")[: SHOWN_REVIEWS + 1])
    shown = {"reviews": reviews[:SHOWN_REVIEWS], "more": len(reviews) > SHOWN_REVIEWS}
    refusal = not_reviewable(deployment, deployment.project)
    if refusal is not None:
        return ReviewPanel(refusal=refusal.detail, **shown)
    state = monitoring_state(deployment, now=now)
    return ReviewPanel(
        checks=monitoring_checklist(state),
        review=state.review,
        cadence_days=state.review_cadence_days,
        **shown,
    )


def project_checklists(project: Project, *, now: datetime) -> list[tuple[Deployment, list[Check]]]:
    """Each live deployment of ``project`` with its monitoring checklist."""
    found = []
    for deployment in live_deployments(Project.objects.filter(pk=project.pk)):
        state = monitoring_state(deployment, now=now)
        if state is not None:
            found.append((deployment, monitoring_checklist(state)))
    return found
