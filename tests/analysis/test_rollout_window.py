"""A rollout step's window of live metrics: statistics, checks, verdicts and the shadow's
agreement, without a database."""

from __future__ import annotations

import json
import math
import statistics as pystats
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from deployments.analysis.window import (
    STATISTICS,
    Agreement,
    Analysis,
    CheckResult,
    CheckSpec,
    MetricWindow,
    Stats,
    WindowError,
    analyse,
    derive_checks,
    number_text,
    shadow_agreement,
    shadow_check,
    statistic,
    window_stats,
)

VALUES = st.lists(
    # No subnormals (below 2.2e-308): there the libraries' interpolation formulas round to
    # different ends of the float range, and no live metric is that small.
    st.floats(
        min_value=-1e6,
        max_value=1e6,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    ),
    min_size=1,
    max_size=300,
)


def percentile_cont(values, fraction):
    """PostgreSQL's percentile_cont, from its definition: interpolate between the two
    sorted values around position fraction * (n - 1)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def check(
    name="p95 latency", metric="latency_ms", stat="p95", comparator="<=", threshold=200, **more
):
    return CheckSpec(name, metric, stat, comparator, threshold, **{"unit": "ms", **more})


def pushed(metric, values, source="pushed"):
    return MetricWindow(metric, window_stats(np.asarray(values, dtype=float)), source)


def one(spec, window, seconds=3600.0) -> CheckResult:
    windows = {} if window is None else {spec.metric: window}
    return analyse([spec], windows, window_seconds=seconds).checks[0]


def result(status, name="r"):
    return CheckResult(name, "m", "mean", "<=", 1.0, "", 0.5, 10, "pushed", "", status, "")


# Statistics of a window


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_it_computes_every_statistic_like_numpy_scipy_and_percentile_cont(values):
    got = window_stats(np.array(values))
    spread = max(map(abs, values)) or 1.0
    assert got.count == len(values)
    assert got.min == min(values) and got.max == max(values)
    assert math.isclose(got.sum, math.fsum(values), rel_tol=1e-12, abs_tol=1e-9 * spread)
    assert got.mean == np.mean(values)
    assert math.isclose(got.mean, pystats.fmean(values), rel_tol=1e-12, abs_tol=1e-12 * spread)
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        value = getattr(got, name)
        assert math.isclose(value, percentile_cont(values, fraction), abs_tol=1e-9 * spread)
        assert math.isclose(
            value, scipy_stats.scoreatpercentile(values, fraction * 100), abs_tol=1e-9 * spread
        )
        assert math.isclose(value, pd.Series(values).quantile(fraction), abs_tol=1e-9 * spread)


def test_it_matches_the_reference_libraries_on_a_large_skewed_window():
    values = np.random.default_rng(3).lognormal(4.0, 0.8, 250_000)
    got = window_stats(values)
    described = scipy_stats.describe(values)
    assert got.count == described.nobs == 250_000
    assert (got.min, got.max) == tuple(described.minmax)
    assert math.isclose(got.mean, described.mean, rel_tol=1e-12)
    assert math.isclose(got.sum, math.fsum(values), rel_tol=1e-12)
    expected = scipy_stats.mstats.mquantiles(values, [0.5, 0.95, 0.99], alphap=1, betap=1)
    assert np.allclose([got.p50, got.p95, got.p99], expected, rtol=1e-12, atol=0)


def test_it_interpolates_percentiles_between_points_as_percentile_cont_does():
    got = window_stats([10, 20, 30, 40])  # positions 1.5, 2.85, 2.97 of 0..3
    assert (got.p50, got.p95, got.p99) == pytest.approx((25.0, 38.5, 39.7), abs=1e-12)
    assert (got.count, got.sum, got.mean, got.min, got.max) == (4, 100.0, 25.0, 10.0, 40.0)


def test_it_drops_nan_and_infinities_before_computing():
    got = window_stats(np.array([1.0, np.nan, 3.0, np.inf, -np.inf, 5.0]))
    assert got == window_stats(np.array([1.0, 3.0, 5.0]))
    assert (got.count, got.mean, got.p50) == (3, 3.0, 3.0)


@pytest.mark.parametrize("values", [[], np.array([]), np.array([np.nan, np.inf])])
def test_it_gives_no_statistics_for_a_window_without_values(values):
    assert window_stats(values) is None


def test_it_reads_integers_and_plain_lists_as_floats():
    got = window_stats([3, 1, 2])
    assert isinstance(got.sum, float) and isinstance(got.count, int)
    assert json.loads(json.dumps(got.as_dict())) == {
        "count": 3,
        "mean": 2.0,
        "min": 1.0,
        "max": 3.0,
        "sum": 6.0,
        "p50": 2.0,
        "p95": 2.9,
        "p99": 2.98,
    }


def test_it_reads_every_statistic_by_name_and_rate_per_second():
    s = window_stats([1.0, 2.0, 3.0, 10.0])
    expected = {
        "p50": s.p50,
        "p95": s.p95,
        "p99": s.p99,
        "mean": 4.0,
        "max": 10.0,
        "min": 1.0,
        "sum": 16.0,
        "count": 4.0,
        "rate": 16.0 / 8.0,
    }
    assert set(expected) == set(STATISTICS)
    assert {name: statistic(s, name, 8.0) for name in STATISTICS} == expected


def test_it_refuses_an_unknown_statistic_and_a_window_without_duration():
    s = window_stats([1.0])
    with pytest.raises(WindowError, match="'p90' is not one of p50, p95"):
        statistic(s, "p90", 60)
    with pytest.raises(WindowError, match="positive number of seconds, not 0"):
        statistic(s, "rate", 0)
    with pytest.raises(WindowError, match="positive number of seconds"):
        analyse([], {}, window_seconds=-1)


# Judging checks


@pytest.mark.parametrize(
    "comparator, observed, expected",
    [
        ("<=", 200, "pass"),
        ("<=", 200.01, "fail"),
        ("<", 200, "fail"),
        ("<", 199.99, "pass"),
        (">=", 200, "pass"),
        (">=", 199.99, "fail"),
        (">", 200, "fail"),
        (">", 200.01, "pass"),
    ],
)
def test_it_compares_exactly_with_no_tolerance(comparator, observed, expected):
    got = one(check(stat="max", comparator=comparator), pushed("latency_ms", [observed]))
    assert (got.status, got.observed) == (expected, observed)


def test_it_explains_a_pass_in_a_sentence_with_units_and_thousands():
    values = np.r_[np.full(1_100, 100.0), np.full(104, 182.0)]
    got = one(check(), pushed("latency_ms", values))
    assert got.status == "pass"
    assert got.reason == "p95 latency 182 ms ≤ 200 ms over 1,204 points."
    assert (got.observed, got.count, got.source) == (182.0, 1_204, "pushed")


def test_it_explains_a_failure_and_shows_no_float_noise():
    got = one(
        check("error rate", "error_rate", "mean", threshold=0.1, unit="share"),
        pushed("error_rate", [0.1, 0.2]),
    )
    assert got.observed == pytest.approx(0.15) and got.observed != 0.15  # 0.15000000000000002
    assert got.reason == "error rate 0.15 misses ≤ 0.10 over 2 points."


def test_it_shows_more_digits_when_rounding_would_hide_a_near_miss():
    got = one(check(stat="max"), pushed("latency_ms", [200.0004]))
    assert got.status == "fail"
    assert got.reason == "p95 latency 200.0004 ms misses ≤ 200 ms over 1 point."


def test_it_rounds_observed_values_to_four_significant_digits_but_keeps_whole_parts():
    got = one(check(stat="mean", threshold=10), pushed("latency_ms", [1.23456789]))
    assert got.reason == "p95 latency 1.235 ms ≤ 10 ms over 1 point."
    big = one(check(stat="sum", comparator=">=", threshold=1), pushed("latency_ms", [1234567.89]))
    assert big.reason == "p95 latency 1,234,568 ms ≥ 1 ms over 1 point."


def test_it_judges_a_rate_per_second_of_the_window():
    spec = CheckSpec("rows per second", "input_volume", "rate", ">=", 3, unit="rows/s")
    got = analyse([spec], {"input_volume": pushed("input_volume", [900, 900])}, window_seconds=600)
    assert got.checks[0].observed == 3.0 and got.checks[0].status == "pass"
    assert got.checks[0].reason == "rows per second 3 rows/s ≥ 3 rows/s over 2 points."


def test_it_is_inconclusive_when_no_source_gives_the_metric():
    got = one(check(), None)
    assert (got.status, got.observed, got.count, got.source) == ("inconclusive", None, 0, "")
    assert got.reason == (
        "No source gives latency_ms (no pushed points, no Prometheus query): "
        "inconclusive, never a pass."
    )


def test_it_is_inconclusive_when_the_window_holds_no_points():
    got = one(check(), MetricWindow("latency_ms", None, "pushed"))
    assert got.status == "inconclusive"
    assert got.reason == "No latency_ms points in the window: inconclusive, never a pass."


def test_it_is_inconclusive_when_the_source_failed_even_with_points():
    window = MetricWindow(
        "latency_ms",
        window_stats([1.0, 2.0]),
        "prometheus: histogram_quantile(0.95, rate(x[5m]))",
        error="Prometheus unreachable: connection refused at 127.0.0.1:9090.",
    )
    got = one(check(), window)
    assert got.status == "inconclusive" and got.source.startswith("prometheus: ")
    assert (
        got.reason == "Prometheus unreachable: connection refused at 127.0.0.1:9090 — inconclusive."
    )


def test_it_is_inconclusive_below_the_minimum_points_and_judges_at_it():
    few = one(check(min_points=20), pushed("latency_ms", [100.0] * 3))
    assert few.status == "inconclusive" and few.observed is None and few.count == 3
    assert few.reason == "Only 3 latency_ms points, fewer than the 20 required: inconclusive."
    one_short = one(check(min_points=20), pushed("latency_ms", [100.0] * 19))
    assert one_short.status == "inconclusive"
    enough = one(check(min_points=20), pushed("latency_ms", [100.0] * 20))
    assert enough.status == "pass"


def test_it_is_inconclusive_when_the_statistic_is_not_finite():
    got = one(check(stat="sum", threshold=1), pushed("latency_ms", [1e308, 1e308]))
    assert got.status == "inconclusive" and got.count == 2  # finite points, kept
    assert got.reason == "The sum of latency_ms is not a finite number (inf): inconclusive."


def test_it_refuses_a_check_it_could_not_judge():
    for kwargs, message in [
        ({"stat": "p90"}, "p95 latency: statistic 'p90' is not one of"),
        ({"comparator": "=="}, "p95 latency: comparator '==' is not one of"),
        ({"threshold": math.nan}, "the threshold must be a finite number"),
        ({"threshold": True}, "the threshold must be a finite number"),
        ({"min_points": 0}, "the minimum number of points is a whole number ≥ 1"),
        ({"name": " "}, "Give every check a name"),
    ]:
        with pytest.raises(WindowError, match=message):
            check(**kwargs)


def test_it_judges_a_series_of_the_statistic_at_each_moment_on_its_mean():
    # Prometheus's histogram_quantile gives the p95 of each moment: the p95 check reads
    # the mean of that series, the p50 check (no series of its own) the metric's values.
    moments = [100.0, 120.0, 170.0]
    windows = {
        "latency_ms:p95": pushed("latency_ms:p95", moments, "prometheus: q95"),
        "latency_ms": pushed("latency_ms", [40.0, 50.0, 60.0], "prometheus: q"),
    }
    checks = [check(threshold=125), check("p50 latency", stat="p50", threshold=55)]
    p95, p50 = analyse(checks, windows, window_seconds=60).checks
    assert (p95.status, p95.observed, p95.source) == ("fail", 130.0, "prometheus: q95")
    assert p95.reason == (
        "p95 latency 130 ms misses ≤ 125 ms averaged over 3 points of the p95 at each moment."
    )
    assert (p50.status, p50.observed, p50.source) == ("pass", 50.0, "prometheus: q")
    assert p50.reason == "p50 latency 50 ms ≤ 55 ms over 3 points."
    # Without a series of its own or of the metric, a check is inconclusive.
    only = {"latency_ms:p95": windows["latency_ms:p95"]}
    alone = analyse([check(stat="p99")], only, window_seconds=60).checks[0]
    assert alone.status == "inconclusive"


# The step's outcome


def test_it_passes_only_when_every_check_passed_on_data():
    checks = [check(), check("p99 latency", stat="p99", threshold=300)]
    got = analyse(checks, {"latency_ms": pushed("latency_ms", [100.0] * 50)}, window_seconds=60)
    assert (got.outcome, got.summary) == ("pass", "All 2 checks passed.")
    single = analyse(checks[:1], {"latency_ms": pushed("latency_ms", [1.0])}, window_seconds=60)
    assert (single.outcome, single.summary) == ("pass", "The check passed.")


def test_it_fails_when_any_check_fails_even_with_others_inconclusive():
    checks = [check(), check("error rate", "error_rate", "mean", threshold=0.01, unit="share")]
    windows = {"latency_ms": pushed("latency_ms", [500.0])}
    got = analyse(checks, windows, window_seconds=60)
    assert [c.status for c in got.checks] == ["fail", "inconclusive"]
    assert got.outcome == "fail"
    assert got.summary == "1 of 2 checks failed: p95 latency. 1 could not be judged: error rate."
    assert got.failed == got.checks[:1] and got.inconclusive == got.checks[1:]


def test_it_is_inconclusive_when_a_check_is_and_none_failed():
    checks = [check(), check("error rate", "error_rate", "mean", threshold=0.01, unit="share")]
    got = analyse(checks, {"latency_ms": pushed("latency_ms", [1.0])}, window_seconds=60)
    assert got.outcome == "inconclusive"
    assert got.summary == (
        "1 of 2 checks could not be judged (error rate): inconclusive, never a pass."
    )


def test_it_is_inconclusive_with_nothing_to_check():
    got = analyse([], {"latency_ms": pushed("latency_ms", [1.0])}, window_seconds=60)
    assert (got.outcome, got.checks) == ("inconclusive", ())
    assert got.summary == "No checks to judge: inconclusive, never a pass."


@pytest.mark.parametrize(
    "statuses, outcome",
    [(["pass"], "pass"), (["inconclusive"], "inconclusive"), (["fail"], "fail")],
)
def test_it_counts_results_judged_elsewhere_in_the_outcome(statuses, outcome):
    windows = {"latency_ms": pushed("latency_ms", [1.0])}
    judged = [result(s, "shadow agreement") for s in statuses]
    got = analyse([check()], windows, window_seconds=60, judged=judged)
    assert got.outcome == outcome and got.checks[1:] == tuple(judged)


def test_it_records_the_window_as_plain_json():
    windows = {
        "latency_ms": pushed("latency_ms", [120.0, 180.0]),
        "error_rate": MetricWindow("error_rate", None, "prometheus: q", error="PromQL: bad"),
    }
    got = analyse(
        [check()],
        windows,
        window_seconds=1800,
        window_start=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        window_end="2025-03-01T12:30:00+00:00",
    )
    data = got.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # lists, not tuples
    assert data["window_start"] == "2025-03-01T12:00:00+00:00"
    assert data["window_end"] == "2025-03-01T12:30:00+00:00"
    assert [w["metric"] for w in data["windows"]] == ["error_rate", "latency_ms"]
    assert data["windows"][0] == {
        "metric": "error_rate",
        "stats": None,
        "source": "prometheus: q",
        "error": "PromQL: bad",
    }
    assert data["windows"][1]["stats"]["p95"] == pytest.approx(177.0)
    assert data["checks"][0]["status"] == "pass" and data["outcome"] == "pass"
    assert set(data) == {f for f in Analysis.__dataclass_fields__}


def test_it_refuses_a_window_bound_without_a_time_zone():
    with pytest.raises(WindowError, match="must carry its time zone"):
        analyse([], {}, window_seconds=60, window_start=datetime(2025, 3, 1))


# The checks of a step

PLAN = {
    "serving": {
        "mode": "realtime",
        "latency_ms": {"p50": 40, "p95": 150, "p99": 300},
        "throughput": {"qps": 50},
    },
    "checks": [
        {
            "metric": "null_output_rate",
            "statistic": "mean",
            "comparator": "<=",
            "threshold": 0.01,
            "min_points": 10,
        },
        {"metric": "basket_size", "statistic": "rate", "comparator": ">=", "threshold": 2},
        {"metric": "input_volume", "statistic": "count", "comparator": ">=", "threshold": 100},
    ],
    "monitoring": {"metrics": [{"name": "basket_size", "kind": "output", "unit": "items"}]},
}


def criterion(metric, comparator, target, unit, target_high=None, **more):
    return {
        "metric": metric,
        "category": "software",
        "source": "deployment",
        "comparator": comparator,
        "target": target,
        "target_high": target_high,
        "unit": unit,
        "rationale": "Agreed with the service owners.",
        **more,
    }


CRITERIA = [
    criterion("p95_latency_ms", "<=", 200.0, "ms"),
    criterion("recall", ">=", 0.8, "score", category="ml", source="evaluation"),
    criterion("throughput_qps", ">=", 100.0, "requests/s"),
    criterion("error_rate", "between", 0.001, "share", target_high=0.02),
    criterion("memory_mb", "<=", 2048.0, "MB"),
    criterion("queue_depth", "<=", 30.0, "jobs"),
    criterion("revenue_per_user", ">=", 3.0, "EUR", category="business"),
]


def test_it_derives_the_checks_of_a_step_from_plan_and_criteria():
    got = [
        (c.name, c.metric, c.statistic, c.comparator, c.threshold, c.unit, c.min_points, c.origin)
        for c in derive_checks(PLAN, CRITERIA, traffic=5, min_points=20)
    ]
    scaled = "scaled to the step's 5% of traffic"
    assert got == [
        ("p50 latency", "latency_ms", "p50", "<=", 40.0, "ms", 20, "plan: serving.latency_ms.p50"),
        ("p95 latency", "latency_ms", "p95", "<=", 150.0, "ms", 20, "plan: serving.latency_ms.p95"),
        ("p99 latency", "latency_ms", "p99", "<=", 300.0, "ms", 20, "plan: serving.latency_ms.p99"),
        (
            "throughput",
            "throughput_qps",
            "mean",
            ">=",
            2.5,
            "requests/s",
            20,
            f"plan: serving.throughput.qps = 50 requests/s, {scaled}",
        ),
        (
            "95th-percentile latency",
            "latency_ms",
            "p95",
            "<=",
            200.0,
            "ms",
            20,
            "criterion: p95_latency_ms ≤ 200 ms",
        ),
        (
            "throughput",
            "throughput_qps",
            "mean",
            ">=",
            5.0,
            "requests/s",
            20,
            f"criterion: throughput_qps ≥ 100 requests/s, {scaled}",
        ),
        (
            "error rate (lower bound)",
            "error_rate",
            "mean",
            ">=",
            0.001,
            "share",
            20,
            "criterion: error_rate between 0.001 and 0.02",
        ),
        (
            "error rate (upper bound)",
            "error_rate",
            "mean",
            "<=",
            0.02,
            "share",
            20,
            "criterion: error_rate between 0.001 and 0.02",
        ),
        ("memory", "memory_mb", "max", "<=", 2048.0, "MB", 20, "criterion: memory_mb ≤ 2,048 MB"),
        (
            "queue depth",
            "queue_depth",
            "mean",
            "<=",
            30.0,
            "jobs",
            20,
            "criterion: queue_depth ≤ 30 jobs",
        ),
        (
            "mean null-output rate",
            "null_output_rate",
            "mean",
            "<=",
            0.01,
            "share",
            10,
            "plan: checks[0]",
        ),
        (
            "basket size per second",
            "basket_size",
            "rate",
            ">=",
            2.0,
            "items/s",
            1,
            "plan: checks[1]",
        ),
        (
            "number of input volume points",
            "input_volume",
            "count",
            ">=",
            100.0,
            "",
            1,
            "plan: checks[2]",
        ),
    ]


def test_it_scales_nothing_at_full_traffic_and_avoids_float_noise_when_scaling():
    full = {c.origin: c.threshold for c in derive_checks(PLAN, CRITERIA, traffic=100)}
    assert full["plan: serving.throughput.qps"] == 50.0
    assert full["criterion: throughput_qps ≥ 100 requests/s"] == 100.0
    noisy = {"serving": {"throughput": {"qps": 0.1}}}
    assert (
        derive_checks(noisy, [], traffic=30)[0].threshold == 0.03
    )  # 0.1 * 0.3 = 0.030000000000000002


def test_it_derives_only_what_a_batch_plan_states():
    plan = {"serving": {"mode": "batch", "throughput": {"rows_per_run": 100_000}}}
    assert derive_checks(plan, [], traffic=100) == []
    got = derive_checks(plan, CRITERIA[4:5], traffic=100)
    assert [(c.metric, c.statistic, c.threshold) for c in got] == [("memory_mb", "max", 2048.0)]


def test_it_judges_a_canary_step_end_to_end():
    checks = derive_checks(PLAN, CRITERIA[:1], traffic=5)
    rng = np.random.default_rng(0)
    windows = {
        "latency_ms": pushed("latency_ms", rng.uniform(10, 60, 2_000)),
        "throughput_qps": pushed("throughput_qps", [2.4, 2.6, 2.7]),
        "null_output_rate": pushed("null_output_rate", [0.0] * 12),
        "basket_size": pushed("basket_size", [3_000.0, 4_000.0]),
        "input_volume": pushed("input_volume", [1.0] * 120),
    }
    got = analyse(checks, windows, window_seconds=1800)
    assert {c.name: c.status for c in got.checks} == {
        "p50 latency": "pass",
        "p95 latency": "pass",
        "p99 latency": "pass",
        "throughput": "pass",
        "95th-percentile latency": "pass",
        "mean null-output rate": "pass",
        "basket size per second": "pass",
        "number of input volume points": "pass",
    }
    assert got.outcome == "pass"
    rate = next(c for c in got.checks if c.statistic == "rate")
    assert rate.reason == "basket size per second 3.889 items/s ≥ 2 items/s over 2 points."


def test_it_refuses_a_step_traffic_or_plan_check_it_cannot_use():
    with pytest.raises(WindowError, match="percentage above 0 and at most 100, not 0"):
        derive_checks(PLAN, [], traffic=0)
    with pytest.raises(WindowError, match="not 150"):
        derive_checks(PLAN, [], traffic=150)
    bad = {"checks": [{"metric": "x", "statistic": "median", "comparator": "<=", "threshold": 1}]}
    with pytest.raises(
        WindowError, match=r"^Plan check 1: median x: statistic 'median' is not one of"
    ):
        derive_checks(bad, [], traffic=5)


# Shadow deployments

SEGMENTS = st.lists(
    st.tuples(st.booleans(), st.sampled_from(["web", "mobile", "tablet", "kiosk"])),
    min_size=1,
    max_size=400,
)


@settings(max_examples=150, deadline=None)
@given(SEGMENTS)
def test_it_measures_agreement_per_segment_like_a_pandas_groupby(cases):
    agree = np.array([a for a, _ in cases])
    segments = [s for _, s in cases]
    got = shadow_agreement(agree, segments)
    frame = pd.DataFrame({"agree": agree, "segment": segments})
    grouped = frame.groupby("segment")["agree"].agg(["mean", "size"])
    assert got.rate == frame["agree"].mean() and got.cases == len(cases)
    assert got.per_segment == tuple(
        (segment, row["mean"], row["size"]) for segment, row in grouped.iterrows()
    )


def test_it_gives_missing_segments_a_segment_of_their_own():
    got = shadow_agreement([True, False, True, True], ["web", None, "web", np.nan])
    assert got == Agreement(0.75, 4, (("(missing)", 0.5, 2), ("web", 1.0, 2)))


def test_it_measures_agreement_without_segments_and_without_cases():
    assert shadow_agreement(np.array([1, 0, 1, 1])) == Agreement(0.75, 4, ())
    assert shadow_agreement(np.array([], dtype=bool)) == Agreement(None, 0, ())


def test_it_refuses_agreement_it_cannot_read():
    with pytest.raises(WindowError, match="one true or false per case"):
        shadow_agreement(np.array([0.5, 1.0]))
    with pytest.raises(WindowError, match="3 segments given for 2 cases"):
        shadow_agreement([True, False], ["a", "b", "c"])


def agreement(per_segment):
    cases = sum(n for _, _, n in per_segment)
    rate = sum(r * n for _, r, n in per_segment) / cases
    return Agreement(rate, cases, tuple(per_segment))


def test_it_is_inconclusive_without_enough_shadow_cases():
    none = shadow_check(None, agreement_min=0.9, min_cases=500)
    assert (none.status, none.observed, none.count) == ("inconclusive", None, 0)
    assert none.reason == "No shadow cases in the window: inconclusive, never a pass."
    few = shadow_check(agreement([("web", 1.0, 120)]), agreement_min=0.9, min_cases=500)
    assert few.status == "inconclusive"
    assert few.reason == "Only 120 shadow cases, fewer than the 500 required: inconclusive."


def test_it_fails_below_the_floor_naming_the_worst_segments_first():
    data = agreement(
        [
            ("kiosk", 0.95, 100),
            ("mobile", 0.61, 212),
            ("tablet", 0.80, 90),
            ("tv", 0.80, 300),
            ("watch", 0.70, 50),
            ("web", 0.90, 452),
        ]
    )
    got = shadow_check(data, agreement_min=0.9, min_cases=500, worst=3)
    assert got.status == "fail" and got.count == 1_204
    assert got.reason == (
        "Shadow agreement 0.8124 misses ≥ 0.90 over 1,204 cases; lowest: mobile 0.61 "
        "(212 cases), watch 0.70 (50 cases), tv 0.80 (300 cases) and 1 more."
    )


def test_it_passes_at_the_floor_and_notes_segments_below_it():
    data = Agreement(0.92, 1_000, (("mobile", 0.8, 200), ("web", 0.95, 800)))
    got = shadow_check(data, agreement_min=0.92, min_cases=500)
    assert (got.status, got.observed, got.count) == ("pass", 0.92, 1_000)
    assert got.reason == (
        "Shadow agreement 0.92 ≥ 0.92 over 1,000 cases; below it: mobile 0.80 (200 cases)."
    )
    assert shadow_check(
        agreement([("web", 0.93, 600)]), agreement_min=0.93, min_cases=1
    ).reason == ("Shadow agreement 0.93 ≥ 0.93 over 600 cases.")


def test_it_counts_the_shadow_in_the_step_outcome():
    failing = shadow_check(agreement([("web", 0.5, 600)]), agreement_min=0.9, min_cases=500)
    windows = {"latency_ms": pushed("latency_ms", [1.0])}
    got = analyse([check()], windows, window_seconds=60, judged=[failing])
    assert got.outcome == "fail" and got.summary.endswith("failed: shadow agreement.")


def test_it_refuses_a_floor_outside_zero_to_one():
    with pytest.raises(WindowError, match="between 0 and 1, not 90"):
        shadow_check(None, agreement_min=90, min_cases=500)
    with pytest.raises(WindowError, match="whole number ≥ 1, not 0"):
        shadow_check(None, agreement_min=0.9, min_cases=0)


# Numbers for people


@pytest.mark.parametrize(
    "value, text",
    [
        (1204, "1,204"),
        (0.1 + 0.2, "0.30"),
        (0.005, "0.005"),
        (-2500.5, "-2,500.50"),
        (1e-7, "1e-07"),
    ],
)
def test_it_writes_numbers_as_people_do(value, text):
    assert number_text(value) == text


def test_it_keeps_stats_frozen():
    with pytest.raises(AttributeError):
        window_stats([1.0]).count = 2  # type: ignore[misc]
    assert Stats.__dataclass_params__.frozen


def test_it_reads_labels_and_units_of_extra_checks_from_the_metric_catalog():
    plan = {
        "checks": [
            {
                "metric": "image_brightness",
                "statistic": "mean",
                "comparator": ">=",
                "threshold": 40,
            },
            {"metric": "cpu_percent", "statistic": "p95", "comparator": "<", "threshold": 80},
            {
                "metric": "latency_ms",
                "statistic": "max",
                "comparator": "<=",
                "threshold": 900,
                "name": "slowest request",
            },
        ]
    }
    checks = derive_checks(plan, [], traffic=100)
    assert [(c.name, c.unit) for c in checks] == [
        ("mean image brightness (0-255)", ""),
        ("p95 CPU use", "%"),
        ("slowest request", "ms"),
    ]
    windows = {
        "image_brightness": pushed("image_brightness", [100.0, 140.0]),
        "cpu_percent": pushed("cpu_percent", [42.0]),
        "latency_ms": pushed("latency_ms", [950.0]),
    }
    got = analyse(checks, windows, window_seconds=60)
    assert [c.reason for c in got.checks] == [
        "mean image brightness (0-255) 120 ≥ 40 over 2 points.",
        "p95 CPU use 42% < 80% over 1 point.",
        "slowest request 950 ms misses ≤ 900 ms over 1 point.",
    ]
