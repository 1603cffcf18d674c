"""Rollouts: started from a signed plan, promoted step by step on the analysis of live
metrics, rolled back or aborted with a reason.

Lock order: the rollout's row, then the trail's head (inside ``event_record``). The
analysis reads its metrics (our table, or Prometheus over HTTP) before any lock is taken,
and the promotion then checks, under the lock, that the rollout is still where the
analysis found it: of two promotions racing, one moves it and the other is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError
from django.utils import timezone

from deployments import metrics, selectors
from deployments.analysis.catalog import ALL_AT_ONCE, BLUE_GREEN, CANARY, SHADOW, statistic_key
from deployments.analysis.window import PASS, analyse, derive_checks, shadow_check
from deployments.models import Analysis, Deployment, Rollout, RolloutMove
from portal.exceptions import ApplicationError, Conflict
from portal.transactions import retry_atomic
from projects import selectors as project_selectors
from projects.analysis.criteria import content_sha256
from projects.models import Project
from projects.services.events import event_record

if TYPE_CHECKING:
    from deployments.models import DeploymentPlan
    from projects.models import ApiToken


@dataclass(frozen=True)
class Step:
    traffic: float
    window_minutes: int


def plan_steps(content: dict) -> list[Step]:
    """The steps a plan's pattern walks: a canary's ramp; one analysed step otherwise (the
    idle environment before the switch, the shadow's window, everything at once)."""
    pattern = content["pattern"]
    if pattern["kind"] == CANARY:
        return [Step(float(s["traffic"]), int(s["window_minutes"])) for s in pattern["steps"]]
    traffic = 100.0 if pattern["kind"] == ALL_AT_ONCE else 0.0
    return [Step(traffic, int(pattern["window_minutes"]))]


class PromotionRefused(Conflict):
    """The analysis did not pass: the rollout stays where it is. The analysis is stored."""

    code = "analysis_failed"


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(f"Say why you {what}.", code="reason_missing")
    return reason[:2000]


def _move(rollout: Rollout, action: str, actor, token, reason: str, analysis=None, at=None) -> None:
    RolloutMove.objects.create(
        rollout=rollout,
        action=action,
        step=rollout.step,
        traffic=rollout.traffic,
        live_environment=rollout.live_environment,
        reason=reason,
        analysis=analysis,
        actor=actor,
        token_prefix=token.prefix if token is not None else "",
        created_at=at or timezone.now(),
    )


def _event(verb: str, rollout: Rollout, actor, token, **payload) -> None:
    event_record(
        actor=actor,
        verb=verb,
        target=rollout,
        project=rollout.deployment.project,
        token=token,
        payload={
            "deployment": rollout.deployment_id,
            "plan": rollout.plan_id,
            "step": rollout.step,
            "traffic": rollout.traffic,
            "live_environment": rollout.live_environment,
            "status": rollout.status,
            **payload,
        },
    )


def rollout_start(
    *,
    actor,
    deployment: Deployment,
    reason: str = "",
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> Rollout:
    """Start rolling out ``deployment`` by its current plan, which both roles signed.
    ``now`` dates the start (the first step's window opens then)."""
    now = now or timezone.now()
    plan = selectors.plan_current(deployment)
    if plan is None:
        raise Conflict("Write and sign the deployment plan first.", code="no_plan")
    summary = project_selectors.signoff_summary(plan)
    if not summary.passed:
        raise Conflict(
            f"Plan v{plan.version} is not signed: {summary.detail}", code="plan_not_signed"
        )
    project = deployment.project
    if project.stage != Project.Stage.DEPLOYMENT:
        raise Conflict(
            f"{project.name} is in {project.get_stage_display().lower()}; a rollout happens "
            "in the deployment stage.",
            code="wrong_stage",
        )
    content = plan.content
    first = plan_steps(content)[0]
    environments = content["pattern"].get("environments") or []

    def start() -> Rollout:
        rollout = Rollout.objects.create(
            deployment=deployment,
            plan=plan,
            pattern=content["pattern"]["kind"],
            traffic=first.traffic,
            # Blue-green: the first environment keeps serving until the switch.
            live_environment=environments[0] if environments else "",
            started_by=actor,
            started_at=now,
            step_started_at=now,
            updated_at=now,
        )
        _move(rollout, RolloutMove.Action.START, actor, token, (reason or "").strip(), at=now)
        _event(
            "rollout.started",
            rollout,
            actor,
            token,
            plan_version=plan.version,
            plan_sha256=plan.content_sha256,
            pattern=rollout.pattern,
            reason=(reason or "").strip(),
        )
        return rollout

    try:
        return retry_atomic(start)
    except IntegrityError:
        raise Conflict(
            "A rollout of this deployment is under way already; promote, roll back or abort it.",
            code="rollout_active",
        ) from None


def _active(deployment: Deployment) -> Rollout:
    rollout = selectors.rollout_active(deployment)
    if rollout is not None:
        return rollout
    newest = selectors.rollout_newest(deployment)
    if newest is None:
        raise Conflict("No rollout has started; start one from the signed plan.", code="no_rollout")
    raise Conflict(
        f"Rollout {newest.pk} is {newest.get_status_display().lower()}; start a new one to "
        "move traffic again.",
        code="rollout_ended",
    )


def window_of(rollout: Rollout, now: datetime) -> tuple[datetime, datetime]:
    """The current step's analysis window: its last ``window_minutes`` up to ``now``, or a
    refusal when the step has not run that long yet."""
    step = plan_steps(rollout.plan.content)[rollout.step]
    length = timedelta(minutes=step.window_minutes)
    opens = rollout.step_started_at + length
    if now < opens:
        what = {
            "canary": f"The {step.traffic:g} % step's",
            "blue_green": "The idle environment's",
            "shadow": "The shadow's",
        }.get(rollout.pattern, "The rollout's")
        raise Conflict(
            f"{what} {step.window_minutes}-minute analysis window closes at "
            f"{opens:%Y-%m-%d %H:%M:%S} UTC; promote after that.",
            code="window_open",
        )
    return now - length, now


def analysis_of(rollout: Rollout, start: datetime, end: datetime):
    """Judge the rollout's current step on the window: the plan's and the criteria's checks
    on pushed points or Prometheus, and the shadow's agreement."""
    plan: DeploymentPlan = rollout.plan
    content = plan.content
    step = plan_steps(content)[rollout.step]
    deployment = rollout.deployment
    criteria_version = project_selectors.criteria_current(deployment.project)
    criteria = list(criteria_version.criteria) if criteria_version else []
    # A canary step is judged at its share; the other patterns carry the whole load once live.
    share = step.traffic if rollout.pattern == CANARY else 100.0
    checks = derive_checks(content, criteria, traffic=share)
    wanted = {c.metric for c in checks}
    windows = metrics.pushed_windows(deployment, wanted, start, end)
    # Prometheus may also give a statistic at each moment (latency_ms:p95).
    series = wanted | {statistic_key(c.metric, c.statistic) for c in checks}
    windows.update(metrics.prometheus_windows(content, series, start, end))
    judged = []
    if rollout.pattern == SHADOW:
        pattern = content["pattern"]
        judged.append(
            shadow_check(
                metrics.shadow_window(deployment, start, end),
                agreement_min=pattern["agreement_min"],
                min_cases=pattern["min_cases"],
            )
        )
    result = analyse(
        checks,
        windows,
        window_seconds=(end - start).total_seconds(),
        judged=judged,
        window_start=start,
        window_end=end,
    )
    inputs = {
        "plan": {"id": plan.pk, "version": plan.version, "sha256": plan.content_sha256},
        "criteria": {"id": criteria_version.pk, "version": criteria_version.version}
        if criteria_version
        else None,
        "metrics": [w.as_dict() for w in result.windows],
    }
    return result, inputs


def _store(rollout: Rollout, result, inputs: dict, actor, start, end) -> Analysis:
    # Dated at the window's end: the moment it was judged (a replayed history keeps it).
    body = {
        "rollout": rollout.pk,
        "step": rollout.step,
        "traffic": rollout.traffic,
        "outcome": result.outcome,
        "summary": result.summary,
        "checks": [c.as_dict() for c in result.checks],
        "inputs": inputs,
        "window_start": result.window_start,
        "window_end": result.window_end,
    }
    return Analysis.objects.create(
        rollout=rollout,
        step=rollout.step,
        traffic=rollout.traffic,
        window_start=start,
        window_end=end,
        outcome=result.outcome,
        checks={"summary": result.summary, "checks": body["checks"]},
        inputs=inputs,
        sha256=content_sha256([body]),
        requested_by=actor,
        created_at=end,
    )


def rollout_promote(
    *,
    actor,
    deployment: Deployment,
    reason: str = "",
    step: int | None = None,
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> tuple[Rollout, Analysis]:
    """Analyse the current step's window and, when it passes, move to the next step (or
    finish). A failing or inconclusive analysis is stored and refused (409) with its checks.

    ``step``, when given, is the step the caller means to promote: a promotion that comes
    after another already moved the rollout is refused rather than applied twice."""
    now = now or timezone.now()
    rollout = _active(deployment)
    if step is not None and step != rollout.step:
        raise Conflict(
            f"The rollout is at step {rollout.step + 1} ({rollout.traffic:g} %), not step "
            f"{step + 1}; read it again.",
            code="out_of_order",
        )
    start, end = window_of(rollout, now)
    result, inputs = analysis_of(rollout, start, end)
    seen = (rollout.pk, rollout.step)
    reason = (reason or "").strip()[:2000]

    def decide() -> tuple[Rollout, Analysis]:
        locked = (
            Rollout.objects.select_for_update(no_key=True, of=("self",))
            .select_related("deployment__project", "plan")
            .get(pk=seen[0])
        )
        if locked.status != Rollout.Status.ACTIVE or locked.step != seen[1]:
            raise Conflict(
                "Another promotion, rollback or abort moved this rollout while it was "
                "analysed; read it again.",
                code="moved_meanwhile",
            )
        analysis = _store(locked, result, inputs, actor, start, end)
        if result.outcome != PASS:
            _event(
                "rollout.promotion_refused",
                locked,
                actor,
                token,
                analysis=analysis.pk,
                analysis_sha256=analysis.sha256,
                outcome=result.outcome,
                summary=result.summary,
                reason=reason,
            )
            return locked, analysis
        steps = plan_steps(locked.plan.content)
        verb = "rollout.promoted"
        if locked.step + 1 < len(steps):
            locked.step += 1
            locked.traffic = steps[locked.step].traffic
            action = RolloutMove.Action.PROMOTE
        else:
            verb = "rollout.finished"
            action = RolloutMove.Action.FINISH
            locked.status = Rollout.Status.FINISHED
            locked.finished_at = now
            if locked.pattern == BLUE_GREEN:
                environments = locked.plan.content["pattern"]["environments"]
                locked.live_environment = environments[-1]
                locked.traffic = 100.0
                action = RolloutMove.Action.SWITCH
            elif locked.pattern != SHADOW:
                locked.traffic = 100.0
        locked.step_started_at = now
        locked.updated_at = now
        locked.save(
            update_fields=[
                "step",
                "traffic",
                "status",
                "finished_at",
                "live_environment",
                "step_started_at",
                "updated_at",
            ]
        )
        _move(locked, action, actor, token, reason, analysis, at=now)
        _event(
            verb,
            locked,
            actor,
            token,
            analysis=analysis.pk,
            analysis_sha256=analysis.sha256,
            outcome=result.outcome,
            reason=reason,
        )
        return locked, analysis

    rollout, analysis = retry_atomic(decide)
    if analysis.outcome != PASS:
        raise PromotionRefused(
            f"Not promoted: {result.summary}",
            code="analysis_failed" if analysis.outcome == "fail" else "analysis_inconclusive",
            extra={"analysis": analysis.pk, "checks": analysis.checks["checks"]},
        )
    return rollout, analysis


def _end(
    deployment: Deployment,
    *,
    actor,
    reason: str,
    token: ApiToken | None,
    status: str,
    action: str,
    verb: str,
) -> Rollout:
    rollout = _active(deployment)

    def end() -> Rollout:
        locked = (
            Rollout.objects.select_for_update(no_key=True, of=("self",))
            .select_related("deployment__project", "plan")
            .get(pk=rollout.pk)
        )
        if locked.status != Rollout.Status.ACTIVE:
            raise Conflict(
                f"Rollout {locked.pk} is {locked.get_status_display().lower()} already.",
                code="rollout_ended",
            )
        now = timezone.now()
        environments = locked.plan.content["pattern"].get("environments") or []
        locked.status = status
        # Traffic goes back to the model that served before.
        locked.traffic = 0.0
        locked.live_environment = environments[0] if environments else ""
        locked.finished_at = now
        locked.updated_at = now
        locked.save(
            update_fields=["status", "traffic", "live_environment", "finished_at", "updated_at"]
        )
        _move(locked, action, actor, token, reason)
        _event(verb, locked, actor, token, reason=reason)
        return locked

    return retry_atomic(end)


def rollout_rollback(
    *, actor, deployment: Deployment, reason: str, token: ApiToken | None = None
) -> Rollout:
    """Send all traffic back to the model that served before; the rollout ends."""
    return _end(
        deployment,
        actor=actor,
        reason=_reason(reason, "roll back"),
        token=token,
        status=Rollout.Status.ROLLED_BACK,
        action=RolloutMove.Action.ROLLBACK,
        verb="rollout.rolled_back",
    )


def rollout_abort(
    *, actor, deployment: Deployment, reason: str, token: ApiToken | None = None
) -> Rollout:
    """Stop the rollout where it stands (traffic back to the model before); it ends."""
    return _end(
        deployment,
        actor=actor,
        reason=_reason(reason, "abort the rollout"),
        token=token,
        status=Rollout.Status.ABORTED,
        action=RolloutMove.Action.ABORT,
        verb="rollout.aborted",
    )
