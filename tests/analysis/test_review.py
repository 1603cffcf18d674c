"""Periodic review and the monitoring checklist, as pure functions (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deployments.analysis.performance import Decay
from deployments.analysis.review import (
    CHECKS,
    MonitoringState,
    alert_check,
    drift_check,
    due,
    monitoring_checklist,
    review_check,
)
from projects.analysis.gates import Check

SINCE = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def test_the_first_review_is_due_a_cadence_after_monitoring_began():
    at = due(cadence_days=30, since=SINCE, last_at=None, now=SINCE + 10 * DAY)
    assert at.due_at == SINCE + 30 * DAY
    assert (at.overdue, at.days_overdue) == (False, 0)


def test_exactly_at_the_due_moment_a_review_is_not_overdue():
    at = due(cadence_days=30, since=SINCE, last_at=None, now=SINCE + 30 * DAY)
    assert (at.overdue, at.days_overdue) == (False, 0)


def test_a_second_late_is_one_day_overdue_then_whole_days_count():
    late = [timedelta(seconds=1), DAY, 2 * DAY - timedelta(seconds=1), 2 * DAY, 5 * DAY]
    got = [
        due(cadence_days=30, since=SINCE, last_at=None, now=SINCE + 30 * DAY + t).days_overdue
        for t in late
    ]
    assert got == [1, 1, 1, 2, 5]


def test_a_review_restarts_the_clock():
    reviewed = SINCE + 25 * DAY
    at = due(cadence_days=30, since=SINCE, last_at=reviewed, now=SINCE + 40 * DAY)
    assert at.due_at == reviewed + 30 * DAY and not at.overdue


def test_a_review_older_than_the_start_of_monitoring_does_not_count():
    at = due(cadence_days=14, since=SINCE, last_at=SINCE - 3 * DAY, now=SINCE + 20 * DAY)
    assert at.due_at == SINCE + 14 * DAY
    assert (at.overdue, at.days_overdue) == (True, 6)


def test_the_cadence_in_force_applies_to_the_last_review():
    reviewed, now = SINCE + 10 * DAY, SINCE + 30 * DAY
    # Shortened from 30 to 14 days: the review is overdue at once.
    assert not due(cadence_days=30, since=SINCE, last_at=reviewed, now=now).overdue
    shorter = due(cadence_days=14, since=SINCE, last_at=reviewed, now=now)
    assert (shorter.due_at, shorter.days_overdue) == (reviewed + 14 * DAY, 6)
    # Lengthened: more time.
    assert (
        due(cadence_days=60, since=SINCE, last_at=reviewed, now=now).due_at == reviewed + 60 * DAY
    )


def test_times_in_other_zones_compare_as_moments():
    paris = timezone(timedelta(hours=1))
    at = due(
        cadence_days=1,
        since=SINCE.astimezone(paris),
        last_at=None,
        now=SINCE + DAY + timedelta(minutes=1),
    )
    assert (at.overdue, at.days_overdue) == (True, 1)


def test_a_cadence_under_a_day_is_refused():
    with pytest.raises(ValueError, match="at least one day"):
        due(cadence_days=0, since=SINCE, last_at=None, now=SINCE)


STATE = MonitoringState(
    now=SINCE + 20 * DAY,
    since=SINCE,
    review_cadence_days=14,
    drift_cadence_days=7,
    last_review_at=SINCE + 12 * DAY,
    last_reviewer="search_owner",
    last_outcome="Keep, with actions",
    last_drift_check_id=42,
    last_drift_check_at=SINCE + 16 * DAY,
    last_drift_check_drifted=False,
)


def test_a_deployment_in_order_passes_every_check():
    checks = monitoring_checklist(STATE)
    assert [c.name for c in checks] == [
        "Periodic review within its cadence",
        "Drift checked within its cadence",
        "No alert left unacknowledged",
    ]
    assert all(c.passed for c in checks), checks
    assert checks[0].detail == (
        "Last reviewed by search_owner on 2026-10-13 (Keep, with actions); the next is due "
        "by 2026-10-27 (every 14 days)."
    )
    assert checks[1].detail == (
        "Drift check 42 finished on 2026-10-17, no drift; the next is due by 2026-10-24 "
        "(every 7 days)."
    )


def test_an_overdue_review_fails_naming_who_reviewed_last_when_and_the_due_date():
    check = review_check(replace(STATE, now=SINCE + 30 * DAY))
    assert not check.passed
    assert check.detail == (
        "Last reviewed by search_owner on 2026-10-13 (Keep, with actions); the review was due "
        "on 2026-10-27 (every 14 days) and is 4 days overdue."
    )


def test_without_any_review_the_check_says_none_was_recorded():
    fresh = replace(STATE, last_review_at=None, last_reviewer="", last_outcome="")
    assert review_check(replace(fresh, now=SINCE + 13 * DAY)) == Check(
        "Periodic review within its cadence",
        True,
        "No review recorded since monitoring began on 2026-10-01; the next is due by "
        "2026-10-15 (every 14 days).",
    )
    late = review_check(replace(fresh, now=SINCE + 15 * DAY))
    assert not late.passed
    assert late.detail == (
        "No review recorded since monitoring began on 2026-10-01; the review was due on "
        "2026-10-15 (every 14 days) and is 1 day overdue."
    )


def test_a_drift_check_overdue_or_missing_fails():
    late = drift_check(replace(STATE, now=SINCE + 25 * DAY))
    assert not late.passed and "is 2 days overdue" in late.detail
    never = drift_check(replace(STATE, last_drift_check_at=None, last_drift_check_id=None))
    assert not never.passed
    assert never.detail.startswith(
        "No drift check has finished since monitoring began on 2026-10-01; the next was due "
        "on 2026-10-08 (every 7 days) and is 13 days overdue"
    )
    drifted = drift_check(replace(STATE, last_drift_check_drifted=True))
    assert drifted.passed and "finished on 2026-10-17, drift found;" in drifted.detail


def test_an_alert_firing_without_anyone_on_it_fails_the_checklist():
    firing = tuple((f"Rule {n}", SINCE + n * DAY) for n in range(5))
    assert alert_check(replace(STATE, unacknowledged=firing[:1])).detail == (
        "1 alert fires with nobody on it: “Rule 0” since 2026-10-01; acknowledge or resolve."
    )
    many = alert_check(replace(STATE, unacknowledged=firing))
    assert not many.passed
    assert many.detail == (
        "5 alerts fire with nobody on it: “Rule 0” since 2026-10-01, “Rule 1” since "
        "2026-10-02, “Rule 2” since 2026-10-03, 2 more; acknowledge or resolve."
    )


def test_the_checklist_is_the_checks_in_order():
    names = [c.name for c in monitoring_checklist(STATE)]
    assert names == [
        "Periodic review within its cadence",
        "Drift checked within its cadence",
        "No alert left unacknowledged",
    ]
    assert len(CHECKS) == 4  # the performance check joins when the spec watches it


def _decay(value: float, basis: str = "estimated") -> Decay:
    return Decay("roc_auc", basis, value, reference=0.94, max_drop=0.05)


@pytest.mark.parametrize(
    ("decay", "passed", "words"),
    [
        (None, True, "No production period has been judged yet"),
        (_decay(0.92), True, "Estimated roc_auc 0.920 for w4 UTC against the reference's 0.940"),
        (_decay(0.86), False, "below 0.890, the drop the spec allows"),
        (_decay(0.86, "realized"), False, "Realized roc_auc 0.860"),
        ("no_reference", False, "cannot be judged: no evaluation with scores"),
    ],
)
def test_performance_joins_the_checklist_when_the_spec_watches_it(decay, passed, words):
    error = "no evaluation with scores" if decay == "no_reference" else ""
    decay = None if error else decay
    watched = replace(
        STATE, performance_watched=True, decay=decay, decay_period="w4", performance_error=error
    )
    last = monitoring_checklist(watched)[-1]
    assert last.name == "Performance within its decay threshold"
    assert last.passed is passed and words in last.detail
