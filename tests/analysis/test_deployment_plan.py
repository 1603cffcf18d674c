"""Deployment plans: the metric catalog, cleaning a plan, and reading one, without a database."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployments.analysis.catalog import (
    CATALOG,
    CUSTOM_NAME,
    KINDS,
    STATISTICS,
    criterion_check,
    is_metric_name,
)
from deployments.analysis.plan import (
    PlanError,
    canonical,
    clean_plan,
    content_sha256,
    default_plan,
    monitoring_gaps,
    plan_against_criteria,
    plan_diff,
    plan_summary,
)
from projects.analysis.criteria import clean_criteria

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
WHY = "The service level the product team agreed with the support desk."
DELETE = object()


def raw_plan():
    """The contract's example plan: real-time, a five-step canary, full monitoring."""
    return {
        "serving": {
            "mode": "realtime",
            "location": "cloud",
            "compute": {"cpu_cores": 2, "gpu": "", "memory_mb": 2048},
            "latency_ms": {"p50": 40, "p95": 150, "p99": 300},
            "throughput": {"qps": 50},
            "logging": {
                "what": "request id, features, prediction",
                "retention_days": 90,
                "personal_data": "hashed customer id",
            },
            "security_notes": "Behind the API gateway; mTLS inside the cluster.",
        },
        "deployment_type": {"kind": "new_capability"},
        "pattern": {
            "kind": "canary",
            "steps": [
                {"traffic": 1, "window_minutes": 30},
                {"traffic": 5, "window_minutes": 30},
                {"traffic": 25, "window_minutes": 60},
                {"traffic": 50, "window_minutes": 60},
                {"traffic": 100, "window_minutes": 60},
            ],
        },
        "checks": [
            {
                "metric": "null_output_rate",
                "statistic": "mean",
                "comparator": "<=",
                "threshold": 0.01,
                "min_points": 1,
            }
        ],
        "prometheus": {
            "url": "http://127.0.0.1:9090",
            "queries": {
                "latency_ms": "histogram_quantile(0.95, rate(http_ms_bucket[5m]))",
                "error_rate": "sum(rate(errors[5m])) / sum(rate(requests[5m]))",
            },
        },
        "monitoring": {
            "metrics": [
                {
                    "name": "latency_ms",
                    "kind": "software",
                    "unit": "ms",
                    "statistic": "p95",
                    "comparator": "<=",
                    "threshold": 200,
                    "window_minutes": 60,
                },
                {"name": "missing_value_rate", "comparator": "<=", "threshold": 0.05},
                {"name": "null_output_rate", "comparator": "<=", "threshold": 0.02},
            ],
            "drift": [{"column": "income", "test": "psi", "threshold": 0.2}],
            "alerts": [
                {"name": "Slow answers", "metric": "latency_ms", "severity": "page"},
                {"name": "Income drift", "metric": "drift:income", "severity": "ticket"},
            ],
            "notify": ["alice", "oncall@example.com"],
            "review_cadence_days": 30,
        },
    }


def edited(changes, raw=None):
    """A copy of ``raw`` (the example plan) with ``{"a.b.0.c": value}`` set (appended one past
    the end of a list), or deleted."""
    plan = copy.deepcopy(raw_plan() if raw is None else raw)
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = plan
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value
    return plan


def refused(raw, message):
    """The PlanError ``raw`` raises; its message starts with ``message`` (a field path...)."""
    with pytest.raises(PlanError) as caught:
        clean_plan(raw)
    text = str(caught.value)
    assert text.startswith(message), text
    assert text.endswith("."), text
    return text


def batch(**changes):
    return edited(
        {
            "serving.mode": "batch",
            "serving.latency_ms": None,
            "serving.throughput": {"rows_per_run": 100_000, "deadline_minutes": 60},
            **changes,
        }
    )


def criteria(*items):
    return clean_criteria([{"rationale": WHY, **item} for item in items])


# The catalog


def test_it_catalogs_every_metric_with_a_kind_a_unit_and_a_usual_statistic():
    assert len(CATALOG) == 23
    for name, info in CATALOG.items():
        # Metrics derived from production periods are dotted: input.mean, output.null_share.
        kind, dot, rest = name.partition(".")
        assert info.name == name and CUSTOM_NAME.fullmatch(rest if dot else name)
        assert not dot or kind == info.kind
        assert info.kind in KINDS and info.statistic in STATISTICS and info.label
    assert {info.kind for info in CATALOG.values()} == set(KINDS)
    assert (CATALOG["latency_ms"].unit, CATALOG["latency_ms"].statistic) == ("ms", "p95")
    assert (CATALOG["memory_mb"].unit, CATALOG["memory_mb"].statistic) == ("MB", "max")
    assert CATALOG["switch_to_typing_rate"].kind == "output"


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("latency_ms", True),
        ("queue_depth", True),
        ("q", True),
        ("a" * 60, True),
        ("a" * 61, False),
        ("Queue_depth", False),
        ("9lives", False),
        ("_private", False),
        ("queue-depth", False),
        ("queue depth", False),
        ("", False),
        (None, False),
        (7, False),
    ],
)
def test_it_tells_metric_names_from_others(name, valid):
    assert is_metric_name(name) is valid


@pytest.mark.parametrize(
    ("criterion", "check"),
    [
        ({"metric": "p95_latency_ms", "source": "deployment"}, ("latency_ms", "p95")),
        ({"metric": "throughput_qps", "source": "deployment"}, ("throughput_qps", "mean")),
        ({"metric": "error_rate", "source": "deployment"}, ("error_rate", "mean")),
        ({"metric": "memory_mb", "source": "deployment"}, ("memory_mb", "max")),
        ({"metric": "queue_depth", "source": "deployment"}, ("queue_depth", "mean")),
        (
            {"metric": "queue_depth", "source": "deployment", "category": "software"},
            ("queue_depth", "mean"),
        ),
        ({"metric": "live_churn", "source": "deployment", "category": "business"}, None),
        ({"metric": "recall", "source": "evaluation"}, None),
        ({"metric": "p95_latency_ms"}, None),
        ({"metric": "Not A Name", "source": "deployment"}, None),
        ({"metric": ["x"], "source": "deployment"}, None),
    ],
)
def test_it_maps_software_criteria_measured_in_production_to_checks(criterion, check):
    assert criterion_check(criterion) == check


# Valid plans


def test_it_cleans_the_contract_example_into_typed_values():
    plan = clean_plan(raw_plan())
    assert list(plan) == [
        "serving",
        "deployment_type",
        "pattern",
        "checks",
        "prometheus",
        "monitoring",
    ]
    assert plan["serving"]["latency_ms"] == {"p50": 40.0, "p95": 150.0, "p99": 300.0}
    assert isinstance(plan["serving"]["compute"]["cpu_cores"], float)
    assert plan["pattern"]["steps"][2] == {"traffic": 25.0, "window_minutes": 60}
    assert isinstance(plan["pattern"]["steps"][2]["window_minutes"], int)
    missing = plan["monitoring"]["metrics"][1]
    assert missing == {
        "name": "missing_value_rate",
        "kind": "input",
        "unit": "share",
        "statistic": "mean",
        "comparator": "<=",
        "threshold": 0.05,
        "window_minutes": 60,
        "min_points": 1,
    }
    assert plan["monitoring"]["alerts"][1]["metric"] == "drift:income"
    assert clean_plan(plan) == plan


@pytest.mark.parametrize(
    "pattern",
    [
        {"kind": "canary", "steps": [{"traffic": 10}, {"traffic": 100, "window_minutes": 120}]},
        {"kind": "blue_green", "environments": ["old", "new"], "window_minutes": 45},
        {"kind": "shadow", "agreement_min": 0.9, "min_cases": 500, "window_minutes": 60},
        {
            "kind": "all_at_once",
            "reason": "An internal tool with five users.",
            "window_minutes": 60,
        },
    ],
)
def test_it_accepts_every_pattern(pattern):
    plan = clean_plan(edited({"pattern": pattern}))
    assert plan["pattern"]["kind"] == pattern["kind"]
    assert clean_plan(plan) == plan


def test_a_canary_without_steps_gets_the_default_ladder():
    expected = [{"traffic": float(t), "window_minutes": 30} for t in (1, 5, 25, 50, 100)]
    for pattern in (
        {"kind": "canary"},
        {"kind": "canary", "steps": None},
        {"kind": "canary", "steps": []},
    ):
        assert clean_plan(edited({"pattern": pattern}))["pattern"]["steps"] == expected


def test_a_step_without_a_window_gets_30_minutes():
    plan = clean_plan(edited({"pattern.steps.0.window_minutes": DELETE}))
    assert plan["pattern"]["steps"][0]["window_minutes"] == 30


def test_blue_green_defaults_to_blue_and_green_with_a_30_minute_window():
    plan = clean_plan(edited({"pattern": {"kind": "blue_green"}}))
    assert plan["pattern"] == {
        "kind": "blue_green",
        "environments": ["blue", "green"],
        "window_minutes": 30,
    }


def test_batch_serving_takes_rows_and_a_deadline_and_no_latency():
    plan = clean_plan(batch())
    assert plan["serving"]["throughput"] == {"rows_per_run": 100_000, "deadline_minutes": 60}
    assert plan["serving"]["latency_ms"] is None
    blank = {"p50": "", "p95": None, "p99": " "}
    assert clean_plan(batch(**{"serving.latency_ms": blank}))["serving"]["latency_ms"] is None
    given = clean_plan(batch(**{"serving.latency_ms": {"p50": 1, "p95": 2, "p99": 3}}))
    assert given["serving"]["latency_ms"] == {"p50": 1.0, "p95": 2.0, "p99": 3.0}


def test_it_accepts_numbers_typed_into_a_form():
    plan = clean_plan(
        edited(
            {
                "serving.latency_ms": {"p50": "40", "p95": " 150 ", "p99": "3e2"},
                "serving.throughput.qps": "50.5",
                "pattern.steps.0.window_minutes": "30",
                "checks.0.threshold": "0.01",
                "monitoring.review_cadence_days": "14",
            }
        )
    )
    assert plan["serving"]["latency_ms"] == {"p50": 40.0, "p95": 150.0, "p99": 300.0}
    assert plan["serving"]["throughput"]["qps"] == 50.5
    assert plan["pattern"]["steps"][0]["window_minutes"] == 30
    assert plan["monitoring"]["review_cadence_days"] == 14


def test_it_fills_the_optional_sections():
    raw = edited({"checks": DELETE, "prometheus": DELETE, "serving.logging": DELETE})
    raw["monitoring"] = {"metrics": []}
    plan = clean_plan(raw)
    assert plan["checks"] == [] and plan["prometheus"] is None
    assert plan["serving"]["logging"] == {"what": "", "retention_days": None, "personal_data": ""}
    assert plan["monitoring"] == {
        "metrics": [],
        "drift": [],
        "alerts": [],
        "notify": [],
        "review_cadence_days": 30,
        "drift_cadence_days": 7,
    }
    empty_form = {"url": "", "queries": {}}
    assert clean_plan(edited({"prometheus": empty_form}))["prometheus"] is None


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_the_default_plan_is_clean_and_watches_every_kind(mode):
    plan = default_plan(mode)
    assert clean_plan(plan) == plan
    assert plan["serving"]["mode"] == mode
    assert sorted(m["kind"] for m in plan["monitoring"]["metrics"]) == sorted(KINDS)
    assert monitoring_gaps(plan) == []
    json.dumps(plan, allow_nan=False)


def test_the_default_plan_refuses_an_unknown_mode():
    with pytest.raises(PlanError, match=r"^serving\.mode: 'stream' is not a serving mode"):
        default_plan("stream")


def test_the_fingerprint_ignores_key_order_and_follows_content():
    plan = clean_plan(raw_plan())
    reordered = json.loads(json.dumps(plan, sort_keys=True))
    assert canonical(reordered) == canonical(plan)
    assert content_sha256(reordered) == content_sha256(plan)
    assert re.fullmatch(r"[0-9a-f]{64}", content_sha256(plan))
    changed = clean_plan(edited({"serving.latency_ms.p99": 301}))
    assert content_sha256(changed) != content_sha256(plan)
    assert content_sha256(clean_plan(edited({"serving.latency_ms.p99": "300"}))) == (
        content_sha256(plan)
    )


# Refusals: each names its field


def test_it_refuses_what_is_not_a_plan():
    for raw in (None, [], "plan", 3):
        with pytest.raises(PlanError, match=r"^plan: give a deployment plan as a mapping"):
            clean_plan(raw)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 1}, "plan: unknown field extra; the fields of a deployment plan are serving,"),
        ({"serving.region": "eu"}, "serving: unknown field region; the fields of the serving"),
        ({"serving.compute.tpu": 1}, "serving.compute: unknown field tpu"),
        ({"pattern.steps.1.note": "x"}, "pattern.steps[2]: unknown field note"),
        ({"checks.0.unit": "ms"}, "checks[1]: unknown field unit"),
        ({"monitoring.metrics.0.label": "x"}, "monitoring.metrics[1]: unknown field label"),
        ({"monitoring.drift.0.bins": 10}, "monitoring.drift[1]: unknown field bins"),
        ({"monitoring.alerts.0.to": "x"}, "monitoring.alerts[1]: unknown field to"),
        ({"prometheus.token": "s3cret"}, "prometheus: unknown field token"),
        ({"deployment_type.owner": "x"}, "deployment_type: unknown field owner"),
        ({"serving.logging.level": "x"}, "serving.logging: unknown field level"),
        ({"serving.throughput.rows_per_run": 10}, "serving.throughput: unknown field rows_per_run"),
        ({"pattern.window_minutes": 30}, "pattern: unknown field window_minutes; the fields of a"),
    ],
)
def test_it_refuses_unknown_fields(changes, message):
    refused(edited(changes), message)


def test_it_lists_only_a_few_unknown_fields():
    raw = raw_plan()
    raw.update({f"x{i}": i for i in range(20)})
    text = refused(raw, "plan: unknown fields x0, x1, x10, x11, x12, …;")
    assert len(text) < 250


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serving": DELETE}, "serving: give the serving requirements as a mapping"),
        ({"serving.mode": DELETE}, "serving.mode: choose a serving mode from realtime, batch."),
        ({"serving.mode": "stream"}, "serving.mode: 'stream' is not a serving mode; choose"),
        ({"serving.location": "moon"}, "serving.location: 'moon' is not a location"),
        ({"serving.compute": DELETE}, "serving.compute: give the compute as a mapping"),
        (
            {"serving.compute.cpu_cores": 0},
            "serving.compute.cpu_cores: the number of CPU cores must",
        ),
        ({"serving.compute.cpu_cores": True}, "serving.compute.cpu_cores: the number of CPU cores"),
        (
            {"serving.compute.memory_mb": DELETE},
            "serving.compute.memory_mb: give the memory in MB.",
        ),
        ({"serving.compute.gpu": 1}, "serving.compute.gpu: the GPU must be text, not '1'."),
        ({"serving.logging.retention_days": -1}, "serving.logging.retention_days: the retention"),
        ({"serving.logging.retention_days": 2.5}, "serving.logging.retention_days: the retention"),
    ],
)
def test_it_checks_the_serving_basics(changes, message):
    refused(edited(changes), message)


def test_it_names_the_percentile_that_falls_below_the_one_before():
    text = refused(edited({"serving.latency_ms.p95": 40, "serving.latency_ms.p50": 50}), "")
    assert text == "serving.latency_ms: the p95 target (40 ms) is below the p50 target (50 ms)."
    text = refused(edited({"serving.latency_ms.p99": 100}), "")
    assert text == "serving.latency_ms: the p99 target (100 ms) is below the p95 target (150 ms)."
    assert clean_plan(edited({"serving.latency_ms": {"p50": 5, "p95": 5, "p99": 5}}))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "serving.latency_ms.p50: the p50 latency target must be above 0, not 0 ms."),
        (-3, "serving.latency_ms.p50: the p50 latency target must be above 0, not -3 ms."),
        (
            math.nan,
            "serving.latency_ms.p50: the p50 latency target must be a finite number, not nan.",
        ),
        ("inf", "serving.latency_ms.p50: the p50 latency target must be a finite number, not inf."),
        (True, "serving.latency_ms.p50: the p50 latency target must be a number, not 'True'."),
        ("fast", "serving.latency_ms.p50: the p50 latency target must be a number, not 'fast'."),
        ([40], "serving.latency_ms.p50: the p50 latency target must be a number, not '[40]'."),
        (None, "serving.latency_ms.p50: give the p50 latency target."),
        (10**400, "serving.latency_ms.p50: the p50 latency target must be a number, not"),
    ],
)
def test_it_refuses_a_latency_that_is_not_a_positive_finite_number(value, message):
    refused(edited({"serving.latency_ms.p50": value}), message)


def test_realtime_serving_needs_latency_and_throughput():
    refused(edited({"serving.latency_ms": DELETE}), "serving.latency_ms: real-time serving needs")
    refused(edited({"serving.latency_ms": {}}), "serving.latency_ms.p50: give the p50 latency")
    refused(edited({"serving.throughput": DELETE}), "serving.throughput: give real-time throughput")
    refused(edited({"serving.throughput.qps": -1}), "serving.throughput.qps: the throughput cannot")
    refused(edited({"serving.throughput.qps": math.inf}), "serving.throughput.qps: the throughput")
    assert clean_plan(edited({"serving.throughput.qps": 0}))["serving"]["throughput"]["qps"] == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serving.throughput.rows_per_run": 0}, "serving.throughput.rows_per_run: the rows per"),
        ({"serving.throughput.rows_per_run": 1.5}, "serving.throughput.rows_per_run: the rows per"),
        ({"serving.throughput.deadline_minutes": 0}, "serving.throughput.deadline_minutes: the"),
        (
            {"serving.throughput.deadline_minutes": DELETE},
            "serving.throughput.deadline_minutes: giv",
        ),
        (
            {"serving.throughput": {"qps": 5}},
            "serving.throughput: unknown field qps; the fields of",
        ),
        ({"serving.latency_ms": {"p50": 9, "p95": 2, "p99": 3}}, "serving.latency_ms: the p95"),
    ],
)
def test_batch_serving_checks_its_throughput_and_any_latency_given(changes, message):
    refused(batch(**changes), message)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"traffic": 5}, {"traffic": 5}, {"traffic": 100}], "pattern.steps[2].traffic: each step"),
        (
            [{"traffic": 50}, {"traffic": 25}, {"traffic": 100}],
            "pattern.steps[2].traffic: each step",
        ),
        ([{"traffic": 0}, {"traffic": 100}], "pattern.steps[1].traffic: the share of traffic is a"),
        ([{"traffic": -5}, {"traffic": 100}], "pattern.steps[1].traffic: the share of traffic is"),
        ([{"traffic": 50}, {"traffic": 150}], "pattern.steps[2].traffic: the share of traffic is"),
        ([{"traffic": 5}, {"traffic": 50}], "pattern.steps: the last step must send all traffic"),
        ([{"traffic": 5}, {"window_minutes": 5}], "pattern.steps[2].traffic: give the share"),
        ([{"traffic": 100, "window_minutes": 0}], "pattern.steps[1].window_minutes: the window"),
        ([{"traffic": 100, "window_minutes": 1441}], "pattern.steps[1].window_minutes: the window"),
        ([{"traffic": 100, "window_minutes": 1.5}], "pattern.steps[1].window_minutes: the window"),
        ([{"traffic": t} for t in range(10, 111, 10)], "pattern.steps: give at most 10 steps;"),
        ([100], "pattern.steps[1]: give a step as a mapping of its fields (traffic, window_"),
        ("1,5,100", "pattern.steps: give the steps as a list."),
    ],
)
def test_it_checks_the_canary_steps(steps, message):
    refused(edited({"pattern.steps": steps}), message)


def test_it_refuses_a_boolean_where_a_count_goes():
    refused(
        edited({"pattern.steps.0.window_minutes": True}),
        "pattern.steps[1].window_minutes: the window must be a number, not 'True'.",
    )
    refused(
        edited({"monitoring.review_cadence_days": False}),
        "monitoring.review_cadence_days: the review cadence must be a number, not 'False'.",
    )


def test_it_accepts_windows_from_one_minute_to_a_day():
    for window in (1, 1440):
        steps = [{"traffic": 100, "window_minutes": window}]
        assert clean_plan(edited({"pattern.steps": steps}))["pattern"]["steps"][0] == {
            "traffic": 100.0,
            "window_minutes": window,
        }


@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-5, max_value=110),
            st.floats(min_value=-1, max_value=101, allow_nan=False),
            st.sampled_from([100, 100.0, 50, 25]),
        ),
        min_size=1,
        max_size=12,
    )
)
@EXAMPLES
def test_steps_are_accepted_exactly_when_they_rise_strictly_to_100(traffic):
    rising = all(a < b for a, b in itertools.pairwise(traffic))
    valid = (
        len(traffic) <= 10 and all(0 < t <= 100 for t in traffic) and rising and traffic[-1] == 100
    )
    raw = edited({"pattern.steps": [{"traffic": t} for t in traffic]})
    try:
        plan = clean_plan(raw)
    except PlanError as error:
        assert not valid, error
        assert str(error).startswith("pattern.steps")
    else:
        assert valid
        assert [s["traffic"] for s in plan["pattern"]["steps"]] == [float(t) for t in traffic]


@given(st.tuples(*[st.floats(min_value=-10, max_value=1000, allow_nan=False)] * 3))
@EXAMPLES
def test_latency_is_accepted_exactly_when_it_rises_from_above_zero(targets):
    p50, p95, p99 = targets
    raw = edited({"serving.latency_ms": {"p50": p50, "p95": p95, "p99": p99}})
    valid = 0 < p50 <= p95 <= p99
    try:
        clean_plan(raw)
    except PlanError as error:
        assert not valid, error
        assert str(error).startswith("serving.latency_ms")
    else:
        assert valid


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"kind": "rolling"}, "pattern.kind: 'rolling' is not a rollout pattern; choose one of"),
        (
            {},
            "pattern.kind: choose a rollout pattern from canary, blue_green, shadow, all_at_once.",
        ),
        ({"kind": "shadow", "min_cases": 5}, "pattern.agreement_min: give the minimum agreement."),
        (
            {"kind": "shadow", "agreement_min": 90, "min_cases": 5},
            "pattern.agreement_min: the minimum agreement is a share above 0 and at most 1, "
            "not 90; for 90% give 0.9.",
        ),
        ({"kind": "shadow", "agreement_min": 0, "min_cases": 5}, "pattern.agreement_min: the min"),
        ({"kind": "shadow", "agreement_min": 0.9, "min_cases": 0}, "pattern.min_cases: the min"),
        ({"kind": "shadow", "agreement_min": 0.9}, "pattern.min_cases: give the minimum number"),
        ({"kind": "shadow", "agreement_min": 0.9, "min_cases": 9, "steps": []}, "pattern: unknown"),
        ({"kind": "blue_green", "environments": ["a", "b", "c"]}, "pattern.environments: name ex"),
        ({"kind": "blue_green", "environments": ["Blue", "blue"]}, "pattern.environments[2]: both"),
        ({"kind": "blue_green", "environments": ["a", ""]}, "pattern.environments[2]: give the"),
        ({"kind": "blue_green", "window_minutes": 0}, "pattern.window_minutes: the window must be"),
        (
            {"kind": "all_at_once"},
            "pattern.reason: releasing a real-time model to all traffic at once needs a reason",
        ),
        ({"kind": "all_at_once", "reason": "  "}, "pattern.reason: releasing a real-time model"),
    ],
)
def test_it_checks_each_pattern(pattern, message):
    refused(edited({"pattern": pattern}), message)


def test_all_at_once_needs_no_reason_in_batch_mode():
    plan = clean_plan(batch(pattern={"kind": "all_at_once"}))
    assert plan["pattern"] == {"kind": "all_at_once", "reason": "", "window_minutes": 30}
    assert clean_plan(batch(pattern={"kind": "shadow", "agreement_min": 1, "min_cases": 1}))


def test_replacing_an_ml_system_names_it():
    kind = "deployment_type.kind"
    refused(edited({kind: "replace_ml"}), "deployment_type.replaces: give the name of the system")
    plan = clean_plan(edited({kind: "replace_ml", "deployment_type.replaces": " scorer v2 "}))
    assert plan["deployment_type"] == {"kind": "replace_ml", "replaces": "scorer v2"}
    refused(
        edited({kind: "assist_manual", "deployment_type.replaces": "scorer v2"}),
        "deployment_type.replaces: only a replace_ml deployment replaces an earlier system;",
    )
    assert clean_plan(edited({kind: "assist_manual", "deployment_type.replaces": ""}))
    refused(edited({kind: "upgrade"}), "deployment_type.kind: 'upgrade' is not a deployment type")


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"metric": "Latency"}, "checks[1].metric: 'Latency' is not in the metric catalog; a"),
        ({"metric": "x" * 61}, "checks[1].metric: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is not in"),
        ({"metric": ""}, "checks[1].metric: name the metric"),
        ({"comparator": "=="}, "checks[1].comparator: '==' is not a comparator; choose one of <=,"),
        ({"comparator": None}, "checks[1].comparator: choose a comparator from <=, >=, <, >."),
        ({"statistic": "median"}, "checks[1].statistic: 'median' is not a statistic of null_outp"),
        ({"threshold": math.nan}, "checks[1].threshold: the threshold must be a finite number"),
        ({"threshold": -math.inf}, "checks[1].threshold: the threshold must be a finite number"),
        ({"threshold": False}, "checks[1].threshold: the threshold must be a number, not 'False'."),
        ({"threshold": None}, "checks[1].threshold: give the threshold."),
        ({"min_points": 0}, "checks[1].min_points: min_points must be from 1 to"),
        (
            {"threshold": 5},
            "checks[1].threshold: null_output_rate is a share, so its mean lies between 0 and 1, "
            "not 5; for 5% give 0.05.",
        ),
        ({"metric": "queue_depth", "statistic": None}, "checks[1].statistic: choose a statistic"),
    ],
)
def test_it_checks_each_check(check, message):
    refused(edited({f"checks.0.{key}": value for key, value in check.items()}), message)


def test_a_check_fills_the_usual_statistic_and_takes_custom_metrics():
    raw = edited({"checks": [{"metric": "latency_ms", "comparator": "<", "threshold": "250"}]})
    assert clean_plan(raw)["checks"] == [
        {
            "metric": "latency_ms",
            "statistic": "p95",
            "comparator": "<",
            "threshold": 250.0,
            "min_points": 1,
        }
    ]
    custom = {"metric": "queue_depth", "statistic": "max", "comparator": "<=", "threshold": 900}
    assert clean_plan(edited({"checks": [custom]}))["checks"][0]["metric"] == "queue_depth"
    counted = {"metric": "error_rate", "statistic": "count", "comparator": ">=", "threshold": 20}
    assert clean_plan(edited({"checks": [counted]}))["checks"][0]["threshold"] == 20.0


def test_it_refuses_the_same_check_twice():
    check = raw_plan()["checks"][0]
    refused(
        edited({"checks": [check, {**check, "threshold": 0.02}]}),
        "checks[2]: null_output_rate mean <= is already checked by checks[1]; keep one",
    )
    assert clean_plan(edited({"checks": [check, {**check, "comparator": ">="}]}))


def test_it_caps_lists_and_text():
    check = raw_plan()["checks"][0]
    many = [{**check, "metric": f"custom_{i}"} for i in range(51)]
    refused(edited({"checks": many}), "checks: give at most 50 checks; this plan has 51.")
    refused(edited({"checks": check}), "checks: give the checks as a list.")
    refused(
        edited({"serving.security_notes": "x" * 2001}),
        "serving.security_notes: keep the security notes to at most 2,000 characters; it has "
        "2,001.",
    )
    assert clean_plan(edited({"serving.security_notes": "x" * 2000}))
    refused(edited({"serving.security_notes": "a\x00b"}), "serving.security_notes: the security")
    refused(
        edited({"serving.security_notes": 5}), "serving.security_notes: the security notes must"
    )
    refused(
        edited({"deployment_type": {"kind": "replace_ml", "replaces": "r" * 201}}),
        "deployment_type.replaces: keep the name of the system this model replaces to at most "
        "200 characters",
    )
    custom = {"name": "queue_depth", "kind": "software", "unit": "u" * 21}
    refused(
        edited({"monitoring.metrics.0": {**custom, "comparator": "<=", "threshold": 1}}),
        "monitoring.metrics[1].unit: keep the unit to at most 20 characters",
    )
    names = [f"person{i}" for i in range(51)]
    refused(edited({"monitoring.notify": names}), "monitoring.notify: give at most 50 people")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"monitoring": DELETE}, "monitoring: give the monitoring spec as a mapping"),
        (
            {"monitoring.metrics.0.kind": "input"},
            "monitoring.metrics[1].kind: latency_ms is a software metric in the catalog, not "
            "input; leave the kind blank.",
        ),
        ({"monitoring.metrics.0.kind": "hardware"}, "monitoring.metrics[1].kind: 'hardware' is"),
        ({"monitoring.metrics.0.unit": "s"}, "monitoring.metrics[1].unit: latency_ms is measured"),
        ({"monitoring.metrics.0.name": "Latency"}, "monitoring.metrics[1].name: 'Latency' is not"),
        ({"monitoring.metrics.0.comparator": "~"}, "monitoring.metrics[1].comparator: '~' is not"),
        ({"monitoring.metrics.0.statistic": "p90"}, "monitoring.metrics[1].statistic: 'p90' is"),
        ({"monitoring.metrics.0.threshold": "nan"}, "monitoring.metrics[1].threshold: the thresh"),
        ({"monitoring.metrics.0.min_points": -1}, "monitoring.metrics[1].min_points: min_points"),
        ({"monitoring.metrics.0.window_minutes": 0}, "monitoring.metrics[1].window_minutes: the"),
        ({"monitoring.metrics.1.threshold": 5}, "monitoring.metrics[2].threshold: missing_value_r"),
        (
            {"monitoring.metrics.2.name": "latency_ms"},
            "monitoring.metrics[3]: latency_ms p95 <= is already monitored by "
            "monitoring.metrics[1]; keep one of the two.",
        ),
        (
            {"monitoring.metrics.0": {"name": "queue_depth", "comparator": "<=", "threshold": 5}},
            "monitoring.metrics[1].kind: choose a kind for queue_depth from software, input, "
            "output.",
        ),
        ({"monitoring.metrics": {"latency_ms": {}}}, "monitoring.metrics: give the monitored"),
    ],
)
def test_it_checks_each_monitored_metric(changes, message):
    refused(edited(changes), message)


def test_a_custom_monitored_metric_states_its_kind_once_for_all_its_entries():
    first = {
        "name": "queue_depth",
        "kind": "software",
        "unit": "jobs",
        "statistic": "max",
        "comparator": "<=",
        "threshold": 500,
    }
    plan = clean_plan(edited({"monitoring.metrics.3": first}))
    assert plan["monitoring"]["metrics"][3]["unit"] == "jobs"
    second = {**first, "comparator": ">=", "threshold": 1}
    assert clean_plan(edited({"monitoring.metrics.3": first, "monitoring.metrics.4": second}))
    refused(
        edited(
            {"monitoring.metrics.3": first, "monitoring.metrics.4": {**second, "kind": "input"}}
        ),
        "monitoring.metrics[5].kind: queue_depth has the kind software in monitoring.metrics[4]",
    )
    refused(
        edited({"monitoring.metrics.3": first, "monitoring.metrics.4": {**second, "unit": ""}}),
        "monitoring.metrics[5].unit: queue_depth has the unit jobs in monitoring.metrics[4]",
    )
    share = {**first, "unit": "share", "statistic": "mean", "threshold": 20}
    refused(edited({"monitoring.metrics.3": share}), "monitoring.metrics[4].threshold: queue_depth")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"monitoring.drift.0.test": "t_test"},
            "monitoring.drift[1].test: 't_test' is not a drift",
        ),
        ({"monitoring.drift.0.threshold": 0}, "monitoring.drift[1].threshold: the drift threshold"),
        (
            {"monitoring.drift.0.column": " "},
            "monitoring.drift[1].column: give the column to test.",
        ),
        (
            {"monitoring.drift.1": {"column": "income", "test": "psi", "threshold": 0.1}},
            "monitoring.drift[2]: income is already tested with psi in monitoring.drift[1]",
        ),
        (
            {"monitoring.drift.1": {"column": "income", "test": "ks", "threshold": 0.05}},
            "monitoring.drift[2]: income is already tested with psi in monitoring.drift[1]; give "
            "each column one test",
        ),
    ],
)
def test_it_checks_each_drift_test(changes, message):
    refused(edited(changes), message)


def test_drift_takes_every_allowed_test():
    tests = ["psi", "ks", "chi2", "wasserstein", "jensen_shannon"]
    # income keeps its test: the plan's alert watches it.
    columns = ["income", "age", "region", "debt_ratio", "sex"]
    drift = [
        {"column": column, "test": test, "threshold": 0.1}
        for column, test in zip(columns, tests, strict=True)
    ]
    assert len(clean_plan(edited({"monitoring.drift": drift}))["monitoring"]["drift"]) == 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"monitoring.alerts.0.metric": "error_rate"},
            "monitoring.alerts[1].metric: 'error_rate' is not a monitored metric of this plan; "
            "name one from monitoring.metrics (latency_ms, missing_value_rate, null_output_rate)"
            ", drift:<column> for a drift test, decay for the model's performance, or silence "
            "for a model that stopped reporting.",
        ),
        (
            {"monitoring.alerts.1.metric": "drift:age"},
            "monitoring.alerts[2].metric: no drift test watches the column 'age'; add one",
        ),
        ({"monitoring.alerts.0.severity": "sms"}, "monitoring.alerts[1].severity: 'sms' is not a"),
        (
            {"monitoring.alerts.0.severity": None},
            "monitoring.alerts[1].severity: choose a severity",
        ),
        ({"monitoring.alerts.0.name": ""}, "monitoring.alerts[1].name: give the alert's name."),
        (
            {"monitoring.alerts.1.name": "slow ANSWERS"},
            "monitoring.alerts[2].name: monitoring.alerts[1] is already named slow ANSWERS;",
        ),
        ({"monitoring.drift": []}, "monitoring.alerts[2].metric: no drift test watches"),
    ],
)
def test_alerts_watch_what_the_spec_monitors(changes, message):
    refused(edited(changes), message)


def test_an_alert_on_drift_is_normalised():
    plan = clean_plan(edited({"monitoring.alerts.1.metric": " drift: income "}))
    assert plan["monitoring"]["alerts"][1]["metric"] == "drift:income"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"monitoring.notify": ["alice", "Alice"]},
            "monitoring.notify[2]: Alice is already listed",
        ),
        ({"monitoring.notify": ["ali ce"]}, "monitoring.notify[1]: 'ali ce' is not a username"),
        ({"monitoring.notify": [""]}, "monitoring.notify[1]: give a username or e-mail address."),
        ({"monitoring.review_cadence_days": 0}, "monitoring.review_cadence_days: the review cad"),
        ({"monitoring.review_cadence_days": 366}, "monitoring.review_cadence_days: the review"),
    ],
)
def test_it_checks_who_is_told_and_how_often_monitoring_is_reviewed(changes, message):
    refused(edited(changes), message)


def test_the_review_cadence_runs_from_a_day_to_a_year():
    for days in (1, 365):
        plan = clean_plan(edited({"monitoring.review_cadence_days": days}))
        assert plan["monitoring"]["review_cadence_days"] == days
    assert (
        clean_plan(edited({"monitoring.review_cadence_days": DELETE}))["monitoring"][
            "review_cadence_days"
        ]
        == 30
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prometheus.url": "ftp://prom:9090"}, "prometheus.url: 'ftp://prom:9090' is not an http"),
        ({"prometheus.url": "file:///etc/passwd"}, "prometheus.url: 'file:///etc/passwd' is not"),
        ({"prometheus.url": "http://"}, "prometheus.url: 'http://' is not an http or https addr"),
        ({"prometheus.url": "prom:9090"}, "prometheus.url: 'prom:9090' is not an http or https"),
        ({"prometheus.url": "http://prom:99999"}, "prometheus.url: 'http://prom:99999' is not"),
        ({"prometheus.url": "http://pr om:9090"}, "prometheus.url: 'http://pr om:9090' is not"),
        ({"prometheus.url": "http://u:p@prom:9090"}, "prometheus.url: keep credentials out of"),
        ({"prometheus.queries": {}}, "prometheus.queries: map at least one metric name"),
        ({"prometheus.queries": ["up"]}, "prometheus.queries: map at least one metric name"),
        (
            {"prometheus.queries": {"Latency": "up"}},
            "prometheus.queries: 'Latency' is not a metric",
        ),
        (
            {"prometheus.queries": {"latency_ms:p42": "up"}},
            "prometheus.queries: 'latency_ms:p42' is not a metric",
        ),
        (
            {"prometheus.queries": {"latency_ms:count": "up"}},
            "prometheus.queries: 'latency_ms:count' is not a metric name; key each query by a "
            "catalog metric or a custom name in lowercase snake_case (e.g. queue_depth), or by "
            "metric and statistic when the query gives that statistic at each moment (one of "
            "p50, p95, p99, max, min: latency_ms:p95).",
        ),
        (
            {"prometheus.queries": {"Latency:p95": "up"}},
            "prometheus.queries: 'Latency:p95' is not a metric",
        ),
        ({"prometheus.queries.latency_ms": ""}, "prometheus.queries.latency_ms: give the PromQL"),
        ({"prometheus.queries.latency_ms": 5}, "prometheus.queries.latency_ms: the PromQL query"),
        (
            {"prometheus.queries.latency_ms": "x" * 2001},
            "prometheus.queries.latency_ms: keep the PromQL query to at most 2,000 characters",
        ),
        (
            {"prometheus.queries": {f"q{i}": "up" for i in range(51)}},
            "prometheus.queries: give at most 50 queries; this plan has 51.",
        ),
    ],
)
def test_it_checks_the_prometheus_source(changes, message):
    refused(edited(changes), message)


def test_prometheus_without_an_address_means_the_portals_own():
    plan = clean_plan(edited({"prometheus.url": ""}))
    assert plan["prometheus"]["url"] == "" and plan["prometheus"]["queries"]


def test_prometheus_takes_https_and_custom_metric_queries():
    plan = clean_plan(
        edited(
            {
                "prometheus.url": "https://prometheus.example.com/api/",
                "prometheus.queries": {
                    "queue_depth": "max(queue_depth)",
                    "latency_ms:p99": "histogram_quantile(0.99, x)",
                },
            }
        )
    )
    assert plan["prometheus"] == {
        "url": "https://prometheus.example.com/api/",
        "queries": {
            "queue_depth": "max(queue_depth)",
            "latency_ms:p99": "histogram_quantile(0.99, x)",
        },
    }


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "150", "nan", "drift:income", "latency_ms", "realtime"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _paths(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, f"{prefix}{i}.")
    yield prefix.rstrip(".")


PATHS = [path for path in _paths(raw_plan()) if path]


@given(st.sampled_from(PATHS), JSONISH)
@EXAMPLES
def test_any_value_anywhere_gives_a_clean_plan_or_a_plan_error(path, value):
    """Never another exception, and what is accepted cleans to itself and hashes."""
    try:
        plan = clean_plan(edited({path: value}))
    except PlanError as error:
        assert str(error).endswith("."), error
        assert len(str(error)) < 600
        return
    assert clean_plan(plan) == plan
    assert content_sha256(json.loads(canonical(plan))) == content_sha256(plan)


# Against the success criteria


def test_it_names_serving_targets_looser_than_the_criteria():
    agreed = criteria(
        {"metric": "p95_latency_ms", "comparator": "<=", "target": 100},
        {"metric": "throughput_qps", "comparator": ">=", "target": 80},
    )
    assert plan_against_criteria(clean_plan(raw_plan()), agreed) == [
        "The p95 latency target of 150 ms is looser than the success criterion "
        "p95_latency_ms ≤ 100 ms.",
        "The monitoring threshold latency_ms p95 ≤ 200 ms (monitoring.metrics[1]) is looser "
        "than the success criterion p95_latency_ms ≤ 100 ms.",
        "The throughput target of 50 requests/s is looser than the success criterion "
        "throughput_qps ≥ 80 requests/s.",
    ]


def test_targets_as_strict_as_the_criteria_pass():
    agreed = criteria(
        {"metric": "p95_latency_ms", "comparator": "<=", "target": 200},
        {"metric": "throughput_qps", "comparator": ">=", "target": 50},
        {"metric": "recall", "comparator": ">=", "target": 0.8},
    )
    assert plan_against_criteria(clean_plan(raw_plan()), agreed) == []


def test_it_compares_checks_on_the_same_metric_and_statistic_in_the_same_direction():
    agreed = criteria(
        {"metric": "error_rate", "comparator": "<=", "target": 0.01},
        {
            "metric": "queue_depth",
            "category": "software",
            "source": "deployment",
            "comparator": "<=",
            "target": 100,
        },
    )
    checks = [
        {"metric": "error_rate", "comparator": "<", "threshold": 0.05},  # looser
        {"metric": "error_rate", "statistic": "max", "comparator": "<=", "threshold": 0.5},
        {"metric": "error_rate", "comparator": ">=", "threshold": 0.001},  # a floor
        {"metric": "queue_depth", "statistic": "mean", "comparator": "<=", "threshold": 150},
        {"metric": "queue_depth", "statistic": "mean", "comparator": "<", "threshold": 100},
    ]
    plan = clean_plan(edited({"checks": checks}))
    assert plan_against_criteria(plan, agreed) == [
        "The check error_rate mean < 0.05 (checks[1]) is looser than the success criterion "
        "error_rate ≤ 0.01.",
        "The check queue_depth mean ≤ 150 (checks[4]) is looser than the success criterion "
        "queue_depth ≤ 100.",
    ]


def test_provisioned_memory_is_not_a_memory_target_but_a_monitored_max_is():
    agreed = criteria({"metric": "memory_mb", "comparator": "<=", "target": 1024})
    plan = clean_plan(edited({"serving.compute.memory_mb": 4096}))
    assert plan_against_criteria(plan, agreed) == []
    watched = {"name": "memory_mb", "comparator": "<=", "threshold": 1500}
    plan = clean_plan(edited({"serving.compute.memory_mb": 4096, "monitoring.metrics.3": watched}))
    assert plan_against_criteria(plan, agreed) == [
        "The monitoring threshold memory_mb max ≤ 1,500 MB (monitoring.metrics[4]) is looser "
        "than the success criterion memory_mb ≤ 1,024 MB."
    ]


def test_a_between_criterion_is_a_floor_and_a_ceiling():
    agreed = criteria(
        {"metric": "throughput_qps", "comparator": "between", "target": 60, "target_high": 500}
    )
    looser = plan_against_criteria(clean_plan(raw_plan()), agreed)
    assert looser == [
        "The throughput target of 50 requests/s is looser than the success criterion "
        "throughput_qps between 60 and 500 requests/s."
    ]
    plan = clean_plan(edited({"serving.throughput.qps": 900}))
    assert plan_against_criteria(plan, agreed) == []


def test_batch_plans_and_other_sources_are_not_compared_with_serving_targets():
    agreed = criteria(
        {"metric": "p95_latency_ms", "comparator": "<=", "target": 1},
        {"metric": "throughput_qps", "comparator": ">=", "target": 10_000},
        {
            "metric": "live_churn",
            "category": "business",
            "source": "deployment",
            "comparator": "<=",
            "target": 0.1,
        },
    )
    plan = clean_plan(batch(**{"monitoring.metrics": [], "monitoring.alerts": []}))
    assert plan_against_criteria(plan, agreed) == []


# Monitoring gaps


def test_it_names_the_kinds_no_metric_watches():
    plan = clean_plan(raw_plan())
    assert monitoring_gaps(plan) == []
    without_input = edited({"monitoring.metrics": raw_plan()["monitoring"]["metrics"][::2]})
    assert monitoring_gaps(clean_plan(without_input)) == ["input"]
    bare = edited({"monitoring.metrics": [], "monitoring.alerts": []})
    assert monitoring_gaps(clean_plan(bare)) == ["software", "input", "output"]


# What changed


def test_equal_plans_have_no_changes():
    plan = clean_plan(raw_plan())
    assert plan_diff(plan, copy.deepcopy(plan)) == []


def test_it_says_what_changed_field_by_field():
    old = clean_plan(raw_plan())
    new = clean_plan(
        edited(
            {
                "serving.latency_ms.p95": 180,
                "serving.location": "edge",
                "monitoring.notify": ["alice"],
                "deployment_type": {"kind": "replace_ml", "replaces": "rules engine"},
                "serving.security_notes": "y" * 200,
            }
        )
    )
    assert plan_diff(old, new) == [
        "serving.location: cloud → edge",
        "serving.latency_ms.p95: 150 → 180",
        "serving.security_notes: Behind the API gateway; mTLS inside the cluster. → "
        + "y" * 79
        + "…",
        "deployment_type.kind: new_capability → replace_ml",
        "deployment_type.replaces: added rules engine",
        "monitoring.notify: alice, oncall@example.com → alice",
    ]
    assert plan_diff(new, old)[-2] == "deployment_type.replaces: removed rules engine"


def test_it_matches_checks_and_monitoring_by_what_they_are_not_where_they_stand():
    base = raw_plan()
    latency_check = {"metric": "latency_ms", "comparator": "<=", "threshold": 250}
    old = clean_plan(edited({"checks": [latency_check, *base["checks"]]}))
    metrics = base["monitoring"]["metrics"]
    new = clean_plan(
        edited(
            {
                "checks.0.threshold": 0.02,
                "monitoring.metrics": [metrics[2], metrics[0]],
                "monitoring.alerts.0.severity": "ticket",
            }
        )
    )
    assert plan_diff(old, new) == [
        "checks[1].threshold: 0.01 → 0.02",
        "checks: removed latency_ms p95 ≤ 250 ms",
        "monitoring.metrics: removed missing_value_rate mean ≤ 0.05 (input, 60 min)",
        "monitoring.metrics: order changed",
        "monitoring.alerts[1].severity: page → ticket",
    ]


def test_it_shows_a_new_pattern_whole():
    old = clean_plan(raw_plan())
    new = clean_plan(edited({"pattern": {"kind": "blue_green"}}))
    assert plan_diff(old, new) == [
        "pattern.kind: canary → blue_green",
        "pattern.environments: added blue, green",
        "pattern.window_minutes: added 30",
        "pattern.steps: removed 1 % for 30 min, 5 % for 30 min, 25 % for 60 min, "
        "50 % for 60 min, 100 % for 60 min",
    ]
    ramp = clean_plan(edited({"pattern.steps.0.traffic": 2}))
    assert plan_diff(old, ramp) == [
        "pattern.steps: 1 % for 30 min, 5 % for 30 min, 25 % for 60 min, 50 % for 60 min, "
        "100 % for 60 min → 2 % for 30 min, 5 % for 30 min, 25 % for 60 min, 50 % for 60 min, "
        "100 % for 60 min"
    ]


# For display


def test_it_summarises_a_plan_in_rows():
    rows = dict(plan_summary(clean_plan(raw_plan())))
    assert rows == {
        "Serving": "Real-time, cloud",
        "Compute": "2 CPU cores, 2,048 MB memory, GPU: none",
        "Latency targets": "p50 40 ms, p95 150 ms, p99 300 ms",
        "Throughput": "50 requests/s",
        "Logging": "request id, features, prediction; kept 90 days; personal data: hashed "
        "customer id",
        "Security": "Behind the API gateway; mTLS inside the cluster.",
        "Deployment type": "New capability",
        "Pattern": "Canary",
        "Steps": "1 % for 30 min → 5 % for 30 min → 25 % for 60 min → 50 % for 60 min → "
        "100 % for 60 min",
        "Checks": "null_output_rate mean ≤ 0.01",
        "Prometheus": "http://127.0.0.1:9090 (latency_ms, error_rate)",
        "Monitoring": "3 metrics (software, input, output); 1 drift test; 2 alerts; reviewed "
        "every 30 days",
        "Notify": "alice, oncall@example.com",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            edited({"pattern": {"kind": "canary"}}),
            [("Pattern", "Canary"), ("Steps", "1 % → 5 % → 25 % → 50 % → 100 %, 30 minutes each")],
        ),
        (
            edited({"pattern": {"kind": "blue_green", "window_minutes": 1}}),
            [("Pattern", "Blue-green, switching between blue and green"), ("Window", "1 minute")],
        ),
        (
            edited({"pattern": {"kind": "shadow", "agreement_min": 0.95, "min_cases": 2000}}),
            [
                ("Pattern", "Shadow"),
                ("Acceptance", "agreement at least 0.95 over at least 2,000 cases"),
                ("Window", "30 minutes"),
            ],
        ),
        (
            edited({"pattern": {"kind": "all_at_once", "reason": "Five internal users."}}),
            [
                ("Pattern", "All at once"),
                ("Reason", "Five internal users."),
                ("Window", "30 minutes"),
            ],
        ),
    ],
)
def test_it_summarises_each_pattern(raw, expected):
    rows = plan_summary(clean_plan(raw))
    start = [label for label, _ in rows].index("Pattern")
    assert rows[start : start + len(expected)] == expected


def test_it_summarises_batch_serving_and_a_replaced_system():
    raw = batch(
        **{
            "deployment_type": {"kind": "replace_ml", "replaces": "scorer v2"},
            "serving.compute.cpu_cores": 1,
            "serving.logging": None,
            "serving.security_notes": "",
            "monitoring.metrics": raw_plan()["monitoring"]["metrics"][:1],
            "monitoring.alerts": raw_plan()["monitoring"]["alerts"][:1],
            "monitoring.notify": [],
            "monitoring.review_cadence_days": 1,
        }
    )
    rows = dict(plan_summary(clean_plan(raw)))
    assert rows["Serving"] == "Batch, cloud"
    assert rows["Compute"] == "1 CPU core, 2,048 MB memory, GPU: none"
    assert rows["Batch runs"] == "100,000 rows per run, done within 60 minutes"
    assert rows["Deployment type"] == "Replaces an earlier ML system: scorer v2"
    assert rows["Monitoring"] == (
        "1 metric (software); 1 drift test; 1 alert; reviewed every 1 day"
    )
    assert not {"Latency targets", "Throughput", "Logging", "Security", "Notify"} & set(rows)
