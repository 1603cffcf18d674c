"""The checks a rollout runs and what monitoring watches: three sections of a plan.

Plain Python, no Django: ``checks``, ``prometheus`` and ``monitoring`` of
:func:`.plan.clean_plan`. A check or monitored metric names a metric of the catalog or a
custom one; its statistic defaults to the catalog's usual one (a custom metric names its
own), min_points to 1, a monitored metric's window to 60 minutes and its kind and unit to
the catalog's (a custom metric states its kind; every entry of one metric keeps one kind
and unit). A share's mean or percentile lies in [0, 1]. An alert watches a monitored
metric by name, a drift test as ``drift:<column>``, or the model's reporting as
``silence``: no point at all for ``minutes`` (only a silence alert has them), or the
model's performance as ``decay``: the spec's ``performance`` section names the metric and
how far below the reference evaluation it may fall (``max_drop``) before it has decayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .catalog import (
    CATALOG,
    COMPARATORS,
    DRIFT_TESTS,
    KINDS,
    PER_MOMENT_STATISTICS,
    PERFORMANCE_METRICS,
    SEVERITIES,
    STATISTICS,
    VALUE_STATISTICS,
    is_series_key,
    number_text,
)
from .plan_fields import (
    MAX_COUNT,
    MAX_ITEMS,
    MAX_SHORT,
    MAX_WINDOW,
    absent,
    fail,
    read_choice,
    read_list,
    read_mapping,
    read_metric_name,
    read_number,
    read_positive,
    read_text,
    read_whole,
    share_hint,
    shown,
)

CHECK_FIELDS = ("metric", "statistic", "comparator", "threshold", "min_points")
METRIC_FIELDS = (
    "name",
    "kind",
    "unit",
    "statistic",
    "comparator",
    "threshold",
    "window_minutes",
    "min_points",
)
MONITORING_FIELDS = (
    "metrics",
    "drift",
    "alerts",
    "notify",
    "review_cadence_days",
    "drift_cadence_days",
    "performance",
)
PERFORMANCE_FIELDS = ("metric", "max_drop", "min_labels")
#: An alert's metric for "the model's performance fell past the spec's max_drop".
DECAY = "decay"
DEFAULT_MIN_LABELS = 100
ALERT_WORDS = {"silence": "a model that stopped reporting", "decay": "the model's performance"}
MAX_CONTACT = 254  # an e-mail address
MAX_UNIT = 20
MAX_REVIEW_DAYS = 365
ALERT_FIELDS = ("name", "metric", "severity", "minutes")
#: An alert's metric for "the deployment pushed no point at all for ``minutes``".
SILENCE = "silence"
MAX_SILENCE_MINUTES = 1440
DEFAULT_METRIC_WINDOW = 60
DEFAULT_REVIEW_DAYS = 30
#: How often a scheduled drift check compares the newest production period.
MAX_DRIFT_DAYS = 90
DEFAULT_DRIFT_DAYS = 7
A_KIND = {"software": "a software", "input": "an input", "output": "an output"}


def _comparison(raw: Mapping[str, Any], path: str, name: str, unit: str) -> dict[str, Any]:
    """The statistic, comparator, threshold and min_points shared by checks and monitoring."""
    info = CATALOG.get(name)
    statistic = read_choice(
        raw.get("statistic"),
        f"{path}.statistic",
        STATISTICS,
        f"a statistic of {name}",
        info.statistic if info else None,
    )
    comparator = read_choice(
        raw.get("comparator"), f"{path}.comparator", COMPARATORS, "a comparator"
    )
    threshold = read_number(raw.get("threshold"), f"{path}.threshold", "the threshold")
    if unit == "share" and statistic in VALUE_STATISTICS and not 0 <= threshold <= 1:
        fail(
            f"{path}.threshold",
            f"{name} is a share, so its {statistic} lies between 0 and 1, not "
            f"{number_text(threshold)}{share_hint(threshold)}.",
        )
    points = read_whole(
        raw.get("min_points"), f"{path}.min_points", "min_points", 1, MAX_COUNT, default=1
    )
    return {
        "statistic": statistic,
        "comparator": comparator,
        "threshold": threshold,
        "min_points": points,
    }


def clean_checks(raw: Any) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for n, item in enumerate(read_list(raw, "checks", "checks"), start=1):
        path = f"checks[{n}]"
        item = read_mapping(item, path, CHECK_FIELDS, "a check")
        metric = read_metric_name(item.get("metric"), f"{path}.metric")
        info = CATALOG.get(metric)
        check = {"metric": metric, **_comparison(item, path, metric, info.unit if info else "")}
        identity = (metric, check["statistic"], check["comparator"])
        if identity in seen:
            fail(
                path,
                f"{metric} {check['statistic']} {check['comparator']} is already checked by "
                f"checks[{seen[identity]}]; keep one of the two.",
            )
        seen[identity] = n
        checks.append(check)
    return checks


def clean_prometheus(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    raw = read_mapping(raw, "prometheus", ("url", "queries"), "the Prometheus source")
    if all(absent(v) or (isinstance(v, Mapping) and not v) for v in raw.values()):
        return None  # a form's empty section
    # Left out, the portal's own Prometheus (its PROMETHEUS_URL setting) is asked.
    url = read_text(raw.get("url"), "prometheus.url", "the Prometheus server's address")
    if url:
        _check_url(url)
    raw_queries = raw.get("queries")
    if not isinstance(raw_queries, Mapping) or not raw_queries:
        fail(
            "prometheus.queries",
            "map at least one metric name (e.g. latency_ms) to its PromQL query.",
        )
    if len(raw_queries) > MAX_ITEMS:
        fail(
            "prometheus.queries",
            f"give at most {MAX_ITEMS} queries; this plan has {len(raw_queries)}.",
        )
    queries = {}
    for key, query in raw_queries.items():
        if not is_series_key(key):
            fail(
                "prometheus.queries",
                f"{shown(key)} is not a metric name; key each query by a catalog metric or a "
                "custom name in lowercase snake_case (e.g. queue_depth), or by metric and "
                f"statistic when the query gives that statistic at each moment (one of "
                f"{', '.join(PER_MOMENT_STATISTICS)}: latency_ms:p95).",
            )
        queries[key] = read_text(
            query, f"prometheus.queries.{key}", "the PromQL query", required=True
        )
    return {"url": url, "queries": queries}


def _check_url(url: str) -> None:
    bad = f"{shown(url)} is not an http or https address such as http://prometheus:9090."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        fail("prometheus.url", bad)
    if parts.username is not None or parts.password is not None:
        fail(
            "prometheus.url",
            "keep credentials out of the address: everyone who reads the plan sees it; give "
            "the portal its credentials through its settings.",
        )


def clean_monitoring(raw: Any) -> dict[str, Any]:
    path = "monitoring"
    raw = read_mapping(raw, path, MONITORING_FIELDS, "the monitoring spec")
    metrics = _monitored(raw.get("metrics"))
    drift = _drift(raw.get("drift"))
    performance = _performance(raw.get("performance"))
    cleaned = {
        "metrics": metrics,
        "drift": drift,
        "alerts": _alerts(raw.get("alerts"), metrics, drift, performance is not None),
        "notify": _notify(raw.get("notify")),
        "review_cadence_days": read_whole(
            raw.get("review_cadence_days"),
            f"{path}.review_cadence_days",
            "the review cadence",
            1,
            MAX_REVIEW_DAYS,
            " days",
            DEFAULT_REVIEW_DAYS,
        ),
        "drift_cadence_days": read_whole(
            raw.get("drift_cadence_days"),
            f"{path}.drift_cadence_days",
            "the drift check cadence",
            1,
            MAX_DRIFT_DAYS,
            " days",
            DEFAULT_DRIFT_DAYS,
        ),
    }
    # Only when given: the plans written before it keep their content (and its hash).
    if performance is not None:
        cleaned["performance"] = performance
    return cleaned


def _performance(raw: Any) -> dict[str, Any] | None:
    path = "monitoring.performance"
    if absent(raw):
        return None
    raw = read_mapping(raw, path, PERFORMANCE_FIELDS, "the performance watch")
    if all(absent(v) for v in raw.values()):
        return None  # a form's empty section
    metric = read_choice(
        raw.get("metric"), f"{path}.metric", PERFORMANCE_METRICS, "a performance metric"
    )
    drop = read_number(raw.get("max_drop"), f"{path}.max_drop", "the largest drop")
    if not 0 < drop <= 1:
        fail(
            f"{path}.max_drop",
            f"the drop below the reference evaluation's {metric} that counts as decay lies "
            f"between 0 and 1 (e.g. 0.05), not {number_text(drop)}.",
        )
    labels = read_whole(
        raw.get("min_labels"),
        f"{path}.min_labels",
        "the labelled rows a realized value needs",
        1,
        MAX_COUNT,
        " rows",
        DEFAULT_MIN_LABELS,
    )
    return {"metric": metric, "max_drop": drop, "min_labels": labels}


def _monitored(raw: Any) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], int] = {}
    first: dict[str, int] = {}  # a custom metric's first entry: its kind and unit hold for all
    for n, item in enumerate(read_list(raw, "monitoring.metrics", "monitored metrics"), start=1):
        path = f"monitoring.metrics[{n}]"
        item = read_mapping(item, path, METRIC_FIELDS, "a monitored metric")
        name = read_metric_name(item.get("name"), f"{path}.name")
        if name in (SILENCE, DECAY):
            fail(
                f"{path}.name",
                f"{name} is what an alert names to watch {ALERT_WORDS[name]}; give the metric "
                "another name.",
            )
        info = CATALOG.get(name)
        unit = read_text(item.get("unit"), f"{path}.unit", "the unit", limit=MAX_UNIT)
        if info is not None:
            kind = read_choice(item.get("kind"), f"{path}.kind", KINDS, "a kind", info.kind)
            if kind != info.kind:
                fail(
                    f"{path}.kind",
                    f"{name} is {A_KIND[info.kind]} metric in the catalog, not {kind}; leave the "
                    "kind blank.",
                )
            if unit and unit != info.unit:
                fail(
                    f"{path}.unit",
                    f"{name} is measured in {info.unit}; keep that unit or leave it blank.",
                )
            unit = info.unit
        else:
            kind = read_choice(item.get("kind"), f"{path}.kind", KINDS, f"a kind for {name}")
            if name in first:
                earlier = metrics[first[name] - 1]
                for field, value in (("kind", kind), ("unit", unit)):
                    if value != earlier[field]:
                        fail(
                            f"{path}.{field}",
                            f"{name} has the {field} {earlier[field] or 'blank'} in "
                            f"monitoring.metrics[{first[name]}]; give every entry of one "
                            f"metric the same {field}.",
                        )
            first.setdefault(name, n)
        rule = _comparison(item, path, name, unit)
        identity = (name, rule["statistic"], rule["comparator"])
        if identity in seen:
            fail(
                path,
                f"{name} {rule['statistic']} {rule['comparator']} is already monitored by "
                f"monitoring.metrics[{seen[identity]}]; keep one of the two.",
            )
        seen[identity] = n
        window = read_whole(
            item.get("window_minutes"),
            f"{path}.window_minutes",
            "the window",
            1,
            MAX_WINDOW,
            " minutes",
            DEFAULT_METRIC_WINDOW,
        )
        metrics.append(
            {
                "name": name,
                "kind": kind,
                "unit": unit,
                "statistic": rule["statistic"],
                "comparator": rule["comparator"],
                "threshold": rule["threshold"],
                "window_minutes": window,
                "min_points": rule["min_points"],
            }
        )
    return metrics


def _drift(raw: Any) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(read_list(raw, "monitoring.drift", "drift tests"), start=1):
        path = f"monitoring.drift[{n}]"
        item = read_mapping(item, path, ("column", "test", "threshold"), "a drift test")
        column = read_text(
            item.get("column"), f"{path}.column", "the column to test", True, MAX_SHORT
        )
        test = read_choice(item.get("test"), f"{path}.test", DRIFT_TESTS, "a drift test")
        threshold = read_positive(item.get("threshold"), f"{path}.threshold", "the drift threshold")
        # A drift check judges a column by one test; two would leave one of them unheard.
        if column in seen:
            earlier = tests[seen[column] - 1]["test"]
            fail(
                path,
                f"{column} is already tested with {earlier} in monitoring.drift[{seen[column]}]; "
                "give each column one test (its PSI is reported whatever the test).",
            )
        seen[column] = n
        tests.append({"column": column, "test": test, "threshold": threshold})
    return tests


def _alerts(
    raw: Any, metrics: list[dict[str, Any]], drift: list[dict[str, Any]], performance: bool
) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(m["name"] for m in metrics))
    columns = {d["column"] for d in drift}
    alerts: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(read_list(raw, "monitoring.alerts", "alerts"), start=1):
        path = f"monitoring.alerts[{n}]"
        item = read_mapping(item, path, ALERT_FIELDS, "an alert")
        name = read_text(item.get("name"), f"{path}.name", "the alert's name", True, MAX_SHORT)
        if name.casefold() in seen:
            fail(
                f"{path}.name",
                f"monitoring.alerts[{seen[name.casefold()]}] is already named {name}; give each "
                "alert its own name.",
            )
        seen[name.casefold()] = n
        target = read_text(
            item.get("metric"), f"{path}.metric", "the metric the alert watches", True, MAX_SHORT
        )
        silence = target == SILENCE
        if not silence and not absent(item.get("minutes")):
            fail(
                f"{path}.minutes",
                f"only a silence alert (metric {SILENCE}) takes minutes; a metric's alert fires "
                "on its window_minutes in monitoring.metrics.",
            )
        if silence:
            if absent(item.get("minutes")):
                fail(
                    f"{path}.minutes",
                    "give the minutes without any point after which the silence alert fires "
                    f"(1 to {MAX_SILENCE_MINUTES:,}).",
                )
            minutes = read_whole(
                item.get("minutes"),
                f"{path}.minutes",
                "the minutes without a point",
                1,
                MAX_SILENCE_MINUTES,
                " minutes",
            )
        elif target.startswith("drift:"):
            column = target.removeprefix("drift:").strip()
            if column not in columns:
                fail(
                    f"{path}.metric",
                    f"no drift test watches the column {shown(column)}; add one to "
                    "monitoring.drift, or name a monitored metric.",
                )
            target = f"drift:{column}"
        elif target == DECAY:
            if not performance:
                fail(
                    f"{path}.metric",
                    "a decay alert needs monitoring.performance: the metric to watch and its "
                    "max_drop below the reference evaluation.",
                )
        elif target not in names:
            known = f" ({', '.join(names[:10])})" if names else ""
            fail(
                f"{path}.metric",
                f"{shown(target)} is not a monitored metric of this plan; name one from "
                f"monitoring.metrics{known}, drift:<column> for a drift test, {DECAY} for "
                f"the model's performance, or {SILENCE} for a model that stopped reporting.",
            )
        severity = read_choice(item.get("severity"), f"{path}.severity", SEVERITIES, "a severity")
        alert = {"name": name, "metric": target, "severity": severity}
        if silence:
            alert["minutes"] = minutes
        alerts.append(alert)
    return alerts


def _notify(raw: Any) -> list[str]:
    people: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(read_list(raw, "monitoring.notify", "people to notify"), start=1):
        path = f"monitoring.notify[{n}]"
        who = read_text(item, path, "a username or e-mail address", True, MAX_CONTACT)
        if any(c.isspace() for c in who):
            fail(path, f"{shown(who)} is not a username or an e-mail address; give one per entry.")
        if who.casefold() in seen:
            fail(path, f"{who} is already listed; list each person once.")
        seen.add(who.casefold())
        people.append(who)
    return people
