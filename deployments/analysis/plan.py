"""A deployment plan: how a model is served, rolled out and watched in production.

Plain data and validation, no Django, in the manner of :mod:`projects.analysis.criteria`.
:func:`clean_plan` checks and normalises a plan document (the JSON a plan version
stores) and raises :class:`PlanError` with one sentence that names the field and says
what to do; :func:`canonical` and :func:`content_sha256` (the criteria module's) give the
bytes and the fingerprint a sign-off is bound to. :func:`default_plan` is a starting
point. Reading a cleaned plan for pages, gates and packs lives in
:mod:`deployments.analysis.plan_review` and is re-exported here.

Field paths in messages are dotted, with list positions counted from 1 as people count
them: ``pattern.steps[2].traffic`` is the second step's traffic.

Normalisation, so that one meaning is one set of bytes: text is stripped; measured
quantities (latencies, throughput, compute, traffic shares, agreement, thresholds) become
floats and counts (minutes, days, rows, cases, points) ints; numeric strings from forms
("150") are accepted; NaN, infinities and booleans are not numbers. Left-out optional
fields are filled in: a canary without steps gets 1, 5, 25, 50 and 100 % with 30 minutes
each, a blue-green rollout the environments blue and green, a window 30 minutes (60 for a
monitored metric), min_points 1, a review every 30 days. A field that does not apply (a
qps on batch serving, steps on a shadow rollout) is refused, not dropped, so nothing a
person typed disappears silently.

``prometheus.url`` is checked for its form only (http or https, a host, no credentials);
which hosts the portal may query is the fetching code's decision, not the plan's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from projects.analysis.criteria import canonical, content_sha256

from .catalog import (
    ALL_AT_ONCE,
    BATCH,
    BLUE_GREEN,
    CANARY,
    DEPLOYMENT_TYPES,
    LOCATIONS,
    MODES,
    NEW_CAPABILITY,
    PATTERNS,
    PERCENTILES,
    REALTIME,
    REPLACE_ML,
    SHADOW,
    number_text,
)
from .plan_fields import (
    DEFAULT_WINDOW,
    MAX_COUNT,
    MAX_SHORT,
    PlanError,
    absent,
    fail,
    read_choice,
    read_list,
    read_mapping,
    read_number,
    read_positive,
    read_text,
    read_whole,
    read_window,
    share_hint,
    shown,
)
from .plan_monitoring import DEFAULT_REVIEW_DAYS, clean_checks, clean_monitoring, clean_prometheus
from .plan_review import monitoring_gaps, plan_against_criteria, plan_diff, plan_summary

__all__ = [
    "PlanError",
    "canonical",
    "clean_plan",
    "content_sha256",
    "default_plan",
    "monitoring_gaps",
    "plan_against_criteria",
    "plan_diff",
    "plan_summary",
]

FIELDS = ("serving", "deployment_type", "pattern", "checks", "prometheus", "monitoring")
SERVING_FIELDS = (
    "mode",
    "location",
    "compute",
    "latency_ms",
    "throughput",
    "logging",
    "security_notes",
)
PATTERN_FIELDS = {
    CANARY: ("kind", "steps"),
    BLUE_GREEN: ("kind", "environments", "window_minutes"),
    SHADOW: ("kind", "agreement_min", "min_cases", "window_minutes"),
    ALL_AT_ONCE: ("kind", "reason", "window_minutes"),
}
MAX_NAME = 60  # an environment
MAX_STEPS = 10
MAX_DEADLINE = 7 * 1440
MAX_RETENTION_DAYS = 10 * 365
DEFAULT_STEPS = (1, 5, 25, 50, 100)
DEFAULT_ENVIRONMENTS = ("blue", "green")


# The sections, in document order


def clean_plan(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A checked, normalised plan; PlanError names the first problem and its field."""
    raw = read_mapping(raw, "plan", FIELDS, "a deployment plan")
    serving = _serving(raw.get("serving"))
    return {
        "serving": serving,
        "deployment_type": _deployment_type(raw.get("deployment_type")),
        "pattern": _pattern(raw.get("pattern"), serving["mode"]),
        "checks": clean_checks(raw.get("checks")),
        "prometheus": clean_prometheus(raw.get("prometheus")),
        "monitoring": clean_monitoring(raw.get("monitoring")),
    }


def _serving(raw: Any) -> dict[str, Any]:
    raw = read_mapping(raw, "serving", SERVING_FIELDS, "the serving requirements")
    mode = read_choice(raw.get("mode"), "serving.mode", MODES, "a serving mode")
    return {
        "mode": mode,
        "location": read_choice(raw.get("location"), "serving.location", LOCATIONS, "a location"),
        "compute": _compute(raw.get("compute")),
        "latency_ms": _latency(raw.get("latency_ms"), mode),
        "throughput": _throughput(raw.get("throughput"), mode),
        "logging": _logging(raw.get("logging")),
        "security_notes": read_text(
            raw.get("security_notes"), "serving.security_notes", "the security notes"
        ),
    }


def _compute(raw: Any) -> dict[str, Any]:
    path = "serving.compute"
    raw = read_mapping(raw, path, ("cpu_cores", "gpu", "memory_mb"), "the compute")
    cores = read_positive(raw.get("cpu_cores"), f"{path}.cpu_cores", "the number of CPU cores")
    gpu = read_text(raw.get("gpu"), f"{path}.gpu", "the GPU", limit=MAX_SHORT)
    memory = read_positive(raw.get("memory_mb"), f"{path}.memory_mb", "the memory in MB", " MB")
    return {"cpu_cores": cores, "gpu": gpu, "memory_mb": memory}


def _latency(raw: Any, mode: str) -> dict[str, float] | None:
    path = "serving.latency_ms"
    if absent(raw):
        if mode == BATCH:
            return None
        fail(path, "real-time serving needs latency targets; give p50, p95 and p99 in ms.")
    raw = read_mapping(raw, path, PERCENTILES, "the latency targets")
    if mode == BATCH and all(absent(raw.get(q)) for q in PERCENTILES):
        return None
    targets = {
        q: read_positive(raw.get(q), f"{path}.{q}", f"the {q} latency target", " ms")
        for q in PERCENTILES
    }
    for low, high in itertools.pairwise(PERCENTILES):
        if targets[high] < targets[low]:
            fail(
                path,
                f"the {high} target ({number_text(targets[high])} ms) is below the {low} target "
                f"({number_text(targets[low])} ms).",
            )
    return targets


def _throughput(raw: Any, mode: str) -> dict[str, Any]:
    path = "serving.throughput"
    if mode == REALTIME:
        raw = read_mapping(raw, path, ("qps",), "real-time throughput")
        qps = read_number(raw.get("qps"), f"{path}.qps", "the throughput in requests per second")
        if qps < 0:
            fail(
                f"{path}.qps", f"the throughput cannot be negative ({number_text(qps)} requests/s)."
            )
        return {"qps": qps}
    raw = read_mapping(raw, path, ("rows_per_run", "deadline_minutes"), "batch throughput")
    rows = read_whole(
        raw.get("rows_per_run"), f"{path}.rows_per_run", "the rows per run", 1, MAX_COUNT
    )
    deadline = read_whole(
        raw.get("deadline_minutes"),
        f"{path}.deadline_minutes",
        "the deadline",
        1,
        MAX_DEADLINE,
        " minutes",
    )
    return {"rows_per_run": rows, "deadline_minutes": deadline}


def _logging(raw: Any) -> dict[str, Any]:
    path = "serving.logging"
    raw = read_mapping(
        {} if raw is None else raw, path, ("what", "retention_days", "personal_data"), "the logging"
    )
    days = raw.get("retention_days")
    if not absent(days):
        days = read_whole(
            days, f"{path}.retention_days", "the retention", 0, MAX_RETENTION_DAYS, " days"
        )
    return {
        "what": read_text(raw.get("what"), f"{path}.what", "what is logged"),
        "retention_days": None if absent(days) else days,
        "personal_data": read_text(
            raw.get("personal_data"), f"{path}.personal_data", "the note on personal data"
        ),
    }


def _deployment_type(raw: Any) -> dict[str, Any]:
    path = "deployment_type"
    raw = read_mapping(raw, path, ("kind", "replaces"), "the deployment type")
    kind = read_choice(raw.get("kind"), f"{path}.kind", DEPLOYMENT_TYPES, "a deployment type")
    if kind != REPLACE_ML:
        if not absent(raw.get("replaces")):
            fail(
                f"{path}.replaces",
                "only a replace_ml deployment replaces an earlier system; clear this field or "
                "choose replace_ml.",
            )
        return {"kind": kind}
    replaces = read_text(
        raw.get("replaces"),
        f"{path}.replaces",
        "the name of the system this model replaces",
        required=True,
        limit=MAX_SHORT,
    )
    return {"kind": kind, "replaces": replaces}


def _pattern(raw: Any, mode: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        fail(
            "pattern",
            f"give the rollout pattern as a mapping with its kind ({', '.join(PATTERNS)}).",
        )
    kind = read_choice(raw.get("kind"), "pattern.kind", PATTERNS, "a rollout pattern")
    raw = read_mapping(raw, "pattern", PATTERN_FIELDS[kind], f"a {kind} rollout")
    if kind == CANARY:
        return {"kind": kind, "steps": _steps(raw.get("steps"))}
    window = read_window(raw.get("window_minutes"), "pattern.window_minutes")
    if kind == BLUE_GREEN:
        environments = _environments(raw.get("environments"))
        return {"kind": kind, "environments": environments, "window_minutes": window}
    if kind == SHADOW:
        path = "pattern.agreement_min"
        agreement = read_number(raw.get("agreement_min"), path, "the minimum agreement")
        if not 0 < agreement <= 1:
            fail(
                path,
                "the minimum agreement is a share above 0 and at most 1, not "
                f"{number_text(agreement)}{share_hint(agreement)}.",
            )
        cases = read_whole(
            raw.get("min_cases"), "pattern.min_cases", "the minimum number of cases", 1, MAX_COUNT
        )
        return {
            "kind": kind,
            "agreement_min": agreement,
            "min_cases": cases,
            "window_minutes": window,
        }
    reason = read_text(raw.get("reason"), "pattern.reason", "the reason")
    if mode == REALTIME and not reason:
        fail(
            "pattern.reason",
            "releasing a real-time model to all traffic at once needs a reason (why not canary, "
            "blue-green or shadow); write it, or choose another pattern.",
        )
    return {"kind": kind, "reason": reason, "window_minutes": window}


def _steps(raw: Any) -> list[dict[str, Any]]:
    path = "pattern.steps"
    if raw is None or (isinstance(raw, list | tuple) and not raw):
        return [{"traffic": float(t), "window_minutes": DEFAULT_WINDOW} for t in DEFAULT_STEPS]
    steps: list[dict[str, Any]] = []
    for n, item in enumerate(read_list(raw, path, "steps", MAX_STEPS), start=1):
        where = f"{path}[{n}]"
        item = read_mapping(item, where, ("traffic", "window_minutes"), "a step")
        traffic = read_number(item.get("traffic"), f"{where}.traffic", "the share of traffic in %")
        if not 0 < traffic <= 100:
            fail(
                f"{where}.traffic",
                "the share of traffic is a percentage above 0 and at most 100, not "
                f"{number_text(traffic)}.",
            )
        if steps and traffic <= steps[-1]["traffic"]:
            before = number_text(steps[-1]["traffic"])
            fail(
                f"{where}.traffic",
                "each step sends more traffic than the one before; "
                f"{number_text(traffic)} % does not rise above {before} %.",
            )
        window = read_window(item.get("window_minutes"), f"{where}.window_minutes")
        steps.append({"traffic": traffic, "window_minutes": window})
    if steps[-1]["traffic"] != 100:
        last = number_text(steps[-1]["traffic"])
        fail(path, f"the last step must send all traffic (100 %), not {last} %; add a step at 100.")
    return steps


def _environments(raw: Any) -> list[str]:
    path = "pattern.environments"
    if raw is None or (isinstance(raw, list | tuple) and not raw):
        return list(DEFAULT_ENVIRONMENTS)
    items = read_list(raw, path, "environments")
    if len(items) != 2:
        fail(
            path, f"name exactly two environments (e.g. blue, green); this plan names {len(items)}."
        )
    first = read_text(
        items[0], f"{path}[1]", "the first environment", required=True, limit=MAX_NAME
    )
    second = read_text(
        items[1], f"{path}[2]", "the second environment", required=True, limit=MAX_NAME
    )
    if first.casefold() == second.casefold():
        fail(f"{path}[2]", f"both environments are named {first}; give them different names.")
    return [first, second]


def default_plan(mode: str = REALTIME) -> dict[str, Any]:
    """A cleaned starting plan for ``mode``: small compute, a canary rollout for real-time
    serving (all at once for batch), and one monitored metric of each kind."""
    if mode not in MODES:
        raise PlanError(
            f"serving.mode: {shown(mode)} is not a serving mode; choose one of {', '.join(MODES)}."
        )
    realtime = mode == REALTIME
    pattern = {"kind": CANARY} if realtime else {"kind": ALL_AT_ONCE, "window_minutes": 60}
    software = (
        {"name": "latency_ms", "comparator": "<=", "threshold": 200}
        if realtime
        else {"name": "memory_mb", "comparator": "<=", "threshold": 2048}
    )
    return clean_plan(
        {
            "serving": {
                "mode": mode,
                "location": "cloud",
                "compute": {"cpu_cores": 2, "gpu": "", "memory_mb": 2048},
                "latency_ms": {"p50": 50, "p95": 200, "p99": 400} if realtime else None,
                "throughput": (
                    {"qps": 10} if realtime else {"rows_per_run": 100_000, "deadline_minutes": 60}
                ),
                "logging": {
                    "what": "Inputs, predictions, model version and response times",
                    "retention_days": 90,
                    "personal_data": "",
                },
            },
            "deployment_type": {"kind": NEW_CAPABILITY},
            "pattern": pattern,
            "monitoring": {
                "metrics": [
                    software,
                    {"name": "missing_value_rate", "comparator": "<=", "threshold": 0.05},
                    {"name": "null_output_rate", "comparator": "<=", "threshold": 0.01},
                ],
                "alerts": [
                    {
                        "name": f"{software['name']} above target",
                        "metric": software["name"],
                        "severity": "ticket",
                    }
                ],
                "review_cadence_days": DEFAULT_REVIEW_DAYS,
            },
        }
    )
