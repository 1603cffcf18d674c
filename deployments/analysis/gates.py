"""The deployment stage's rules in the gate into monitoring. No Django.

A project goes live for monitoring when its deployment plan is signed and fresh, the plan's
monitoring spec watches software, input and output metrics, the rollout finished (a
canary at 100 %, blue-green switched, a shadow done with its agreement met), and the
software criteria were met by the rollout's last analysis: the latency criterion is
measured at last, in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from projects.analysis.gates import Check

ROLLOUT_WAITING = {
    "none": "Start the rollout from the signed plan.",
    "active": "Rollout {rollout} is at {where}; promote it to the end.",
    "rolled_back": "Rollout {rollout} was rolled back; start a new one.",
    "aborted": "Rollout {rollout} was aborted; start a new one.",
}


@dataclass(frozen=True)
class DeploymentState:
    """The deployment of the candidate model, as the gate into monitoring sees it."""

    deployment: str = ""  # blank: the candidate has no deployment
    #: Its id: the page where the plan is written and signed and the rollout driven.
    deployment_id: int | None = None
    plan_version: int | None = None
    plan_signed: bool = False
    signoff_detail: str = ""
    #: Kinds (software, input, output) the monitoring spec has no metric of.
    monitoring_gaps: tuple[str, ...] = ()
    #: none / active / finished / rolled_back / aborted
    rollout: str = "none"
    rollout_id: int | None = None
    #: Where an active rollout stands, or what the finished one did: "25 % (step 3 of 5)".
    where: str = ""
    #: The analysis that finished the rollout.
    analysis_id: int | None = None
    #: Each software criterion's check in that analysis: (its text, pass / fail /
    #: inconclusive / missing, the reason).
    software: tuple[tuple[str, str, str], ...] = ()


def _no_deployment(name: str) -> Check:
    return Check(
        name, False, "Plan the deployment of the candidate model first.", key="deployment.none"
    )


def plan_check(state: DeploymentState) -> Check:
    name = "Deployment plan signed by a business owner and an ML engineer"
    if not state.deployment:
        return _no_deployment(name)
    if state.plan_version is None:
        return Check(
            name,
            False,
            f"Write the plan of {state.deployment}.",
            key="deployment.plan",
            ref=state.deployment_id,
        )
    return Check(
        name,
        state.plan_signed,
        f"Plan v{state.plan_version}: {state.signoff_detail}",
        key="deployment.plan",
        ref=state.deployment_id,
    )


def monitoring_check(state: DeploymentState) -> Check:
    name = "Monitoring spec watches software, input and output metrics"
    if not state.deployment:
        return Check(
            name,
            False,
            "The monitoring spec is part of the deployment plan.",
            key="deployment.none",
        )
    if state.plan_version is None:
        return Check(
            name,
            False,
            "The monitoring spec is part of the deployment plan.",
            key="deployment.monitoring",
            ref=state.deployment_id,
        )
    if state.monitoring_gaps:
        return Check(
            name,
            False,
            f"Plan v{state.plan_version} watches no {' and no '.join(state.monitoring_gaps)} "
            "metric; add one of each.",
            key="deployment.monitoring",
            ref=state.deployment_id,
        )
    return Check(
        name,
        True,
        f"Plan v{state.plan_version} names metrics of every kind.",
        key="deployment.monitoring",
        ref=state.deployment_id,
    )


def rollout_check(state: DeploymentState) -> Check:
    name = "Rollout finished"
    if not state.deployment:
        return _no_deployment(name)
    if state.rollout == "finished":
        return Check(
            name,
            True,
            f"Rollout {state.rollout_id}: {state.where}.",
            key="deployment.rollout",
            ref=state.deployment_id,
        )
    template = ROLLOUT_WAITING.get(state.rollout, "Rollout {rollout} is {status}.")
    return Check(
        name,
        False,
        template.format(rollout=state.rollout_id, where=state.where, status=state.rollout),
        key="deployment.rollout",
        ref=state.deployment_id,
    )


def software_check(state: DeploymentState) -> Check:
    name = "Software criteria met during the rollout"
    # Without a deployment there is nothing to measure yet: plan it first.
    key, ref = (
        ("deployment.software", state.deployment_id)
        if state.deployment
        else ("deployment.none", None)
    )
    if state.rollout != "finished" or state.analysis_id is None:
        return Check(
            name, False, "Measured by the analysis that finishes the rollout.", key=key, ref=ref
        )
    if not state.software:
        return Check(
            name,
            True,
            f"The criteria have no software criterion measured in deployment (analysis "
            f"{state.analysis_id}).",
            key=key,
            ref=ref,
        )
    short = [f"{text}: {reason}" for text, status, reason in state.software if status != "pass"]
    if short:
        return Check(name, False, "; ".join(short), key=key, ref=ref)
    met = "; ".join(f"{text}: {reason}" for text, _, reason in state.software)
    return Check(name, True, f"Analysis {state.analysis_id}: {met}", key=key, ref=ref)
