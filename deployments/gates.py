"""What deployments contributes to the gate into monitoring, registered when the app starts
(``DeploymentsConfig.ready``): the plan signed, its monitoring spec, the rollout finished,
and the software criteria met by the analysis that finished it. And the way back: the
current cycle's drift and open alerts as grounds to start the next one."""

from __future__ import annotations

from deployments import selectors
from deployments.analysis.gates import (
    DeploymentState,
    monitoring_check,
    plan_check,
    rollout_check,
    software_check,
)
from deployments.analysis.plan import monitoring_gaps
from deployments.models import Analysis, Rollout
from deployments.services.rollouts import plan_steps
from projects import selectors as project_selectors
from projects.analysis.criteria import SOFTWARE, target_text
from projects.analysis.gates import MONITORING, Check
from projects.gates import GateContext, gate_check
from projects.models import Project
from projects.reopening import reopen_grounds_source

reopen_grounds_source(selectors.reopen_grounds)


def _where(rollout: Rollout) -> str:
    steps = plan_steps(rollout.plan.content)
    if rollout.status == Rollout.Status.ACTIVE:
        if rollout.pattern == "canary":
            return f"{rollout.traffic:g} % (step {rollout.step + 1} of {len(steps)})"
        return f"its {rollout.pattern.replace('_', '-')} analysis"
    if rollout.pattern == "blue_green":
        return f"switched, {rollout.live_environment} live"
    if rollout.pattern == "shadow":
        return "shadow done, agreement met"
    return f"{rollout.traffic:g} % of traffic"


def _software(project: Project, analysis: Analysis) -> tuple[tuple[str, str, str], ...]:
    """Each software criterion measured in deployment, with its check in ``analysis``."""
    version = project_selectors.criteria_current(project)
    found = selectors.criterion_checks(analysis)
    rows = []
    for criterion in version.criteria if version else []:
        if criterion["category"] != SOFTWARE or criterion["source"] != "deployment":
            continue
        text = f"{criterion['metric']} {target_text(criterion)}"
        check = found.get(text)
        if check is None:
            rows.append((text, "missing", f"not measured by analysis {analysis.pk}"))
        else:
            rows.append((text, check["status"], check["reason"]))
    return tuple(rows)


def deployment_state(project: Project) -> DeploymentState:
    """The candidate's newest deployment: its plan, sign-offs, rollout and last analysis."""
    deployment = selectors.deployment_for_gate(project)
    if deployment is None:
        return DeploymentState()
    plan = selectors.plan_current(deployment)
    if plan is None:
        return DeploymentState(deployment=deployment.name, deployment_id=deployment.pk)
    summary = project_selectors.signoff_summary(plan)
    state = {
        "deployment": deployment.name,
        "deployment_id": deployment.pk,
        "plan_version": plan.version,
        "plan_signed": summary.passed,
        "signoff_detail": summary.detail,
        "monitoring_gaps": tuple(monitoring_gaps(plan.content)),
    }
    rollout = selectors.rollout_newest(deployment)
    if rollout is None:
        return DeploymentState(**state)
    status = rollout.status
    if rollout.plan_id != plan.pk:
        # Rolled out by an earlier plan: the signed plan of now has not been rolled out.
        return DeploymentState(**state, rollout="none", rollout_id=rollout.pk)
    finishing = selectors.finishing_analysis(rollout)
    return DeploymentState(
        **state,
        rollout=status,
        rollout_id=rollout.pk,
        where=_where(rollout),
        analysis_id=finishing.pk if finishing else None,
        software=_software(project, finishing) if finishing else (),
    )


@gate_check(MONITORING, order=30)
def deployment_ready(project: Project, context: GateContext) -> list[Check]:
    state = deployment_state(project)
    return [
        plan_check(state),
        monitoring_check(state),
        rollout_check(state),
        software_check(state),
    ]
