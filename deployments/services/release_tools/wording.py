"""How a rollout's position and end are said to a release tool, in its answers."""

from __future__ import annotations

from deployments.models import Rollout
from deployments.services.rollouts import plan_steps


def where(rollout: Rollout) -> str:
    """``step 2 of 5 (5 %)``."""
    steps = plan_steps(rollout.plan.content)
    return f"step {rollout.step + 1} of {len(steps)} ({rollout.traffic:g} %)"


def end_reason(rollout: Rollout) -> str:
    """Why the rollout stands where it does: its last move's reason."""
    move = rollout.moves.order_by("-created_at", "-pk").first()
    reason = move.reason if move is not None and move.reason else "no reason given"
    return f"its last move: {reason}"
