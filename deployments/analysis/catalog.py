"""The vocabulary of a deployment plan: its metrics, choices and how they read.

Plain data, no Django. Pushed points and Prometheus series are named after a metric of
:data:`CATALOG` or a custom metric (:data:`CUSTOM_NAME`); a check or a monitoring rule
compares one :data:`STATISTICS` of a window's values with a threshold by one of
:data:`COMPARATORS`. :func:`criterion_check` says which metric and statistic measure a
success criterion that is met in production (source "deployment"). The plan's other
choices (serving modes, locations, deployment types, rollout patterns, severities) and
their labels are here too, so that checking a plan (:mod:`.plan`) and reading one
(:mod:`.plan_review`) share one vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SOFTWARE, INPUT, OUTPUT = "software", "input", "output"
#: What a monitored metric watches: the service, the data coming in, the predictions going out.
KINDS = (SOFTWARE, INPUT, OUTPUT)

COMPARATORS = ("<=", ">=", "<", ">")
SYMBOLS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}
#: Over a window's values. Percentiles are numpy's default (linear interpolation), which
#: equals PostgreSQL's percentile_cont; "rate" is the sum divided by the window's seconds.
STATISTICS = ("p50", "p95", "p99", "mean", "max", "min", "sum", "count", "rate")
#: Statistics of the values themselves: a share's p95 is a share, its count is not.
VALUE_STATISTICS = ("p50", "p95", "p99", "mean", "max", "min")
DRIFT_TESTS = ("psi", "ks", "chi2", "wasserstein", "jensen_shannon")
#: The metrics a production period's performance is estimated and realized in.
PERFORMANCE_METRICS = ("roc_auc", "accuracy", "precision", "recall", "specificity", "f1")

MAX_NAME = 60
#: A custom metric: lowercase snake_case starting with a letter, at most 60 characters.
CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
#: Units shown without a suffix: shares speak for themselves.
UNITLESS = ("", "share")

REALTIME, BATCH = "realtime", "batch"
MODES = (REALTIME, BATCH)
MODE_LABELS = {REALTIME: "Real-time", BATCH: "Batch"}
LOCATIONS = ("cloud", "on_premises", "edge", "browser")
LOCATION_LABELS = {
    "cloud": "cloud",
    "on_premises": "on premises",
    "edge": "on edge devices",
    "browser": "in the browser",
}
NEW_CAPABILITY, ASSIST_MANUAL, REPLACE_ML = "new_capability", "assist_manual", "replace_ml"
DEPLOYMENT_TYPES = (NEW_CAPABILITY, ASSIST_MANUAL, REPLACE_ML)
TYPE_LABELS = {
    NEW_CAPABILITY: "New capability",
    ASSIST_MANUAL: "Assists a manual process",
    REPLACE_ML: "Replaces an earlier ML system",
}
CANARY, BLUE_GREEN, SHADOW, ALL_AT_ONCE = "canary", "blue_green", "shadow", "all_at_once"
PATTERNS = (CANARY, BLUE_GREEN, SHADOW, ALL_AT_ONCE)
PATTERN_LABELS = {
    CANARY: "Canary",
    BLUE_GREEN: "Blue-green",
    SHADOW: "Shadow",
    ALL_AT_ONCE: "All at once",
}
SEVERITIES = ("page", "ticket", "info")
PERCENTILES = ("p50", "p95", "p99")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: str
    unit: str
    label: str
    #: The statistic usually checked, and the default when a plan names none.
    statistic: str


_METRICS = (
    ("memory_mb", SOFTWARE, "MB", "Memory", "max"),
    ("cpu_percent", SOFTWARE, "%", "CPU use", "p95"),
    ("latency_ms", SOFTWARE, "ms", "Latency", "p95"),
    ("throughput_qps", SOFTWARE, "requests/s", "Throughput", "mean"),
    ("server_load", SOFTWARE, "load", "Server load", "mean"),
    ("error_rate", SOFTWARE, "share", "Error rate", "mean"),
    ("missing_value_rate", INPUT, "share", "Missing-value rate", "mean"),
    ("input_volume", INPUT, "rows", "Input volume", "sum"),
    ("input_length", INPUT, "characters", "Input length", "mean"),
    ("image_brightness", INPUT, "", "Image brightness (0-255)", "mean"),
    ("null_output_rate", OUTPUT, "share", "Null-output rate", "mean"),
    ("search_redo_rate", OUTPUT, "share", "Search-redo rate", "mean"),
    ("switch_to_typing_rate", OUTPUT, "share", "Switch-to-typing rate", "mean"),
)
#: Derived from a production period's rows (deployments.analysis.production), one point per
#: period (and per column or value, as a label). Dotted, so no custom name can clash.
DERIVED_METRICS = (
    ("input.rows", INPUT, "rows", "Rows in the period", "sum"),
    ("input.missing_share", INPUT, "share", "Missing-value share", "mean"),
    ("input.mean", INPUT, "", "Column mean", "mean"),
    ("input.category_share", INPUT, "share", "Category share", "mean"),
    ("input.text_length", INPUT, "characters", "Text length", "mean"),
    ("output.null_share", OUTPUT, "share", "Null-output share", "mean"),
    ("output.score_mean", OUTPUT, "", "Mean score", "mean"),
    ("output.score_p50", OUTPUT, "", "Median score", "mean"),
    ("output.score_p90", OUTPUT, "", "Score p90", "mean"),
    ("output.positive_rate", OUTPUT, "share", "Positive rate", "mean"),
)
CATALOG: dict[str, MetricInfo] = {
    name: MetricInfo(name, kind, unit, label, statistic)
    for name, kind, unit, label, statistic in (*_METRICS, *DERIVED_METRICS)
}

#: Software success criteria (projects.analysis.criteria, source "deployment") and the
#: metric and statistic a rollout checks them with. Any other deployment-sourced criterion
#: is a custom metric pushed under its own name and checked on its mean.
CRITERION_CHECKS: dict[str, tuple[str, str]] = {
    "p95_latency_ms": ("latency_ms", "p95"),
    "throughput_qps": ("throughput_qps", "mean"),
    "error_rate": ("error_rate", "mean"),
    "memory_mb": ("memory_mb", "max"),
}


def is_metric_name(name: Any) -> bool:
    """Whether ``name`` may name a metric: a catalog entry or a custom snake_case name."""
    return isinstance(name, str) and (name in CATALOG or CUSTOM_NAME.fullmatch(name) is not None)


#: Statistics a source may give moment by moment, as ``metric:statistic`` (a Prometheus
#: ``histogram_quantile(0.95, …)`` query gives the p95 at each moment).
PER_MOMENT_STATISTICS = ("p50", "p95", "p99", "max", "min")


def statistic_key(metric: str, stat: str) -> str:
    """The name of a series that holds ``stat`` of ``metric`` at each moment."""
    return f"{metric}:{stat}"


def is_series_key(key: Any) -> bool:
    """A metric name, or ``metric:statistic`` with a statistic a moment can hold."""
    if not isinstance(key, str):
        return False
    metric, _, stat = key.partition(":")
    return is_metric_name(metric) and (not stat or stat in PER_MOMENT_STATISTICS)


def metric_info(name: str) -> MetricInfo | None:
    """The catalog entry for ``name``; None for a custom metric."""
    return CATALOG.get(name)


def unit_suffix(unit: str) -> str:
    """ " ms" after a latency, nothing after a share."""
    return "" if unit in UNITLESS else f" {unit}"


def number_text(value: float) -> str:
    """A number as people write it: 250, 1,000, 0.9, 0.005."""
    if isinstance(value, int):
        text = f"{value:,}"
        return text if len(text) <= 30 else f"{text[:30]}…"
    value = float(f"{value:.12g}")  # hide float noise such as 0.30000000000000004
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return format(value, ",.12g")


def criterion_check(criterion: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (metric, statistic) a rollout checks a success criterion with.

    None when the criterion is not a software criterion measured in production (source
    "deployment", category "software"; a criterion without a category counts as software)
    or names no valid metric: a business figure measured in production is a business
    owner's number, not a rollout check.
    """
    if criterion.get("source") != "deployment" or criterion.get("category", SOFTWARE) != SOFTWARE:
        return None
    name = criterion.get("metric")
    if not isinstance(name, str):
        return None
    if name in CRITERION_CHECKS:
        return CRITERION_CHECKS[name]
    if is_metric_name(name):
        return name, "mean"
    return None
