"""The projects app's gate rules, as pure functions (no database)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from projects.analysis.gates import (
    DEPLOYMENT,
    MONITORING,
    PROTOTYPING,
    RETIRED,
    CriteriaState,
    baseline_check,
    criteria_checks,
    datasets_check,
    description_check,
    move_is_allowed,
    next_stage,
    people_checks,
    reason_check,
)

SIGNED = CriteriaState(
    version=2,
    signed=True,
    signoff_detail="Approved by olivia (business owner) and mark (ML engineer).",
    ml=(("F1 score ≥ 0.70", "met", "Measured 0.81"),),
)
SIGNED_CHECK = "Success criteria signed off by a business owner and an ML engineer"
ML_CHECK = "Every ML criterion met by the candidate"


def check(checks, name: str):
    return next(c for c in checks if c.name == name)


def failing(checks) -> list[str]:
    return [check.name for check in checks if not check.passed]


def test_it_passes_a_ready_project():
    checks = [
        description_check("Predicts loan default within a year."),
        *people_checks(("olivia",), ("mark",)),
        datasets_check((("loans", "Programmatic"),)),
        baseline_check(("Scorecard 2019 (previous system)",)),
        *criteria_checks(SIGNED),
        reason_check("Drift past threshold", "Say why."),
    ]
    assert failing(checks) == []


def test_it_needs_a_description():
    result = description_check("  short  ")
    assert (result.name, result.passed) == ("Project described", False)
    assert description_check("Predicts loan default within a year.").passed


def test_it_needs_a_business_owner_and_an_ml_engineer():
    assert failing(people_checks((), ())) == [
        "Business owner named",
        "ML engineer named",
        "Owner and engineer are different people",
    ]


def test_one_person_in_both_roles_is_not_enough():
    checks = people_checks(("sam",), ("sam",))
    assert failing(checks) == ["Owner and engineer are different people"]


def test_the_next_stage_follows_the_lifecycle():
    assert next_stage(PROTOTYPING) == DEPLOYMENT
    assert next_stage(DEPLOYMENT) == MONITORING
    assert next_stage(MONITORING) == PROTOTYPING


def test_going_back_or_retiring_needs_a_reason():
    missing = reason_check("  ", "Say why the project is retired.")
    assert (missing.name, missing.passed) == ("Reason recorded", False)
    assert missing.detail == "Say why the project is retired."
    given = reason_check(" Drift past threshold ", "Say why the project is retired.")
    assert given.passed and given.detail == "Drift past threshold"


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (PROTOTYPING, DEPLOYMENT, True),
        (PROTOTYPING, MONITORING, False),
        (DEPLOYMENT, MONITORING, True),
        (DEPLOYMENT, PROTOTYPING, True),
        (MONITORING, PROTOTYPING, True),
        (MONITORING, DEPLOYMENT, False),
        (RETIRED, PROTOTYPING, False),
        (PROTOTYPING, PROTOTYPING, False),
    ],
)
def test_only_lifecycle_moves_are_allowed(current, target, allowed):
    assert move_is_allowed(current, target) is allowed


def test_deployment_needs_signed_criteria_that_the_candidate_meets():
    unsigned = replace(SIGNED, signed=False, signoff_detail="Waiting for an ML engineer.")
    checks = criteria_checks(unsigned)
    assert failing(checks) == [SIGNED_CHECK]
    assert check(checks, SIGNED_CHECK).detail == "v2: Waiting for an ML engineer."
    missed = replace(
        SIGNED,
        ml=(
            ("F1 score ≥ 0.70", "met", "ok"),
            ("Log loss ≤ 0.45", "not_met", "Measured 0.47, which misses ≤ 0.45"),
            ("Recall ≥ 0.6", "not_measured", "the evaluation does not report recall"),
        ),
    )
    checks = criteria_checks(missed)
    assert failing(checks) == [ML_CHECK]
    assert "Log loss" in check(checks, ML_CHECK).detail
    assert "Recall" in check(checks, ML_CHECK).detail and "F1" not in check(checks, ML_CHECK).detail
    assert check(criteria_checks(SIGNED), ML_CHECK).detail == "All 1 ML criteria of v2 met."


def test_criteria_without_an_ml_criterion_or_none_at_all_do_not_pass():
    assert failing(criteria_checks(replace(SIGNED, ml=()))) == [ML_CHECK]
    checks = criteria_checks(CriteriaState())
    assert failing(checks) == [SIGNED_CHECK, ML_CHECK]
    assert "template" in check(checks, SIGNED_CHECK).detail


def test_deployment_needs_a_baseline_and_labelled_data():
    assert not datasets_check(()).passed
    assert datasets_check(()).name == "Datasets registered with a labeling strategy"
    assert not baseline_check(()).passed
    assert baseline_check(()).name == "A baseline on record"
    unlabelled = datasets_check((("loans", "Programmatic"), ("bureau", "")))
    assert not unlabelled.passed
    assert "bureau" in unlabelled.detail and "loans" not in unlabelled.detail


def test_it_names_five_baselines_and_counts_the_rest():
    names = tuple(f"baseline {n}" for n in range(7))
    assert baseline_check(names).detail == ", ".join(names[:5]) + " and 2 more"
