"""The deployment page's content: plan, sign-offs, rollout, analyses and charts.

Every view of the page (and every refused form posted from it) renders through
:func:`render_deployment`, so a refusal shows on the same page with its reasons.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from deployments import selectors
from deployments.analysis.catalog import metric_info
from deployments.analysis.charts import chart_description, window_chart_svg
from deployments.analysis.plan import (
    default_plan,
    monitoring_gaps,
    plan_against_criteria,
    plan_summary,
)
from deployments.forms import (
    DeploymentTokenForm,
    DriftCheckForm,
    LabelBatchForm,
    MoveForm,
    PlanForm,
    ProductionPeriodForm,
)
from deployments.models import Analysis, Deployment, DeploymentPlan, Rollout, RolloutMove
from deployments.series import ChartWindow, chart_window, window_series
from deployments.views.progress import next_step, rollout_stepper, window_closes
from portal import access
from projects import selectors as project_selectors
from projects.analysis.signoffs import Signature as Signed
from projects.analysis.signoffs import Summary, summarise

#: Analyses and drift checks listed on the page, newest first (older ones are in the API).
ANALYSES_SHOWN = 30
DRIFT_CHECKS_SHOWN = 20
ALERTS_SHOWN = 20
PERIODS_SHOWN = 20
CHART_WIDTH = 560
SHADOW_LABEL = "Shadow agreement"


def signoff_summary_of(rows: list[dict]) -> Summary:
    """As ``projects.selectors.signoff_summary``, from rows already read."""
    return summarise(
        Signed(
            user=row["signoff"].signed_by.username,
            role=row["signoff"].role,
            decision=row["signoff"].decision,
            stale=tuple(row["stale"]),
            comment=row["signoff"].comment,
        )
        for row in rows
        if row["signoff"].revoked_at is None
    )


def _charts(deployment: Deployment, window: ChartWindow | None) -> list[dict]:
    if window is None:
        return []
    series = window_series(deployment, window.targets, window.start, window.end)
    charts = []
    for metric, targets in window.targets.items():
        info = metric_info(metric)
        label = info.label if info else SHADOW_LABEL if metric == "shadow_agreement" else metric
        unit = info.unit if info else targets[0].unit
        arguments = {"window_start": window.start, "window_end": window.end, "unit": unit}
        charts.append(
            {
                "metric": metric,
                "label": label,
                "svg": window_chart_svg(
                    series[metric],
                    targets,
                    title=label,
                    now=window.now,
                    width=CHART_WIDTH,
                    **arguments,
                ),
                "description": chart_description(series[metric], targets, label=label, **arguments),
                "points": series[metric].points,
            }
        )
    return charts


def _sources(window: ChartWindow | None) -> list[str]:
    """Prometheus queries the analysis read: the charts show pushed points only."""
    if window is None or window.analysis is None:
        return []
    return sorted(
        {
            c["source"].removeprefix("prometheus: ")
            for c in window.analysis.checks.get("checks", [])
            if str(c.get("source", "")).startswith("prometheus")
        }
    )


def deployment_context(
    request: HttpRequest,
    deployment: Deployment,
    plan: DeploymentPlan | None = None,
    *,
    plan_form: PlanForm | None = None,
    refusal: dict | None = None,
    analysis_id: int | None = None,
    token_form: DeploymentTokenForm | None = None,
    new_token: tuple | None = None,
    drift_form: DriftCheckForm | None = None,
    new_webhook: tuple | None = None,
    production_form: ProductionPeriodForm | None = None,
    label_form: LabelBatchForm | None = None,
    now: datetime | None = None,
) -> dict:
    """Everything the page shows; ``plan`` is the version looked at (the current one when
    None)."""
    now = now or timezone.now()
    user, project = request.user, deployment.project
    perms = access.project_perms(user, project)
    versions = list(selectors.plan_versions(deployment))
    current = versions[0] if versions else None
    plan = plan or current
    rows, evidence, summary, sign_roles = [], None, None, []
    if plan is not None:
        evidence = project_selectors.document_evidence(plan)
        rows = project_selectors.signoff_rows(plan, current, evidence)
        summary = signoff_summary_of(rows)
        mine = [
            r
            for r in rows
            if r["signoff"].signed_by_id == user.pk
            and not r["signoff"].revoked_at
            and not r["stale"]
        ]
        if plan.pk == current.pk and not mine:
            sign_roles = project_selectors.signoff_roles(user, project)
    rollouts = list(
        deployment.rollouts.select_related("plan", "started_by").prefetch_related(
            Prefetch("moves", queryset=RolloutMove.objects.select_related("actor", "analysis"))
        )
    )
    rollout = rollouts[0] if rollouts else None
    analyses = list(
        Analysis.objects.filter(rollout__deployment=deployment).select_related("requested_by")[
            :ANALYSES_SHOWN
        ]
    )
    chosen = None
    if analysis_id is not None:
        chosen = next((a for a in analyses if a.pk == analysis_id), None) or (
            Analysis.objects.filter(rollout__deployment=deployment, pk=analysis_id).first()
        )
    newest = next((a for a in analyses if rollout and a.rollout_id == rollout.pk), None)
    window = chart_window(rollout, analysis=chosen, newest=newest, now=now)
    criteria = selectors.project_criteria(project) if plan is not None else []
    can_change = access.CHANGE in perms
    if plan_form is None and can_change:
        shown = plan.content if plan is not None else default_plan()
        plan_form = PlanForm(initial={"content": shown})
    active = rollout is not None and rollout.status == Rollout.Status.ACTIVE
    current_summary = summary
    if current is not None and plan.pk != current.pk:
        current_summary = project_selectors.signoff_summary(current)
    candidate = project_selectors.candidate_model(project)
    return {
        "project": project,
        "deployment": deployment,
        "perms": perms,
        "can_change": can_change,
        "can_transition": access.TRANSITION in perms,
        "plan": plan,
        "current": current,
        "versions": versions,
        "plan_rows": plan_summary(plan.content) if plan else [],
        "changes": selectors.plan_changes(plan) if plan else [],
        "gaps": monitoring_gaps(plan.content) if plan else [],
        "looser": plan_against_criteria(plan.content, criteria) if plan else [],
        "plan_json": json.dumps(plan.content, indent=2, ensure_ascii=False) if plan else "",
        "signoffs": rows,
        "summary": summary,
        "current_summary": current_summary,
        "evidence": evidence,
        "evidence_sha256": project_selectors.evidence_sha256(evidence) if evidence else "",
        "sign_roles": sign_roles,
        "plan_form": plan_form,
        "rollout": rollout,
        "active": active,
        "earlier_rollouts": rollouts[1:],
        "stepper": rollout_stepper((rollout.plan if rollout else plan).content, rollout)
        if rollout or plan
        else [],
        "closes": window_closes(rollout) if active else None,
        "window_open": active and now < window_closes(rollout),
        "move_form": MoveForm(),
        "analyses": analyses,
        "window": window,
        "charts": _charts(deployment, window),
        "prometheus_sources": _sources(window),
        "next_step": next_step(
            project=project, plan=current, summary=current_summary, rollout=rollout, now=now
        ),
        "refusal": refusal,
        "candidate": candidate,
        "tokens": list(selectors.deployment_tokens(deployment)) if can_change else [],
        "drift_checks": list(
            deployment.drift_checks.select_related(
                "reference__dataset", "current__dataset", "requested_by"
            )[:DRIFT_CHECKS_SHOWN]
        ),
        "alerts": list(selectors.alerts_of(deployment)[:ALERTS_SHOWN]),
        "webhooks": list(deployment.alert_webhooks.all()) if can_change else [],
        "new_webhook": new_webhook,
        "drift_form": (
            drift_form or DriftCheckForm(versions=project_selectors.ready_versions(project))
        )
        if can_change
        else None,
        "production_periods": _periods(deployment, current),
        "production_form": (
            production_form or ProductionPeriodForm(versions=selectors.production_versions(project))
        )
        if can_change
        else None,
        "label_batches": list(selectors.label_batches_of(deployment)[:PERIODS_SHOWN]),
        "label_form": (
            label_form or LabelBatchForm(versions=selectors.production_versions(project))
        )
        if can_change
        else None,
        "token_form": token_form or DeploymentTokenForm(),
        "new_token": new_token,
        "now": now,
    }


def _periods(deployment: Deployment, plan: DeploymentPlan | None) -> list[dict]:
    """The newest periods, each with the watched metric's estimate and realized value (the
    spec's performance metric, ROC AUC when it names none)."""
    spec = ((plan.content.get("monitoring") or {}) if plan else {}).get("performance") or {}
    metric = spec.get("metric", "roc_auc")
    rows = []
    for period in selectors.production_periods_of(deployment)[:PERIODS_SHOWN]:
        estimate, realized = period.estimate or {}, period.realized or {}
        rows.append(
            {
                "period": period,
                "metric": metric,
                "estimated": ((estimate.get("metrics") or {}).get(metric) or {}).get("value"),
                "estimate_error": estimate.get("error", ""),
                "realized": (realized.get("metrics") or {}).get(metric),
                "labelled": realized.get("labelled", 0),
                "realized_error": realized.get("error", ""),
            }
        )
    return rows


def render_deployment(
    request: HttpRequest,
    deployment: Deployment,
    plan: DeploymentPlan | None = None,
    *,
    status: int = 200,
    **extra,
) -> HttpResponse:
    context = deployment_context(request, deployment, plan, **extra)
    return render(request, "deployments/deployment.html", context, status=status)
