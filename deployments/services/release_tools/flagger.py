"""Flagger's webhooks driving a rollout.

Flagger walks its canary by its own loop (one iteration per analysis interval) and asks
Stagegate at fixed points; the payload never says where the canary's weight stands. So
Stagegate's rollout step is the authority, and Flagger follows it one step at a time:

* ``confirm-rollout`` starts the rollout from the signed plan (or finds it under way).
* ``pre-rollout`` (before any traffic) passes while that rollout waits for Flagger's first
  weight.
* ``confirm-traffic-increase`` (before each weight increase; a refusal holds the canary
  and counts no failure) is the only hook that moves the rollout. Its first 200 lets
  Flagger onto the rollout's first step. Later ones promote through ``rollout_promote``
  when the step's window has closed and its analysis passes (stored, and an event), and
  the 200 lets Flagger onto the next step. Which step Flagger was let onto is the
  ``flagger_step`` of the 200 answers on the trail.
* ``rollout`` (every iteration; refusals count toward Flagger's failure threshold) fails
  when the newest analysis of the current step failed or the rollout was ended here.
* ``confirm-promotion`` finishes the rollout at its last step (an analysis that passes)
  and then asks the gate into monitoring, without the approval pack, which is rendered
  for the go-live state afterwards.
* ``rollback`` answers 200, which makes Flagger roll back, only when a person rolled back
  or aborted this canary's rollout here.
* ``post-rollout`` records Flagger's end: ``Failed`` rolls the rollout back with Flagger's
  reason; ``Succeeded`` finds it finished.
* ``event`` is recorded and changes nothing.

Every call goes on the project's trail as a ``flagger.<hook>`` event with the canary, its
phase and checksum, and the answer. The token Flagger carries in ``metadata`` never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployments import selectors
from deployments.analysis.gates import DeploymentState, rollout_check, software_check
from deployments.analysis.window import FAIL
from deployments.models import Deployment, Rollout
from deployments.services.release_tools.wording import end_reason, where
from deployments.services.rollouts import (
    plan_steps,
    rollout_promote,
    rollout_rollback,
    rollout_start,
)
from portal.exceptions import ApplicationError
from projects import selectors as project_selectors
from projects.analysis.gates import MONITORING
from projects.models import Event
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

CONFIRM_ROLLOUT = "confirm-rollout"
PRE_ROLLOUT = "pre-rollout"
ROLLOUT = "rollout"
CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
CONFIRM_PROMOTION = "confirm-promotion"
POST_ROLLOUT = "post-rollout"
ROLLBACK = "rollback"
EVENT = "event"
HOOKS = (
    CONFIRM_ROLLOUT,
    PRE_ROLLOUT,
    ROLLOUT,
    CONFIRM_TRAFFIC_INCREASE,
    CONFIRM_PROMOTION,
    POST_ROLLOUT,
    ROLLBACK,
    EVENT,
)
#: The phases Flagger reports to post-rollout.
SUCCEEDED, FAILED = "Succeeded", "Failed"

OK, REFUSED = 200, 409
DETAIL_ON_TRAIL = 500


@dataclass(frozen=True)
class FlaggerCall:
    """One webhook call, as Flagger sends it: the canary, its phase and checksum."""

    hook: str
    name: str
    namespace: str
    phase: str = ""
    checksum: str = ""
    #: The event hook's Kubernetes event.
    event_type: str = ""
    event_message: str = ""

    @property
    def canary(self) -> str:
        return f"{self.namespace}/{self.name}"

    def describe(self) -> str:
        return (
            f"Flagger canary {self.canary} ({self.hook}, phase {self.phase or 'unset'}, "
            f"checksum {self.checksum or 'none'})"
        )


@dataclass(frozen=True)
class HookAnswer:
    """What Stagegate answers Flagger: 200 lets it go on, 409 holds it (or, for the
    rollback hook, asks for no rollback), with a sentence Flagger puts in its events."""

    status: int
    code: str
    detail: str
    rollout: Rollout | None = None
    analysis_id: int | None = None
    checks: list = field(default_factory=list)
    #: Kept on the trail with the call (``flagger_step``: the step Flagger was let onto).
    record: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == OK


def _yes(code: str, detail: str, rollout: Rollout | None = None, **kwargs) -> HookAnswer:
    return HookAnswer(OK, code, detail, rollout, **kwargs)


def _no(code: str, detail: str, rollout: Rollout | None = None, **kwargs) -> HookAnswer:
    return HookAnswer(REFUSED, code, detail, rollout, **kwargs)


def _refusal(error: ApplicationError, rollout: Rollout | None) -> HookAnswer:
    """A service's refusal (409 mostly) as Flagger's answer, checks included."""
    extra = error.extra or {}
    return HookAnswer(
        error.status if error.status >= 400 else REFUSED,
        error.code,
        error.detail,
        rollout,
        analysis_id=extra.get("analysis"),
        checks=list(extra.get("checks") or []),
    )


# --- What Flagger has been told, from the trail ---------------------------------------


def _flagger_events(rollout: Rollout):
    return Event.objects.filter(
        project_id=rollout.deployment.project_id,
        target_type=Rollout._meta.label_lower,
        target_id=str(rollout.pk),
        verb__startswith="flagger.",
    )


def _bound_checksum(rollout: Rollout) -> str:
    """The checksum of the canary revision that first called about ``rollout`` ("" when
    none did, or it sent none)."""
    payload = _flagger_events(rollout).order_by("id").values_list("payload", flat=True).first()
    return str((payload or {}).get("checksum") or "")


def flagger_step(rollout: Rollout) -> int | None:
    """The step Flagger was last let onto (None before its first traffic increase)."""
    payload = (
        _flagger_events(rollout)
        .filter(verb=_verb(CONFIRM_TRAFFIC_INCREASE), payload__has_key="flagger_step")
        .order_by("-id")
        .values_list("payload", flat=True)
        .first()
    )
    return int(payload["flagger_step"]) if payload else None


def _other_revision(rollout: Rollout, call: FlaggerCall) -> HookAnswer | None:
    """A refusal when ``rollout`` was driven by another revision of the canary (Flagger's
    checksum changes with the canary's spec and tracked configs)."""
    bound = _bound_checksum(rollout)
    if not (bound and call.checksum and bound != call.checksum):
        return None
    todo = (
        "finish, roll back or abort it in Stagegate first"
        if rollout.status == Rollout.Status.ACTIVE
        else "let confirm-rollout start a rollout for this one"
    )
    return _no(
        "other_revision",
        f"Rollout {rollout.pk} was driven by another revision of the canary (checksum "
        f"{bound}), not {call.checksum}; {todo}.",
        rollout,
    )


def _ended(rollout: Rollout | None) -> HookAnswer:
    if rollout is None:
        return _no("no_rollout", "No rollout of this deployment has started.")
    return _no(
        "rollout_ended",
        f"Rollout {rollout.pk} is {rollout.get_status_display().lower()}; {end_reason(rollout)}",
        rollout,
    )


# --- The hooks --------------------------------------------------------------------------


def _start(deployment: Deployment, call: FlaggerCall, actor, token) -> HookAnswer:
    """Start a rollout from the signed plan, or find the one under way."""
    plan = selectors.plan_current(deployment)
    if plan is None:
        return _no("no_plan", "Write and sign the deployment plan first.")
    summary = project_selectors.signoff_summary(plan)
    if not summary.passed:
        return _no("plan_not_signed", f"Plan v{plan.version} is not signed: {summary.detail}")
    active = selectors.rollout_active(deployment)
    if active is not None:
        return _other_revision(active, call) or _yes(
            "rollout_under_way", f"Rollout {active.pk} is under way at {where(active)}.", active
        )
    try:
        rollout = rollout_start(
            actor=actor,
            deployment=deployment,
            reason=f"Started by {call.describe()}.",
            token=token,
        )
    except ApplicationError as error:
        return _refusal(error, None)
    return _yes(
        "rollout_started",
        f"Rollout {rollout.pk} started from plan v{plan.version} at {where(rollout)}.",
        rollout,
    )


def _confirm_rollout(deployment, call, actor, token) -> HookAnswer:
    return _start(deployment, call, actor, token)


def _pre_rollout(deployment, call, actor, token) -> HookAnswer:
    answer = _start(deployment, call, actor, token)
    if not answer.ok or answer.code == "rollout_started":
        return answer
    rollout = answer.rollout
    moved = flagger_step(rollout)
    if moved is not None:
        return _no(
            "analysis_restarted",
            f"Flagger starts its analysis again, but it already moved rollout {rollout.pk} "
            f"to step {moved + 1}; roll back or abort rollout {rollout.pk} in Stagegate, and "
            "let the next rollout start with the canary.",
            rollout,
        )
    return _yes(
        "rollout_ready",
        f"Rollout {rollout.pk} waits for the canary's first weight, "
        f"{plan_steps(rollout.plan.content)[0].traffic:g} %.",
        rollout,
    )


def _rollout(deployment, call, actor, token) -> HookAnswer:
    newest = selectors.rollout_newest(deployment)
    if newest is None or newest.status in (Rollout.Status.ROLLED_BACK, Rollout.Status.ABORTED):
        return _ended(newest)
    if newest.status == Rollout.Status.FINISHED:
        return _yes("rollout_finished", f"Rollout {newest.pk} finished.", newest)
    latest = newest.analyses.filter(step=newest.step).order_by("-created_at", "-pk").first()
    if latest is not None and latest.outcome == FAIL:
        return _no(
            "analysis_failed",
            f"Analysis {latest.pk} of {where(newest)} failed: {latest.checks['summary']}",
            newest,
            analysis_id=latest.pk,
            checks=latest.checks["checks"],
        )
    return _yes("rollout_healthy", f"Rollout {newest.pk} is at {where(newest)}.", newest)


def _confirm_traffic_increase(deployment, call, actor, token) -> HookAnswer:
    rollout = selectors.rollout_active(deployment)
    if rollout is None:
        newest = selectors.rollout_newest(deployment)
        if newest is not None and newest.status == Rollout.Status.FINISHED:
            return _yes("rollout_finished", f"Rollout {newest.pk} finished.", newest)
        return _ended(newest)
    other = _other_revision(rollout, call)
    if other is not None:
        return other
    moved = flagger_step(rollout)
    step = rollout.step
    if (moved is None and step == 0) or (moved is not None and moved == step - 1):
        # Stagegate's rollout is a step ahead of the canary: let Flagger catch up.
        return _yes(
            "traffic_confirmed",
            f"Move the canary to {rollout.traffic:g} %: rollout {rollout.pk} is at "
            f"{where(rollout)}.",
            rollout,
            record={"flagger_step": step},
        )
    if moved != step:
        return _no(
            "out_of_step",
            f"Rollout {rollout.pk} moved to {where(rollout)} outside Flagger, which "
            + (f"was let onto step {moved + 1}" if moved is not None else "has moved no traffic")
            + "; abort the rollout in Stagegate and start over.",
            rollout,
        )
    try:
        promoted, analysis = rollout_promote(
            actor=actor,
            deployment=deployment,
            reason=f"Promoted by {call.describe()}.",
            step=step,
            token=token,
        )
    except ApplicationError as error:
        return _refusal(error, rollout)
    if promoted.status == Rollout.Status.FINISHED:
        return _yes(
            "rollout_finished",
            f"Analysis {analysis.pk} passed; rollout {promoted.pk} finished.",
            promoted,
            analysis_id=analysis.pk,
        )
    return _yes(
        "traffic_confirmed",
        f"Analysis {analysis.pk} passed; move the canary to {promoted.traffic:g} % "
        f"({where(promoted)}).",
        promoted,
        analysis_id=analysis.pk,
        record={"flagger_step": promoted.step},
    )


def _rollout_checks() -> tuple[str, ...]:
    """The names of the gate's checks that only a finished rollout passes."""
    return (rollout_check(DeploymentState()).name, software_check(DeploymentState()).name)


def _gate_refusal(deployment: Deployment, rollout: Rollout, ignore: tuple[str, ...] = ()):
    result = project_selectors.project_gate(deployment.project, MONITORING, with_pack=False)
    failing = [c for c in result.checks if not c.passed and c.name not in ignore]
    if not failing:
        return None
    return _no(
        "gate_failed",
        "The gate into monitoring does not pass: "
        + "; ".join(f"{c.name}: {c.detail}" for c in failing),
        rollout,
        checks=[{"name": c.name, "passed": c.passed, "detail": c.detail} for c in failing],
    )


def _confirm_promotion(deployment, call, actor, token) -> HookAnswer:
    rollout = selectors.rollout_newest(deployment)
    if rollout is None or rollout.status in (Rollout.Status.ROLLED_BACK, Rollout.Status.ABORTED):
        return _ended(rollout)
    other = _other_revision(rollout, call)
    if other is not None:
        return other
    analysis_id = None
    if rollout.status == Rollout.Status.ACTIVE:
        last = len(plan_steps(rollout.plan.content)) - 1
        if rollout.step != last:
            return _no(
                "not_at_last_step",
                f"Flagger asks to promote while rollout {rollout.pk} is at {where(rollout)}; "
                "give the Canary's stepWeights the plan's traffic shares, in order.",
                rollout,
            )
        # A rollout whose go-live is held anyway is not finished on an analysis that would
        # be stale by the time the rest of the gate passes.
        held = _gate_refusal(deployment, rollout, ignore=_rollout_checks())
        if held is not None:
            return held
        try:
            rollout, analysis = rollout_promote(
                actor=actor,
                deployment=deployment,
                reason=f"Finished by {call.describe()}.",
                step=last,
                token=token,
            )
        except ApplicationError as error:
            return _refusal(error, rollout)
        analysis_id = analysis.pk
    held = _gate_refusal(deployment, rollout)
    if held is not None:
        return held
    return _yes(
        "promotion_confirmed",
        f"Rollout {rollout.pk} finished and the gate into monitoring passes.",
        rollout,
        analysis_id=analysis_id,
    )


def _post_rollout(deployment, call, actor, token) -> HookAnswer:
    newest = selectors.rollout_newest(deployment)
    status = newest.status if newest is not None else None
    if call.phase == SUCCEEDED:
        if status == Rollout.Status.FINISHED:
            return _yes("rollout_finished", f"Rollout {newest.pk} finished.", newest)
        if status == Rollout.Status.ACTIVE:
            return _no(
                "promoted_without_analysis",
                f"Flagger promoted the canary while rollout {newest.pk} is at "
                f"{where(newest)}: the promotion skipped Stagegate's analysis. Add the "
                "confirm-traffic-increase and confirm-promotion hooks.",
                newest,
            )
        return _ended(newest)
    if status == Rollout.Status.ACTIVE:
        try:
            rolled = rollout_rollback(
                actor=actor,
                deployment=deployment,
                reason=f"Rolled back by {call.describe()}.",
                token=token,
            )
        except ApplicationError as error:
            return _refusal(error, newest)
        return _yes("rollout_rolled_back", f"Rollout {rolled.pk} rolled back.", rolled)
    if status == Rollout.Status.FINISHED:
        return _no(
            "finished_but_failed",
            f"Flagger failed the canary after rollout {newest.pk} finished here; if its "
            "traffic went back, record that with a new rollout.",
            newest,
        )
    # Rolled back or aborted here already (which Flagger followed), or none started.
    return _yes(
        "nothing_to_roll_back",
        f"Rollout {newest.pk} is {newest.get_status_display().lower()} already."
        if newest is not None
        else "No rollout of this deployment has started.",
        newest,
    )


def _rollback(deployment, call, actor, token) -> HookAnswer:
    newest = selectors.rollout_newest(deployment)
    if newest is not None and newest.status in (
        Rollout.Status.ROLLED_BACK,
        Rollout.Status.ABORTED,
    ):
        bound = _bound_checksum(newest)
        drove = _flagger_events(newest).exists()
        if drove and not (bound and call.checksum and bound != call.checksum):
            return _yes(
                "roll_back",
                f"Roll back: rollout {newest.pk} was "
                f"{newest.get_status_display().lower()} in Stagegate; {end_reason(newest)}",
                newest,
            )
    where = f"rollout {newest.pk} is {newest.get_status_display().lower()}" if newest else ""
    return _no(
        "no_rollback",
        "Stagegate asks for no rollback" + (f": {where}." if where else "."),
        newest,
    )


def _event(deployment, call, actor, token) -> HookAnswer:
    return _yes("event_recorded", "Recorded.", selectors.rollout_newest(deployment))


_HANDLERS = {
    CONFIRM_ROLLOUT: _confirm_rollout,
    PRE_ROLLOUT: _pre_rollout,
    ROLLOUT: _rollout,
    CONFIRM_TRAFFIC_INCREASE: _confirm_traffic_increase,
    CONFIRM_PROMOTION: _confirm_promotion,
    POST_ROLLOUT: _post_rollout,
    ROLLBACK: _rollback,
    EVENT: _event,
}


def _verb(hook: str) -> str:
    return "flagger." + hook.replace("-", "_")


def flagger_hook(
    *, actor, deployment: Deployment, call: FlaggerCall, token: ApiToken | None = None
) -> HookAnswer:
    """Answer one Flagger webhook call about ``deployment`` and put the call on the trail.

    The answer is 200 or a refusal (409 mostly) with a sentence saying why; what it means
    to Flagger depends on the hook (see the module's docstring)."""
    if call.hook not in _HANDLERS:
        raise ApplicationError(f"Flagger has no {call.hook!r} hook.", code="unknown_hook")
    if call.hook == POST_ROLLOUT and call.phase not in (SUCCEEDED, FAILED):
        raise ApplicationError(
            f"post-rollout reports phase {SUCCEEDED} or {FAILED}, not {call.phase!r}.",
            code="invalid_phase",
        )
    answer = _HANDLERS[call.hook](deployment, call, actor, token)
    rollout = answer.rollout
    payload = {
        "hook": call.hook,
        "canary": call.canary,
        "phase": call.phase,
        "checksum": call.checksum,
        "answer": answer.status,
        "code": answer.code,
        "detail": answer.detail[:DETAIL_ON_TRAIL],
        "deployment": deployment.pk,
        "rollout": rollout.pk if rollout is not None else None,
        "step": rollout.step if rollout is not None else None,
        "traffic": rollout.traffic if rollout is not None else None,
        "analysis": answer.analysis_id,
        **answer.record,
    }
    if call.hook == EVENT:
        payload.update(
            event_type=call.event_type, event_message=call.event_message[:DETAIL_ON_TRAIL]
        )
    event_record(
        actor=actor,
        verb=_verb(call.hook),
        target=rollout if rollout is not None else deployment,
        project=deployment.project,
        token=token,
        payload=payload,
    )
    return answer
