"""Reading a cleaned deployment plan: against the success criteria, for monitoring gaps, for
what changed between two versions, and as rows for a page or a PDF.

Plain Python, no Django. Every function takes plans as :func:`.plan.clean_plan` returns
(and the portal stores) them; :mod:`.plan` re-exports them, so callers import from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from projects.analysis.criteria import target_text

from .catalog import (
    ALL_AT_ONCE,
    BLUE_GREEN,
    CANARY,
    CATALOG,
    KINDS,
    LOCATION_LABELS,
    MODE_LABELS,
    PATTERN_LABELS,
    REALTIME,
    REPLACE_ML,
    SHADOW,
    SYMBOLS,
    TYPE_LABELS,
    criterion_check,
    unit_suffix,
)
from .catalog import number_text as _num

Plan = Mapping[str, Any]
_CEILING, _FLOOR = "<=", ">="


def _rule(name: str, rule: Mapping[str, Any], unit: str) -> str:
    """ "latency_ms p95 ≤ 200 ms" """
    symbol = SYMBOLS[rule["comparator"]]
    return f"{name} {rule['statistic']} {symbol} {_num(rule['threshold'])}{unit_suffix(unit)}"


def _targets(plan: Plan) -> Iterator[tuple[str, str, str, float, str]]:
    """Each target the plan sets: (metric, statistic, ceiling or floor, value, described)."""
    serving = plan["serving"]
    latency = serving.get("latency_ms")
    if latency:
        p95 = latency["p95"]
        yield "latency_ms", "p95", _CEILING, p95, f"The p95 latency target of {_num(p95)} ms"
    if serving["mode"] == REALTIME:
        qps = serving["throughput"]["qps"]
        described = f"The throughput target of {_num(qps)} requests/s"
        yield "throughput_qps", "mean", _FLOOR, qps, described
    for n, check in enumerate(plan["checks"], start=1):
        info = CATALOG.get(check["metric"])
        described = f"The check {_rule(check['metric'], check, info.unit if info else '')}"
        direction = _CEILING if check["comparator"] in ("<=", "<") else _FLOOR
        yield (
            check["metric"],
            check["statistic"],
            direction,
            check["threshold"],
            f"{described} (checks[{n}])",
        )
    for n, metric in enumerate(plan["monitoring"]["metrics"], start=1):
        described = f"The monitoring threshold {_rule(metric['name'], metric, metric['unit'])}"
        direction = _CEILING if metric["comparator"] in ("<=", "<") else _FLOOR
        yield (
            metric["name"],
            metric["statistic"],
            direction,
            metric["threshold"],
            f"{described} (monitoring.metrics[{n}])",
        )


def _bounds(criterion: Mapping[str, Any]) -> list[tuple[str, float]]:
    comparator, target = criterion["comparator"], float(criterion["target"])
    if comparator == "between":
        return [(_FLOOR, target), (_CEILING, float(criterion["target_high"]))]
    return [(comparator, target)] if comparator in (_CEILING, _FLOOR) else []


def plan_against_criteria(plan: Plan, criteria: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each plan target looser than a software success criterion, naming both.

    Only criteria measured in production (source "deployment") count, each through the
    metric and statistic :func:`.catalog.criterion_check` gives it (p95_latency_ms is
    latency_ms's p95, throughput_qps the mean of throughput_qps, error_rate the mean of
    error_rate, memory_mb the max of memory_mb, a custom criterion x the mean of x). A
    plan target is compared only where it means the same thing:

    * the serving p95 latency with the latency criterion (p50 and p99 measure other
      percentiles, so they are not compared with a p95);
    * the real-time serving qps, the load the service must sustain, with a throughput
      floor (a batch plan's rows per run are not a rate);
    * a check or a monitored metric on the same metric and statistic, in the same
      direction (a floor on latency says nothing against a ceiling on it).

    ``serving.compute.memory_mb`` is memory provisioned, not a bound on memory used, so it
    is not compared with a memory_mb criterion; a check or monitored metric on memory_mb
    max is. Looser means a ceiling above the criterion's (or a floor below it); strict and
    inclusive comparators count alike, so "< 200" is not looser than "≤ 200" while
    "< 201" is. A "between" criterion is a floor and a ceiling.
    """
    targets = list(_targets(plan))
    problems = []
    for criterion in criteria:
        measured = criterion_check(criterion)
        if measured is None:
            continue
        agreed = f"{criterion['metric']} {target_text(criterion)}"
        for metric, statistic, direction, value, described in targets:
            if (metric, statistic) != measured:
                continue
            for side, bound in _bounds(criterion):
                if side == direction and (value > bound if side == _CEILING else value < bound):
                    problems.append(f"{described} is looser than the success criterion {agreed}.")
    return problems


def monitoring_gaps(plan: Plan) -> list[str]:
    """The kinds (software, input, output, in that order) no monitored metric watches.

    Drift tests do not fill a gap: they compare production data with the training data
    per column, while a monitored metric is pushed and checked against a threshold.
    """
    watched = {metric["kind"] for metric in plan["monitoring"]["metrics"]}
    return [kind for kind in KINDS if kind not in watched]


# What changed

_Describe = Callable[[Mapping[str, Any]], str]
#: Lists whose items are matched by what they are, not where they stand, and how an item
#: reads when it is added or removed.
_KEYED: dict[str, tuple[Callable[[Mapping[str, Any]], tuple[Any, ...]], _Describe]] = {
    "checks": (
        lambda c: (c["metric"], c["statistic"], c["comparator"]),
        lambda c: _rule(
            c["metric"], c, CATALOG[c["metric"]].unit if c["metric"] in CATALOG else ""
        ),
    ),
    "monitoring.metrics": (
        lambda m: (m["name"], m["statistic"], m["comparator"]),
        lambda m: f"{_rule(m['name'], m, m['unit'])} ({m['kind']}, {m['window_minutes']} min)",
    ),
    "monitoring.drift": (
        lambda d: (d["column"], d["test"]),
        lambda d: f"{d['test']} on {d['column']} (threshold {_num(d['threshold'])})",
    ),
    "monitoring.alerts": (
        lambda a: (a["name"].casefold(),),
        lambda a: f"{a['name']} ({a['severity']} on {_watched(a)})",
    ),
}
MAX_SHOWN = 80


def _watched(alert: Mapping[str, Any]) -> str:
    """What an alert watches: a metric, drift:<column>, or silence for N minutes."""
    if "minutes" in alert:
        return f"{alert['metric']} for {_num(alert['minutes'])} min"
    return alert["metric"]


def _steps_text(steps: Sequence[Mapping[str, Any]], between: str = " → ") -> str:
    return between.join(f"{_num(s['traffic'])} % for {s['window_minutes']} min" for s in steps)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        if not value:
            return "blank"
        return value if len(value) <= MAX_SHOWN else f"{value[: MAX_SHOWN - 1]}…"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_show(item)}" for key, item in value.items()) or "none"
    if value and all(isinstance(item, Mapping) and "traffic" in item for item in value):
        return _steps_text(value, ", ")  # arrows would blur "old → new"
    return ", ".join(_show(item) for item in value) or "none"


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, int | float) and not value)


def _diff(lines: list[str], path: str, old: Any, new: Any) -> None:
    if old == new:
        return
    if path in _KEYED and isinstance(old, list) and isinstance(new, list):
        _diff_keyed(lines, path, old, new)
    elif isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*new, *(key for key in old if key not in new)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                if not _blank(new[key]):
                    lines.append(f"{where}: added {_show(new[key])}")
            elif key not in new:
                if not _blank(old[key]):
                    lines.append(f"{where}: removed {_show(old[key])}")
            else:
                _diff(lines, where, old[key], new[key])
    else:
        lines.append(f"{path}: {_show(old)} → {_show(new)}")


def _diff_keyed(lines: list[str], path: str, old: list[Any], new: list[Any]) -> None:
    identity, describe = _KEYED[path]
    unmatched: dict[tuple[Any, ...], list[int]] = {}
    for o, item in enumerate(old):
        unmatched.setdefault(identity(item), []).append(o)
    order = []
    for n, item in enumerate(new, start=1):
        places = unmatched.get(identity(item))
        if places:
            o = places.pop(0)
            order.append(o)
            _diff(lines, f"{path}[{n}]", old[o], item)
        else:
            lines.append(f"{path}: added {describe(item)}")
    for o in sorted(o for places in unmatched.values() for o in places):
        lines.append(f"{path}: removed {describe(old[o])}")
    if order != sorted(order):
        lines.append(f"{path}: order changed")


def plan_diff(old: Plan, new: Plan) -> list[str]:
    """What changed from ``old`` to ``new``, one line each, in document order.

    A changed value reads "field path: old → new" (``serving.latency_ms.p95: 150 → 200``);
    a field that appears or goes away reads "path: added …" or "path: removed …" (a blank
    one is left out). Checks,
    monitored metrics, drift tests and alerts are matched by what they are (metric,
    statistic and comparator; column and test; alert name), so removing the first check
    does not show every later one as changed; a changed field of a matched item is shown
    at its position in ``new``, counted from 1. Canary steps are matched by position and
    shown as a whole. Long text is cut at 80 characters. Equal plans give an empty list.
    """
    lines: list[str] = []
    _diff(lines, "", old, new)
    return lines


# For display


def _count(number: int, noun: str) -> str:
    """ "1 alert", "3 alerts" """
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _minutes(minutes: int) -> str:
    return _count(minutes, "minute")


def _pattern_rows(pattern: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind = pattern["kind"]
    if kind == CANARY:
        steps = pattern["steps"]
        windows = {step["window_minutes"] for step in steps}
        if len(windows) == 1:
            shares = " → ".join(f"{_num(step['traffic'])} %" for step in steps)
            text = f"{shares}, {_minutes(steps[0]['window_minutes'])} each"
        else:
            text = _steps_text(steps)
        return [("Pattern", "Canary"), ("Steps", text)]
    rows = [("Pattern", PATTERN_LABELS[kind])]
    if kind == BLUE_GREEN:
        first, second = pattern["environments"]
        rows[0] = ("Pattern", f"Blue-green, switching between {first} and {second}")
    elif kind == SHADOW:
        rows.append(
            (
                "Acceptance",
                f"agreement at least {_num(pattern['agreement_min'])} over at least "
                f"{pattern['min_cases']:,} cases",
            )
        )
    elif kind == ALL_AT_ONCE and pattern["reason"]:
        rows.append(("Reason", pattern["reason"]))
    rows.append(("Window", _minutes(pattern["window_minutes"])))
    return rows


def plan_summary(plan: Plan) -> list[tuple[str, str]]:
    """(label, value) rows for a page or a PDF: serving, deployment type, pattern and
    steps, checks and monitoring. Optional parts (logging, security notes, checks,
    Prometheus, people to notify) have a row only when the plan states them."""
    serving = plan["serving"]
    compute = serving["compute"]
    rows = [
        ("Serving", f"{MODE_LABELS[serving['mode']]}, {LOCATION_LABELS[serving['location']]}"),
        (
            "Compute",
            f"{_num(compute['cpu_cores'])} CPU core{'' if compute['cpu_cores'] == 1 else 's'}, "
            f"{_num(compute['memory_mb'])} MB memory, GPU: {compute['gpu'] or 'none'}",
        ),
    ]
    latency = serving["latency_ms"]
    if latency:
        targets = ", ".join(f"{q} {_num(value)} ms" for q, value in latency.items())
        rows.append(("Latency targets", targets))
    throughput = serving["throughput"]
    if serving["mode"] == REALTIME:
        rows.append(("Throughput", f"{_num(throughput['qps'])} requests/s"))
    else:
        rows.append(
            (
                "Batch runs",
                f"{throughput['rows_per_run']:,} rows per run, done within "
                f"{_minutes(throughput['deadline_minutes'])}",
            )
        )
    logging = serving["logging"]
    logged = [logging["what"]] if logging["what"] else []
    if logging["retention_days"] is not None:
        logged.append(f"kept {_count(logging['retention_days'], 'day')}")
    if logging["personal_data"]:
        logged.append(f"personal data: {logging['personal_data']}")
    if logged:
        rows.append(("Logging", "; ".join(logged)))
    if serving["security_notes"]:
        rows.append(("Security", serving["security_notes"]))
    kind = plan["deployment_type"]["kind"]
    label = TYPE_LABELS[kind]
    if kind == REPLACE_ML:
        label = f"{label}: {plan['deployment_type']['replaces']}"
    rows.append(("Deployment type", label))
    rows.extend(_pattern_rows(plan["pattern"]))
    if plan["checks"]:
        rows.append(("Checks", "; ".join(_KEYED["checks"][1](c) for c in plan["checks"])))
    if plan["prometheus"]:
        queries = ", ".join(plan["prometheus"]["queries"])
        rows.append(("Prometheus", f"{plan['prometheus']['url']} ({queries})"))
    monitoring = plan["monitoring"]
    watched = [kind for kind in KINDS if kind not in monitoring_gaps(plan)]
    parts = [
        _count(len(monitoring["metrics"]), "metric")
        + (f" ({', '.join(watched)})" if watched else ""),
        _count(len(monitoring["drift"]), "drift test"),
        _count(len(monitoring["alerts"]), "alert"),
        f"reviewed every {_count(monitoring['review_cadence_days'], 'day')}",
    ]
    rows.append(("Monitoring", "; ".join(parts)))
    if monitoring["notify"]:
        rows.append(("Notify", ", ".join(monitoring["notify"])))
    return rows
