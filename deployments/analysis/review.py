"""Periodic review of a live deployment, and the monitoring checklist it belongs to. No Django.

Model risk policies ask for a live model to be looked at again on a cadence: the monitoring
spec's ``review_cadence_days``. The clock starts when monitoring began, which the caller
reads from the record (deployments/reviews.py: the moment the deployment's rollout first
finished, its model serving all traffic); each review restarts it. The cadence in force is
the current plan's, applied to the last review: shortening it can make a review overdue at
once, lengthening it gives the team more time.

The monitoring checklist is a list of :class:`~projects.analysis.gates.Check`, as a gate is:
one function per check, each judging a :class:`MonitoringState`, listed in
:data:`CHECKS`: the review, drift checks, alerts, and, where the spec watches performance,
the newest judged period within its decay threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from projects.analysis.gates import Check

from .performance import Decay

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """When the next review (or check) is due, and how late it is."""

    due_at: datetime
    overdue: bool
    #: Whole days since it fell due, at least 1 once it is late; 0 when it is not.
    days_overdue: int


def due(*, cadence_days: int, since: datetime, last_at: datetime | None, now: datetime) -> Due:
    """Due ``cadence_days`` after the last one (``last_at``), or after ``since`` when there
    is none yet or the last one is older than ``since``. Due exactly now is not overdue."""
    if cadence_days < 1:
        raise ValueError(f"A cadence is at least one day, not {cadence_days}.")
    start = since if last_at is None else max(since, last_at)
    due_at = start + timedelta(days=cadence_days)
    late = now - due_at
    if late <= timedelta(0):
        return Due(due_at, False, 0)
    return Due(due_at, True, max(1, late // DAY))


def day(moment: datetime) -> str:
    """A moment as its UTC date, the way the checklist's details write it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True)
class MonitoringState:
    """A live deployment as the monitoring checklist judges it (all times aware, any zone)."""

    now: datetime
    #: When monitoring began: the deployment's rollout first finished.
    since: datetime
    review_cadence_days: int
    drift_cadence_days: int
    #: The newest periodic review: when, by whom, its outcome's label.
    last_review_at: datetime | None = None
    last_reviewer: str = ""
    last_outcome: str = ""
    #: The newest drift check that finished, and when.
    last_drift_check_id: int | None = None
    last_drift_check_at: datetime | None = None
    last_drift_check_drifted: bool | None = None
    #: Alerts firing that nobody acknowledged: (rule, fired at), oldest first.
    unacknowledged: tuple[tuple[str, datetime], ...] = ()
    #: Whether the spec watches performance; the newest judged period's verdict and span.
    performance_watched: bool = False
    decay: Decay | None = None
    decay_period: str = ""
    #: Why the newest period could not be judged (no reference with scores, ...).
    performance_error: str = ""

    @property
    def review(self) -> Due:
        return due(
            cadence_days=self.review_cadence_days,
            since=self.since,
            last_at=self.last_review_at,
            now=self.now,
        )

    @property
    def drift(self) -> Due:
        return due(
            cadence_days=self.drift_cadence_days,
            since=self.since,
            last_at=self.last_drift_check_at,
            now=self.now,
        )


def review_check(state: MonitoringState) -> Check:
    name = "Periodic review within its cadence"
    review = state.review
    every = f"every {_days(state.review_cadence_days)}"
    if state.last_review_at is None:
        done = f"No review recorded since monitoring began on {day(state.since)}"
    else:
        outcome = f" ({state.last_outcome})" if state.last_outcome else ""
        reviewer = state.last_reviewer or "someone no longer named"
        done = f"Last reviewed by {reviewer} on {day(state.last_review_at)}{outcome}"
    if review.overdue:
        return Check(
            name,
            False,
            f"{done}; the review was due on {day(review.due_at)} ({every}) and is "
            f"{_days(review.days_overdue)} overdue.",
        )
    return Check(name, True, f"{done}; the next is due by {day(review.due_at)} ({every}).")


def drift_check(state: MonitoringState) -> Check:
    name = "Drift checked within its cadence"
    drift = state.drift
    every = f"every {_days(state.drift_cadence_days)}"
    if state.last_drift_check_at is None:
        done = f"No drift check has finished since monitoring began on {day(state.since)}"
    else:
        verdict = {True: ", drift found", False: ", no drift"}.get(
            state.last_drift_check_drifted, ""
        )
        check = f" {state.last_drift_check_id}" if state.last_drift_check_id else ""
        done = f"Drift check{check} finished on {day(state.last_drift_check_at)}{verdict}"
    if drift.overdue:
        return Check(
            name,
            False,
            f"{done}; the next was due on {day(drift.due_at)} ({every}) and is "
            f"{_days(drift.days_overdue)} overdue: record a production period and check it.",
        )
    return Check(name, True, f"{done}; the next is due by {day(drift.due_at)} ({every}).")


#: Alerts named in a failing detail; the rest are counted.
NAMED_ALERTS = 3


def alert_check(state: MonitoringState) -> Check:
    name = "No alert left unacknowledged"
    if not state.unacknowledged:
        return Check(name, True, "Every alert that fires has someone on it.")
    named = [f"“{rule}” since {day(fired)}" for rule, fired in state.unacknowledged[:NAMED_ALERTS]]
    more = len(state.unacknowledged) - len(named)
    if more:
        named.append(f"{more} more")
    count = len(state.unacknowledged)
    firing = "1 alert fires" if count == 1 else f"{count} alerts fire"
    return Check(
        name, False, f"{firing} with nobody on it: {', '.join(named)}; acknowledge or resolve."
    )


def performance_check(state: MonitoringState) -> Check | None:
    """None when the spec watches no performance."""
    if not state.performance_watched:
        return None
    name = "Performance within its decay threshold"
    found = state.decay
    if found is None and state.performance_error:
        return Check(
            name, False, f"The newest production period cannot be judged: {state.performance_error}"
        )
    if found is None:
        return Check(
            name,
            True,
            "No production period has been judged yet; record one with the model's scores.",
        )
    said = (
        f"{found.basis.capitalize()} {found.metric} {found.value:.3f} for {state.decay_period} "
        f"UTC against the reference's {found.reference:.3f}"
    )
    if found.decayed:
        return Check(
            name,
            False,
            f"{said}: below {found.limit:.3f}, the drop the spec allows; look into it and "
            "consider a new cycle.",
        )
    return Check(name, True, f"{said}: within {found.max_drop:g} of it.")


#: The checklist, in order: add a function of the state here to add a check (None leaves
#: the check out).
CHECKS: tuple[Callable[[MonitoringState], Check | None], ...] = (
    review_check,
    drift_check,
    alert_check,
    performance_check,
)


def monitoring_checklist(state: MonitoringState) -> list[Check]:
    """Every check of a live deployment's monitoring, in the order of :data:`CHECKS`."""
    return [found for check in CHECKS if (found := check(state)) is not None]
