"""Success criteria: validation, assessment and versions, without a database."""

from __future__ import annotations

import math
import re

import pytest

from projects.analysis.criteria import (
    CATALOG,
    MAX_CRITERIA,
    NOT_DEPLOYED,
    Change,
    CriteriaError,
    Measurement,
    assess,
    canonical,
    clean_criteria,
    clean_criterion,
    content_sha256,
    diff,
    target_text,
)
from projects.analysis.criteria_templates import TEMPLATES, template_criteria
from projects.analysis.metrics import HIGHER_IS_BETTER, METRIC_LABELS

WHY = "The pilot users agreed this is where the model becomes worth using."


def raw(metric="recall", comparator=">=", target=0.8, **more):
    return {"metric": metric, "comparator": comparator, "target": target, "rationale": WHY, **more}


def cleaned(*args, **kwargs):
    return clean_criterion(raw(*args, **kwargs))


# The catalog and the templates


def test_it_catalogs_every_metric_the_portal_computes_with_its_direction():
    for key, label in METRIC_LABELS.items():
        spec = CATALOG[key]
        assert (spec.label, spec.category) == (label, "ml")
        assert spec.higher_is_better is HIGHER_IS_BETTER[key]
        assert spec.sources == ("evaluation", "baseline")
    assert CATALOG["p95_latency_ms"].sources == ("deployment",)
    assert CATALOG["equalized_odds_difference"].higher_is_better is False
    assert {spec.category for spec in CATALOG.values()} == {"ml", "software", "business"}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_it_cleans_every_template(name):
    criteria = clean_criteria(TEMPLATES[name])
    assert len(criteria) == len(TEMPLATES[name]) >= 4
    assert all(len(c["rationale"]) >= 30 for c in criteria)
    assert template_criteria(name) == criteria


def test_it_refuses_an_unknown_template():
    with pytest.raises(CriteriaError, match="Unknown template 'fraud'; choose from"):
        template_criteria("fraud")


# Cleaning one criterion


def test_it_fills_defaults_from_the_catalog():
    assert cleaned() == {
        "metric": "recall",
        "category": "ml",
        "source": "evaluation",
        "comparator": ">=",
        "target": 0.8,
        "target_high": None,
        "unit": "score",
        "rationale": WHY,
    }
    latency = cleaned("p95_latency_ms", "<=", 250)
    assert (latency["source"], latency["unit"], latency["target"]) == ("deployment", "ms", 250.0)
    assert isinstance(latency["target"], float)


@pytest.mark.parametrize("text", ["0.8", " 0.8 ", "8e-1"])
def test_it_accepts_numeric_strings(text):
    assert cleaned(target=text)["target"] == 0.8


def test_it_accepts_a_numeric_upper_bound_as_text():
    criterion = cleaned("error_rate", "between", "0.01", target_high="0.05")
    assert (criterion["target"], criterion["target_high"]) == (0.01, 0.05)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("abc", "Recall: the target 'abc' is not a number."),
        (True, "Recall: the target 'True' is not a number."),
        ([0.8], r"Recall: the target '\[0.8\]' is not a number."),
        (math.nan, "Recall: the target must be a finite number, not nan."),
        ("inf", "Recall: the target must be a finite number, not inf."),
        (-math.inf, "Recall: the target must be a finite number, not -inf."),
        (None, "Recall: give the target."),
        ("  ", "Recall: give the target."),
    ],
)
def test_it_refuses_a_target_that_is_not_a_finite_number(target, message):
    with pytest.raises(CriteriaError, match=f"^{message}$"):
        cleaned(target=target)


@pytest.mark.parametrize(
    ("metric", "comparator", "message"),
    [
        ("mae", ">=", "Mean absolute error is better when lower; use <= or between, not >=."),
        ("p95_latency_ms", ">=", "95th-percentile latency is better when lower; use <= or"),
        ("recall", "<=", "Recall is better when higher; use >= or between, not <=."),
        ("throughput_qps", "<=", "Throughput is better when higher; use >= or between"),
        ("recall", ">", "Comparator '>' is not one of >=, <=, between."),
    ],
)
def test_it_refuses_a_comparator_that_does_not_fit_the_metric(metric, comparator, message):
    with pytest.raises(CriteriaError, match=message):
        cleaned(metric, comparator, 5)


def test_between_fits_any_direction_and_custom_metrics_take_any_comparator():
    assert cleaned("mae", "between", 1, target_high=2)["comparator"] == "between"
    assert cleaned("recall", "between", 0.7, target_high=0.9)["target_high"] == 0.9
    for comparator in (">=", "<="):
        custom = cleaned("churn_rate", comparator, 0.1, category="business")
        assert (custom["source"], custom["unit"]) == ("business", "")


def test_it_refuses_an_unknown_source_or_one_the_metric_does_not_allow():
    with pytest.raises(CriteriaError, match="Source 'survey' is not one of evaluation, audit"):
        cleaned(source="survey")
    with pytest.raises(CriteriaError, match="Recall comes from evaluation or baseline, not from"):
        cleaned(source="deployment")
    with pytest.raises(CriteriaError, match="latency comes from deployment, not from evaluation"):
        cleaned("p95_latency_ms", "<=", 250, source="evaluation")
    with pytest.raises(CriteriaError, match="comes from business or deployment, not from audit"):
        cleaned("churn_rate", "<=", 0.1, category="business", source="audit")


@pytest.mark.parametrize(
    ("metric", "comparator", "target", "more"),
    [
        ("recall", ">=", 1.2, {}),
        ("accuracy", ">=", -0.1, {}),
        ("roc_auc", "between", 0.7, {"target_high": 1.5}),
        ("demographic_parity_difference", "<=", 1.5, {}),
        ("error_rate", "<=", 2, {}),
        ("conversion_rate", ">=", 3, {}),
        ("recall", ">=", 1.1, {"source": "baseline"}),
        ("ctr", ">=", 4, {"category": "business", "unit": "share"}),
    ],
)
def test_it_keeps_rates_between_0_and_1(metric, comparator, target, more):
    with pytest.raises(CriteriaError, match="must lie between 0 and 1"):
        cleaned(metric, comparator, target, **more)


def test_it_suggests_the_fraction_for_a_percentage():
    with pytest.raises(CriteriaError, match=r"between 0 and 1 \(for 80% give 0.8\)\.$"):
        cleaned(target=80)


def test_unbounded_metrics_take_any_finite_target():
    assert cleaned("r2", ">=", -0.5)["target"] == -0.5
    assert cleaned("mae", "<=", 1200)["target"] == 1200
    assert cleaned("revenue", ">=", 2_500_000, unit="EUR")["unit"] == "EUR"


def test_a_baseline_target_is_a_margin_that_follows_the_direction():
    assert cleaned(target=0, source="baseline")["target"] == 0.0
    assert cleaned("mae", "<=", 0.5, source="baseline")["comparator"] == "<="
    with pytest.raises(CriteriaError, match="a baseline margin cannot be negative; give 0 to"):
        cleaned(target=-0.02, source="baseline")
    with pytest.raises(CriteriaError, match="Mean absolute error: a baseline-relative target"):
        cleaned("mae", ">=", 0.5, source="baseline")
    with pytest.raises(CriteriaError, match="use >=, not between"):
        cleaned(target=0.01, source="baseline", comparator="between", target_high=0.05)


def test_it_checks_the_upper_bound():
    with pytest.raises(CriteriaError, match="Recall: give the upper bound"):
        cleaned(comparator="between", target=0.7)
    with pytest.raises(CriteriaError, match="the upper bound must be above the target"):
        cleaned(comparator="between", target=0.7, target_high=0.7)
    with pytest.raises(CriteriaError, match="target_high is only for the 'between' comparator"):
        cleaned(target_high=0.9)
    assert cleaned(target_high="")["target_high"] is None


def test_it_checks_categories():
    assert cleaned(category="ml")["category"] == "ml"
    with pytest.raises(CriteriaError, match=re.escape("Recall is an ML metric, not business.")):
        cleaned(category="business")
    with pytest.raises(CriteriaError, match="Category 'finance' is not one of ml, software"):
        cleaned(category="finance")
    with pytest.raises(CriteriaError, match="Custom metric churn_rate: say whether it is an ml"):
        cleaned("churn_rate", "<=", 0.1)
    assert cleaned("churn_rate", "<=", 0.1, category="business")["category"] == "business"


@pytest.mark.parametrize("metric", ["Churn Rate", "churn-rate", "_churn", "a" * 61, 7])
def test_it_refuses_a_custom_metric_name_that_is_not_lowercase_words(metric):
    with pytest.raises(CriteriaError, match="a custom metric is named in lowercase words"):
        cleaned(metric, "<=", 0.1, category="business")


def test_it_refuses_unknown_fields_and_missing_parts():
    with pytest.raises(CriteriaError, match="Unknown criterion fields: owner, weight; the fields"):
        clean_criterion({**raw(), "weight": 2, "owner": "olivia"})
    with pytest.raises(CriteriaError, match="Name the metric"):
        clean_criterion({**raw(), "metric": " "})
    with pytest.raises(CriteriaError, match="Recall: write why this target means success"):
        clean_criterion({**raw(), "rationale": "   "})
    with pytest.raises(CriteriaError, match="Each criterion must map its fields"):
        clean_criterion(["recall", ">=", 0.8])  # type: ignore[arg-type]


def test_it_keeps_catalog_units_except_currencies_and_own_units():
    with pytest.raises(CriteriaError, match="95th-percentile latency is measured in ms; keep"):
        cleaned("p95_latency_ms", "<=", 0.25, unit="s")
    assert cleaned("mae", "<=", 12, unit="units")["unit"] == "units"
    assert cleaned("cost_per_prediction", "<=", 0.01)["unit"] == "currency"


# Cleaning a set


def test_it_needs_one_to_fifty_criteria():
    with pytest.raises(CriteriaError, match=re.escape("Agree at least one success criterion.")):
        clean_criteria([])
    too_many = [raw(f"metric_{i}", "<=", 1, category="business") for i in range(MAX_CRITERIA + 1)]
    with pytest.raises(
        CriteriaError, match=re.escape("Agree at most 50 criteria; this set has 51.")
    ):
        clean_criteria(too_many)
    assert len(clean_criteria(too_many[:MAX_CRITERIA])) == MAX_CRITERIA
    with pytest.raises(CriteriaError, match="Success criteria are a list"):
        clean_criteria(raw())  # type: ignore[arg-type]


def test_it_refuses_a_duplicate_and_says_which():
    criteria = [raw(), raw("mae", "<=", 3), raw(target=0.9)]
    with pytest.raises(
        CriteriaError, match="Criterion 3: recall from evaluation with >= is already agreed"
    ):
        clean_criteria(criteria)
    # The same metric from another source, or with another comparator, is another criterion.
    assert len(clean_criteria([raw(), raw(source="baseline", target=0.02)])) == 2
    assert len(clean_criteria([raw(), raw(comparator="between", target_high=0.95)])) == 2


def test_it_names_the_criterion_that_fails():
    with pytest.raises(CriteriaError, match=r"^Criterion 2: Recall: the target 'x' is not"):
        clean_criteria([raw(), raw(target="x")])


# Assessment


@pytest.mark.parametrize(("value", "status"), [(0.81, "met"), (0.8, "met"), (0.7999999, "not_met")])
def test_at_least_includes_the_target_and_compares_exactly(value, status):
    outcome = assess(cleaned(), Measurement(value, evidence="evaluation 12"))
    assert (outcome.status, outcome.value, outcome.target_text) == (status, value, "≥ 0.80")
    verb = "meets" if status == "met" else "misses"
    assert outcome.detail.startswith(f"Measured {value}") and f"{verb} ≥ 0.80." in outcome.detail
    assert outcome.detail.endswith("Evidence: evaluation 12")


@pytest.mark.parametrize(("value", "status"), [(180, "met"), (250, "met"), (250.5, "not_met")])
def test_at_most_includes_the_target(value, status):
    criterion = cleaned("mae", "<=", 250, unit="ms")
    outcome = assess(criterion, Measurement(value))
    assert (outcome.status, outcome.target_text) == (status, "≤ 250 ms")


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.01, "not_met"), (0.02, "met"), (0.035, "met"), (0.05, "met"), (0.0500001, "not_met")],
)
def test_between_is_inclusive(value, status):
    criterion = cleaned("ctr", "between", 0.02, target_high=0.05, category="business")
    outcome = assess(criterion, Measurement(value, evidence="Q3 dashboard"))
    assert (outcome.status, outcome.target_text) == (status, "between 0.02 and 0.05")
    assert outcome.detail.startswith(f"Measured {value}")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.894181480506, "0.894"), (0.12, "0.12"), (1234.5678, "1,230"), (0.8496, "0.8496")],
)
def test_the_detail_rounds_the_measure_for_reading_but_never_onto_the_target(value, shown):
    outcome = assess(cleaned("roc_auc", ">=", 0.85), Measurement(value))
    assert outcome.detail.startswith(f"Measured {shown}, which ")
    assert outcome.value == value  # the stored figure keeps full precision


def test_a_baseline_target_adds_the_margin_to_the_best_baseline():
    criterion = cleaned(target=0.02, source="baseline")
    outcome = assess(criterion, Measurement(0.81), baseline=0.79)
    # 0.79 + 0.02 is 0.8100000000000001 in floats; the margin is added in decimal.
    assert (outcome.status, outcome.target_text) == ("met", "≥ best baseline + 0.02 (0.81)")
    assert assess(criterion, Measurement(0.8), baseline=0.79).status == "not_met"


def test_a_lower_is_better_baseline_target_subtracts_the_margin():
    criterion = cleaned("mae", "<=", 0.5, source="baseline")
    outcome = assess(criterion, Measurement(3.5), baseline=4.0)
    assert (outcome.status, outcome.target_text) == ("met", "≤ best baseline - 0.50 (3.50)")
    assert assess(criterion, Measurement(3.6), baseline=4.0).status == "not_met"


def test_a_baseline_target_without_a_baseline_is_not_measured():
    outcome = assess(cleaned(target=0.02, source="baseline"), Measurement(0.9))
    assert outcome.status == "not_measured"
    assert outcome.value is None
    assert outcome.detail == "no baseline of recall on record"
    assert outcome.target_text == "≥ best baseline + 0.02"


def test_a_deployment_metric_is_not_measured_before_deployment():
    outcome = assess(cleaned("p95_latency_ms", "<=", 250), Measurement(None))
    assert (outcome.status, outcome.detail) == ("not_measured", NOT_DEPLOYED)
    assert outcome.detail == "measured in production once the model is deployed"
    why = "measured by the analysis that finishes the rollout"
    outcome = assess(cleaned("p95_latency_ms", "<=", 250), Measurement(None, reason=why))
    assert (outcome.status, outcome.detail) == ("not_measured", why)


@pytest.mark.parametrize(("value", "status"), [(250.0, "met"), (250.5, "not_met")])
def test_a_deployment_metric_is_judged_once_measured(value, status):
    measured = Measurement(value, evidence="analysis 7, which finished rollout 2")
    outcome = assess(cleaned("p95_latency_ms", "<=", 250), measured)
    assert (outcome.status, outcome.value) == (status, value)
    assert outcome.detail.endswith("Evidence: analysis 7, which finished rollout 2")


def test_a_missing_value_is_not_measured_with_its_reason():
    outcome = assess(cleaned(), Measurement(None, reason="no evaluation of the candidate model"))
    assert (outcome.status, outcome.value) == ("not_measured", None)
    assert outcome.detail == "no evaluation of the candidate model"
    assert assess(cleaned(), Measurement(None)).detail == "no value measured"


def test_a_business_value_counts_only_with_evidence():
    criterion = cleaned("conversion_rate", ">=", 0.035)
    assert assess(criterion, Measurement(0.04)).status == "not_measured"
    assert assess(criterion, Measurement(0.04, evidence="finance report Q3")).status == "met"


@pytest.mark.parametrize("value", [math.nan, math.inf, True, "0.8"])
def test_a_measurement_is_a_finite_number_or_none(value):
    with pytest.raises(CriteriaError, match="A measured value is a finite number or None"):
        Measurement(value)


def test_target_text_writes_numbers_as_people_do():
    assert target_text(cleaned("throughput_qps", ">=", 1000)) == "≥ 1,000 requests/s"
    assert target_text(cleaned("revenue", ">=", 2_500_000.5, unit="EUR")) == "≥ 2,500,000.50 EUR"
    assert target_text(cleaned("error_rate", "<=", 0.005)) == "≤ 0.005"
    assert target_text(cleaned("r2", ">=", -0.25)) == "≥ -0.25"


# Versions


def test_canonical_json_and_hash_ignore_key_order():
    criteria = clean_criteria([raw(), raw("mae", "<=", 3)])
    shuffled = [dict(reversed(list(c.items()))) for c in criteria]
    assert canonical(shuffled) == canonical(criteria)
    assert content_sha256(shuffled) == content_sha256(criteria)
    assert " " not in canonical(criteria).replace(WHY, "")
    assert canonical(criteria).startswith('[{"category":"ml","comparator":">="')
    assert len(content_sha256(criteria)) == 64
    changed = [{**criteria[0], "target": 0.81}, criteria[1]]
    assert content_sha256(changed) != content_sha256(criteria)


def test_cleaning_makes_equal_agreements_hash_equally():
    assert content_sha256(clean_criteria([raw(target="0.8")])) == content_sha256(
        clean_criteria([raw(target=0.8)])
    )


def test_diff_reports_added_removed_and_changed_with_old_and_new_values():
    old = clean_criteria([raw(), raw("mae", "<=", 3), raw("f1", ">=", 0.7)])
    new = clean_criteria(
        [
            raw(target=0.85),
            raw("f1", ">=", 0.7),
            raw("p95_latency_ms", "<=", 250),
        ]
    )
    changes = diff(old, new)
    assert [(c.kind, c.metric, c.source) for c in changes] == [
        ("changed", "recall", "evaluation"),
        ("added", "p95_latency_ms", "deployment"),
        ("removed", "mae", "evaluation"),
    ]
    assert changes[0] == Change("changed", "recall", "evaluation", {"target": (0.8, 0.85)})
    assert changes[1].fields["target"] == (None, 250.0)
    assert changes[2].fields["target"] == (3.0, None)
    assert diff(old, old) == []


def test_diff_matches_by_metric_and_source():
    old = clean_criteria([raw(), raw(target=0.02, source="baseline")])
    new = clean_criteria([raw(target=0.03, source="baseline", rationale="Beat it by 3 points.")])
    changes = diff(old, new)
    assert [(c.kind, c.source) for c in changes] == [
        ("changed", "baseline"),
        ("removed", "evaluation"),
    ]
    assert changes[0].fields == {
        "target": (0.02, 0.03),
        "rationale": (WHY, "Beat it by 3 points."),
    }


def test_diff_shows_a_new_comparator_as_a_change():
    old = clean_criteria([raw()])
    new = clean_criteria([raw(comparator="between", target_high=0.95)])
    (change,) = diff(old, new)
    assert change.kind == "changed"
    assert change.fields == {"comparator": (">=", "between"), "target_high": (None, 0.95)}


def test_diff_pairs_equal_comparators_first():
    # A custom metric takes both comparators: a band kept as two criteria.
    band = [
        raw("queue_minutes", ">=", 1, category="business"),
        raw("queue_minutes", "<=", 30, category="business"),
    ]
    old = clean_criteria(band)
    new = clean_criteria([band[1] | {"target": 20}, band[0]])
    (change,) = diff(old, new)
    assert change.fields == {"target": (30.0, 20.0)}


@pytest.mark.parametrize("baseline", [math.nan, math.inf, True])
def test_it_refuses_a_baseline_that_is_not_a_finite_number(baseline):
    with pytest.raises(CriteriaError, match="A baseline is a finite number"):
        assess(cleaned(target=0.02, source="baseline"), Measurement(0.9), baseline=baseline)


def test_a_left_out_comparator_follows_the_metrics_direction():
    recall = clean_criterion({"metric": "recall", "target": 0.7, "rationale": "Catch defaults."})
    latency = clean_criterion(
        {"metric": "p95_latency_ms", "target": 250, "rationale": "Checkout page."}
    )
    assert (recall["comparator"], latency["comparator"]) == (">=", "<=")
    with pytest.raises(CriteriaError, match="a floor"):
        clean_criterion(
            {"metric": "churn", "category": "business", "target": 0.1, "rationale": "Keep them."}
        )
