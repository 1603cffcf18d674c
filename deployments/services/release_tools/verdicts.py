"""The current step's verdict in one word, for a release tool that reads a JSON field
(Argo Rollouts' ``web`` metric): read as stored, or judged now through ``rollout_promote``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from deployments import selectors
from deployments.analysis.window import PASS
from deployments.models import Analysis, Deployment, Rollout
from deployments.services.release_tools.wording import end_reason, where
from deployments.services.rollouts import PromotionRefused, rollout_promote, window_of
from portal.exceptions import Conflict

if TYPE_CHECKING:
    from projects.models import ApiToken

#: Outcomes besides an analysis's own (pass / fail / inconclusive).
PENDING = "pending"
NO_ROLLOUT = "no_rollout"


@dataclass(frozen=True)
class Verdict:
    """Where a deployment's rollout stands for a tool that reads one word: an analysis's
    outcome, ``pending`` (the step's window is open), ``no_rollout``, or how it ended
    (``rolled_back``, ``aborted``)."""

    outcome: str
    detail: str
    rollout: Rollout | None = None
    analysis: Analysis | None = None


def _verdict_of(rollout: Rollout | None, now: datetime) -> Verdict:
    if rollout is None:
        return Verdict(NO_ROLLOUT, "No rollout of this deployment has started.")
    if rollout.status in (Rollout.Status.ROLLED_BACK, Rollout.Status.ABORTED):
        return Verdict(
            rollout.status,
            f"Rollout {rollout.pk} is {rollout.get_status_display().lower()}; "
            f"{end_reason(rollout)}",
            rollout,
        )
    if rollout.status == Rollout.Status.FINISHED:
        finishing = rollout.analyses.filter(outcome=PASS).order_by("-created_at", "-pk").first()
        return Verdict(PASS, f"Rollout {rollout.pk} finished.", rollout, finishing)
    latest = rollout.analyses.filter(step=rollout.step).order_by("-created_at", "-pk").first()
    if latest is not None:
        return Verdict(
            latest.outcome,
            f"Analysis {latest.pk} of {where(rollout)}: {latest.checks['summary']}",
            rollout,
            latest,
        )
    try:
        window_of(rollout, now)
    except Conflict as error:
        return Verdict(PENDING, error.detail, rollout)
    return Verdict(
        PENDING, f"The window of {where(rollout)} has closed; nothing judged it yet.", rollout
    )


def rollout_verdict(deployment: Deployment, *, now: datetime | None = None) -> Verdict:
    """The newest rollout's current step as stored: the newest analysis of that step, or
    ``pending``. Reads only."""
    return _verdict_of(selectors.rollout_newest(deployment), now or timezone.now())


def rollout_judge(
    *,
    actor,
    deployment: Deployment,
    step: int | None = None,
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Judge the current step's window and promote when it passes (``rollout_promote``),
    answering with the outcome rather than refusing, so a tool reading one word learns
    whether it passed, failed or must wait.

    ``step``, when given, is the step the caller judges: a retry after the rollout moved
    past it answers that step's passing analysis again instead of judging the next one."""
    now = now or timezone.now()
    rollout = selectors.rollout_newest(deployment)
    if rollout is None or rollout.status != Rollout.Status.ACTIVE:
        if step is not None and rollout is not None and rollout.status == Rollout.Status.FINISHED:
            return _passed_step(rollout, step) or _verdict_of(rollout, now)
        return _verdict_of(rollout, now)
    if step is not None and step < rollout.step:
        passed = _passed_step(rollout, step)
        if passed is not None:
            return passed
    if step is not None and step != rollout.step:
        raise Conflict(
            f"Rollout {rollout.pk} is at {where(rollout)}, not step {step + 1}; check the "
            "step the analysis names.",
            code="out_of_order",
        )
    try:
        rollout, analysis = rollout_promote(
            actor=actor,
            deployment=deployment,
            reason="Promoted on the analysis a release tool asked for.",
            step=rollout.step,
            token=token,
            now=now,
        )
    except PromotionRefused as refused:
        analysis = Analysis.objects.get(pk=refused.extra["analysis"])
        return Verdict(analysis.outcome, refused.detail, rollout, analysis)
    except Conflict as error:
        if error.code != "window_open":
            raise
        return Verdict(PENDING, error.detail, rollout)
    return Verdict(
        PASS,
        f"Analysis {analysis.pk} passed; rollout {rollout.pk} is at "
        + (where(rollout) if rollout.status == Rollout.Status.ACTIVE else "its end, finished")
        + ".",
        rollout,
        analysis,
    )


def _passed_step(rollout: Rollout, step: int) -> Verdict | None:
    analysis = (
        rollout.analyses.filter(step=step, outcome=PASS).order_by("-created_at", "-pk").first()
    )
    if analysis is None:
        return None
    return Verdict(
        PASS,
        f"Analysis {analysis.pk} passed step {step + 1} already; rollout {rollout.pk} moved on.",
        rollout,
        analysis,
    )
