"""The monitoring spec's metric and silence alerts decided from judged windows: no
database, the numbers checked against NumPy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from deployments.analysis.alert_rules import (
    FIRE,
    KEEP,
    RESOLVE,
    metric_decision,
    metric_rules,
    silence_decision,
    silence_rules,
)
from deployments.analysis.window import MetricWindow, judge, window_stats

MONITORING = {
    "metrics": [
        {
            "name": "latency_ms",
            "kind": "software",
            "unit": "ms",
            "statistic": "p95",
            "comparator": "<=",
            "threshold": 150.0,
            "window_minutes": 10,
            "min_points": 20,
        },
        {
            "name": "latency_ms",
            "kind": "software",
            "unit": "ms",
            "statistic": "mean",
            "comparator": "<=",
            "threshold": 100.0,
            "window_minutes": 30,
            "min_points": 1,
        },
    ],
    "alerts": [
        {"name": "Slow", "metric": "latency_ms", "severity": "page"},
        {"name": "Income drift", "metric": "drift:income", "severity": "ticket"},
        {"name": "Quiet", "metric": "silence", "minutes": 15, "severity": "page"},
    ],
}


def decide(values_by_window, is_open=False):
    (rule,) = metric_rules(MONITORING)
    results = [
        judge(
            w.check,
            MetricWindow("latency_ms", window_stats(values), "pushed"),
            window_seconds=w.window_minutes * 60,
        )
        for w, values in zip(rule.watched, values_by_window, strict=True)
    ]
    return metric_decision(rule, results, is_open=is_open)


def test_it_reads_one_rule_per_metric_alert_with_every_entry_of_its_metric():
    (rule,) = metric_rules(MONITORING)
    assert (rule.name, rule.key, rule.severity) == ("Slow", "spec:Slow", "page")
    assert [(w.check.statistic, w.window_minutes) for w in rule.watched] == [
        ("p95", 10),
        ("mean", 30),
    ]
    (quiet,) = silence_rules(MONITORING)
    assert (quiet.key, quiet.minutes) == ("spec:Quiet", 15)


def test_it_fires_on_any_failing_check_with_numpys_value():
    values = np.random.default_rng(3).normal(140, 20, 50)
    decision = decide([values, [50.0]])
    assert decision.action == FIRE
    assert decision.details["observed"] == np.percentile(values, 95)
    assert decision.details["points"] == 50
    assert decision.text.endswith("over 50 points in the last 10 minutes.")


def test_it_resolves_an_open_alert_only_when_every_check_passes():
    assert decide([[60.0] * 20, [60.0]], is_open=True).action == RESOLVE
    assert decide([[60.0] * 20, [60.0]], is_open=False).action == KEEP
    # The mean misses: still firing.
    assert decide([[60.0] * 20, [160.0]], is_open=True).action == FIRE


def test_too_few_points_neither_fire_nor_resolve():
    few = decide([[900.0] * 19, [60.0]], is_open=True)
    assert few.action == KEEP and "fewer than the 20 required" in few.text


@pytest.mark.parametrize(
    ("points", "is_open", "action"),
    [(0, False, FIRE), (0, True, FIRE), (3, True, RESOLVE), (3, False, KEEP)],
)
def test_silence_fires_without_points_and_resolves_when_they_arrive(points, is_open, action):
    (rule,) = silence_rules(MONITORING)
    last = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert silence_decision(rule, points, last, is_open=is_open).action == action
