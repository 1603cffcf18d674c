"""The monitoring spec's metric and silence alerts, decided: fire, resolve or keep as is.

Pure computation, no Django. :func:`metric_rules` reads a cleaned monitoring spec (see
:mod:`.plan_monitoring`) into one :class:`MetricRule` per alert on a monitored metric, each
with the checks of that metric's entries (a metric may be monitored by several statistics)
and their windows; the service gathers each window's statistics and :func:`.window.judge`
judges them, so the numbers are the rollout analysis's, never a second implementation.
:func:`metric_decision` turns the judged checks into a :class:`Decision`;
:func:`silence_decision` decides a ``silence`` alert from the points of its last minutes.

A rule fires when any of its checks fails on data, and resolves when every check passes;
an inconclusive check (fewer points than ``min_points``, a source that failed) changes
nothing: missing evidence neither fires an alert nor clears one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .plan_monitoring import SILENCE
from .window import FAIL, INCONCLUSIVE, PASS, CheckResult, CheckSpec

FIRE, RESOLVE, KEEP = "fire", "resolve", "keep"


def rule_key(name: str) -> str:
    """What makes two firings of a spec's alert the same alert (as for drift alerts)."""
    return f"spec:{name}"


@dataclass(frozen=True)
class Watched:
    """One monitored-metric entry an alert watches: its check and its window."""

    check: CheckSpec
    window_minutes: int


@dataclass(frozen=True)
class MetricRule:
    name: str
    severity: str
    metric: str
    watched: tuple[Watched, ...]

    @property
    def key(self) -> str:
        return rule_key(self.name)


@dataclass(frozen=True)
class SilenceRule:
    name: str
    severity: str
    minutes: int

    @property
    def key(self) -> str:
        return rule_key(self.name)


@dataclass(frozen=True)
class Decision:
    action: str  # fire / resolve / keep
    #: The alert's summary when it fires, the reason when it resolves, why it stays else.
    text: str
    details: Mapping[str, Any]


def metric_rules(monitoring: Mapping[str, Any]) -> list[MetricRule]:
    """The alerts on monitored metrics, each with the checks of every entry of its metric."""
    entries: dict[str, list[Watched]] = {}
    for m in monitoring.get("metrics") or []:
        check = CheckSpec(
            name=f"{m['name']} {m['statistic']}",
            metric=m["name"],
            statistic=m["statistic"],
            comparator=m["comparator"],
            threshold=m["threshold"],
            unit=m.get("unit", ""),
            min_points=m["min_points"],
            origin=f"monitoring: {m['name']}",
        )
        entries.setdefault(m["name"], []).append(Watched(check, m["window_minutes"]))
    return [
        MetricRule(a["name"], a["severity"], a["metric"], tuple(entries[a["metric"]]))
        for a in monitoring.get("alerts") or []
        if a["metric"] in entries
    ]


def silence_rules(monitoring: Mapping[str, Any]) -> list[SilenceRule]:
    return [
        SilenceRule(a["name"], a["severity"], a["minutes"])
        for a in monitoring.get("alerts") or []
        if a["metric"] == SILENCE
    ]


def _judged(result: CheckResult, window_minutes: int) -> dict[str, Any]:
    return {
        "check": result.name,
        "statistic": result.statistic,
        "comparator": result.comparator,
        "threshold": result.threshold,
        "observed": result.observed,
        "points": result.count,
        "window_minutes": window_minutes,
        "status": result.status,
        "reason": result.reason,
    }


def metric_decision(rule: MetricRule, results: Sequence[CheckResult], *, is_open: bool) -> Decision:
    """Fire when a check fails, resolve an open alert when every check passes, else keep.

    ``results`` are the rule's checks judged, in the order of ``rule.watched``."""
    if len(results) != len(rule.watched):
        raise ValueError(f"{rule.name}: judge each of its {len(rule.watched)} checks once.")
    judged = [_judged(r, w.window_minutes) for r, w in zip(results, rule.watched, strict=True)]
    failed = [j for j in judged if j["status"] == FAIL]
    details = {"metric": rule.metric, "checks": judged}
    if failed:
        first = failed[0]
        # The first failing check's numbers are the alert's headline (shown and sent).
        details = {**details, "observed": first["observed"], "points": first["points"]}
        return Decision(FIRE, _in_window(failed), details)
    if all(j["status"] == PASS for j in judged):
        if is_open:
            return Decision(RESOLVE, f"Holds again: {_in_window(judged)}", details)
        return Decision(KEEP, _in_window(judged), details)
    unsure = [j for j in judged if j["status"] == INCONCLUSIVE]
    return Decision(KEEP, _in_window(unsure), details)


def _in_window(judged: Sequence[Mapping[str, Any]]) -> str:
    """Each check's reason with its window: "… over 30 points in the last 60 minutes."."""
    parts = []
    for j in judged:
        minutes = j["window_minutes"]
        span = f"in the last {minutes} minute{'' if minutes == 1 else 's'}"
        parts.append(f"{j['reason'].rstrip('.')} {span}.")
    return " ".join(parts)


def silence_decision(
    rule: SilenceRule, points: int, last_point_at: datetime | None, *, is_open: bool
) -> Decision:
    """Fire when no point at all arrived in the rule's last ``minutes``; resolve an open
    alert once points arrive. ``last_point_at``: the newest point before the window, if
    known, for the summary."""
    minutes = f"{rule.minutes:,} minute{'' if rule.minutes == 1 else 's'}"
    details = {"minutes": rule.minutes, "points": points}
    if points:
        text = f"{points:,} point{'' if points == 1 else 's'} in the last {minutes}."
        if is_open:
            return Decision(RESOLVE, f"Reporting again: {text}", details)
        return Decision(KEEP, text, details)
    since = (
        f" The last one arrived at {last_point_at:%Y-%m-%d %H:%M:%S} UTC."
        if last_point_at is not None
        else " None has arrived yet."
    )
    details = {**details, "last_point_at": last_point_at.isoformat() if last_point_at else None}
    text = f"No metric point in the last {minutes}: the model stopped reporting.{since}"
    return Decision(FIRE, text, details)
