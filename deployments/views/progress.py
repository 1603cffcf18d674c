"""Where a deployment stands, for people: the rollout's steps and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from deployments.analysis.catalog import BLUE_GREEN, CANARY, SHADOW, number_text
from deployments.models import DeploymentPlan, Rollout
from deployments.services.rollouts import plan_steps
from projects.analysis.signoffs import Summary
from projects.models import Project

DONE, CURRENT, STOPPED, TO_COME = "done", "current", "stopped", "to-come"
STATE_WORDS = {DONE: "done", CURRENT: "current step", STOPPED: "stopped here", TO_COME: "to come"}


@dataclass(frozen=True)
class StepItem:
    label: str
    detail: str
    state: str = TO_COME

    @property
    def state_text(self) -> str:
        return STATE_WORDS[self.state]


def _items(content: dict) -> list[StepItem]:
    pattern = content["pattern"]
    kind = pattern["kind"]
    if kind == CANARY:
        return [
            StepItem(f"{number_text(step.traffic)} %", f"{step.window_minutes} min window")
            for step in plan_steps(content)
        ]
    window = f"{pattern['window_minutes']} min window"
    if kind == BLUE_GREEN:
        live, idle = pattern["environments"]
        return [
            StepItem(f"Check {idle}", f"{window}; {live} serves"),
            StepItem(f"Switch to {idle}", "100 % on the new model"),
        ]
    if kind == SHADOW:
        return [
            StepItem("Shadow", f"{window}; serves no one"),
            StepItem("Accepted", f"agreement ≥ {number_text(pattern['agreement_min'])}"),
        ]
    return [StepItem("100 %", window), StepItem("Finished", "all traffic on the new model")]


def rollout_stepper(content: dict, rollout: Rollout | None) -> list[StepItem]:
    """The pattern's steps, each done, current, stopped (where a rollback or abort ended
    the rollout) or to come; all to come before a rollout starts."""
    items = _items(content)
    if rollout is None:
        return items
    if rollout.status == Rollout.Status.FINISHED:
        return [StepItem(i.label, i.detail, DONE) for i in items]
    here = CURRENT if rollout.status == Rollout.Status.ACTIVE else STOPPED
    return [
        StepItem(
            i.label, i.detail, DONE if n < rollout.step else here if n == rollout.step else TO_COME
        )
        for n, i in enumerate(items)
    ]


def window_closes(rollout: Rollout) -> datetime:
    """When the current step's analysis window has run its length."""
    step = plan_steps(rollout.plan.content)[rollout.step]
    return rollout.step_started_at + timedelta(minutes=step.window_minutes)


def next_step(
    *,
    project: Project,
    plan: DeploymentPlan | None,
    summary: Summary | None,
    rollout: Rollout | None,
    now: datetime,
) -> str:
    """One sentence: what this deployment waits for, and who can give it."""
    if rollout is not None and rollout.status == Rollout.Status.ACTIVE:
        steps = plan_steps(rollout.plan.content)
        where = (
            f"Step {rollout.step + 1} of {len(steps)} ({number_text(rollout.traffic)} % of traffic)"
        )
        if rollout.pattern == BLUE_GREEN:
            live, idle = rollout.plan.content["pattern"]["environments"]
            where = f"Traffic stays on {live} while {idle}, with the new model, is checked"
        elif rollout.pattern == SHADOW:
            where = "The new model runs in the shadow of the live one and serves no one"
        closes = window_closes(rollout)
        if now < closes:
            return (
                f"{where}. Its analysis window closes at {closes:%H:%M} UTC; keep pushing "
                "metrics, then promote (or roll back if something looks wrong)."
            )
        return (
            f"{where}. The analysis window has run its length: promote to have it judged, or "
            "roll back."
        )
    if plan is None:
        return (
            "Write the deployment plan: serving targets, the rollout pattern and what to monitor."
        )
    if summary is not None and not summary.passed:
        return f"Plan v{plan.version} needs sign-off: {summary.detail}"
    if (
        rollout is not None
        and rollout.status == Rollout.Status.FINISHED
        and rollout.plan_id == plan.pk
    ):
        return (
            "The rollout finished. The project moves into monitoring once its gate passes "
            "(on the project page)."
        )
    if project.stage != Project.Stage.DEPLOYMENT:
        return (
            f"Plan v{plan.version} is signed. {project.name} is in "
            f"{project.get_stage_display().lower()}: a rollout starts once the project is "
            "in deployment."
        )
    again = " again" if rollout is not None else ""
    return f"Plan v{plan.version} is signed: start the rollout{again}."
