"""The gate rules, as a pure function (no database)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from projects.analysis.gates import (
    DEPLOYMENT,
    MONITORING,
    PROTOTYPING,
    RETIRED,
    AuditState,
    CriteriaState,
    PackState,
    ProjectState,
    evaluate_gate,
    move_is_allowed,
)

APPROVED = AuditState("scorer 2", "approve", 7, verdict="pass", reviewer="ada")
SIGNED = CriteriaState(
    version=2,
    signed=True,
    signoff_detail="Approved by olivia (business owner) and mark (ML engineer).",
    ml=(("F1 score ≥ 0.70", "met", "Measured 0.81"),),
)
READY = ProjectState(
    stage=PROTOTYPING,
    description="Predicts loan default within a year.",
    business_owners=("olivia",),
    ml_engineers=("mark",),
    audit=APPROVED,
    criteria=SIGNED,
    baselines=("Scorecard 2019 (previous system)",),
    labelled_datasets=(("loans", "Programmatic"),),
    pack=PackState("current", 3),
)
AUDIT_CHECK = "Fairness audit of the candidate model approved"


def check(result, name: str):
    return next(c for c in result.checks if c.name == name)


def failing(result) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


def test_it_passes_a_ready_project_into_deployment():
    result = evaluate_gate(READY)
    assert result.target == DEPLOYMENT
    assert result.passed
    assert failing(result) == []


def test_it_needs_a_description():
    result = evaluate_gate(ProjectState(**{**READY.__dict__, "description": "  short  "}))
    assert failing(result) == ["Project described"]


def test_it_needs_a_business_owner_and_an_ml_engineer():
    state = replace(READY, business_owners=(), ml_engineers=())
    assert failing(evaluate_gate(state)) == [
        "Business owner named",
        "ML engineer named",
        "Owner and engineer are different people",
    ]


def test_one_person_in_both_roles_is_not_enough():
    state = replace(READY, business_owners=("sam",), ml_engineers=("sam",))
    assert failing(evaluate_gate(state)) == ["Owner and engineer are different people"]


def test_the_next_stage_follows_the_lifecycle():
    assert evaluate_gate(ProjectState(**{**READY.__dict__, "stage": DEPLOYMENT})).target == (
        MONITORING
    )
    assert evaluate_gate(ProjectState(**{**READY.__dict__, "stage": MONITORING})).target == (
        PROTOTYPING
    )


@pytest.mark.parametrize("target", [PROTOTYPING, RETIRED])
def test_going_back_or_retiring_needs_a_reason(target):
    state = ProjectState(**{**READY.__dict__, "stage": MONITORING})
    assert failing(evaluate_gate(state, target)) == ["Reason recorded"]
    assert evaluate_gate(state, target, reason="Drift past threshold").passed


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


def test_it_holds_deployment_while_a_severe_risk_is_open():
    state = replace(READY, severe_open_risks=("Target leakage",), risk_threshold=15)
    result = evaluate_gate(state)
    assert not result.passed
    failing = [c for c in result.checks if not c.passed]
    assert [c.name for c in failing] == ["No open risk of severity 15 or more"]
    assert "Target leakage" in failing[0].detail
    assert evaluate_gate(replace(state, severe_open_risks=())).passed


@pytest.mark.parametrize(
    ("audit", "detail"),
    [
        (AuditState(), "Mark a model version as the candidate"),
        (AuditState("scorer 2", "not_evaluated"), "Evaluate scorer 2, the candidate model"),
        (AuditState("scorer 2", "not_run", detail="evaluation 4, v2"), "Run a fairness audit of"),
        (AuditState("scorer 2", "running", 7), "Audit 7 of scorer 2 is running"),
        (AuditState("scorer 2", "failed", 7), "failed; fix its input"),
        (AuditState("scorer 2", "waiting", 7, verdict="fail"), "(fail) waits for an auditor"),
        (
            AuditState("scorer 2", "reject", 7, reviewer="ada", detail="Recall gap."),
            "ada rejected audit 7: Recall gap.",
        ),
        (
            AuditState("scorer 2", "request_changes", 7, reviewer="ada", detail="Bin age."),
            "ada asked for changes to audit 7: Bin age.",
        ),
    ],
)
def test_deployment_needs_the_candidates_audit_approved(audit, detail):
    result = evaluate_gate(replace(READY, audit=audit))
    assert failing(result) == [AUDIT_CHECK]
    assert detail in check(result, AUDIT_CHECK).detail
    approved = check(evaluate_gate(READY), AUDIT_CHECK)
    assert approved.passed and approved.detail == "Audit 7 of scorer 2 approved by ada."


SIGNED_CHECK = "Success criteria signed off by a business owner and an ML engineer"
ML_CHECK = "Every ML criterion met by the candidate"
PACK_CHECK = "Approval pack rendered for exactly this state"


def test_deployment_needs_signed_criteria_that_the_candidate_meets():
    unsigned = replace(SIGNED, signed=False, signoff_detail="Waiting for an ML engineer.")
    result = evaluate_gate(replace(READY, criteria=unsigned))
    assert failing(result) == [SIGNED_CHECK]
    assert check(result, SIGNED_CHECK).detail == "v2: Waiting for an ML engineer."
    missed = replace(
        SIGNED,
        ml=(
            ("F1 score ≥ 0.70", "met", "ok"),
            ("Log loss ≤ 0.45", "not_met", "Measured 0.47, which misses ≤ 0.45"),
            ("Recall ≥ 0.6", "not_measured", "the evaluation does not report recall"),
        ),
    )
    result = evaluate_gate(replace(READY, criteria=missed))
    assert failing(result) == [ML_CHECK]
    assert "Log loss" in check(result, ML_CHECK).detail
    assert "Recall" in check(result, ML_CHECK).detail and "F1" not in check(result, ML_CHECK).detail


def test_criteria_without_an_ml_criterion_or_none_at_all_do_not_pass():
    result = evaluate_gate(replace(READY, criteria=replace(SIGNED, ml=())))
    assert failing(result) == [ML_CHECK]
    result = evaluate_gate(replace(READY, criteria=CriteriaState()))
    assert failing(result) == [SIGNED_CHECK, ML_CHECK]
    assert "template" in check(result, SIGNED_CHECK).detail


def test_deployment_needs_a_baseline_and_labelled_data():
    result = evaluate_gate(replace(READY, baselines=(), labelled_datasets=()))
    assert failing(result) == [
        "Datasets registered with a labeling strategy",
        "A baseline on record",
    ]
    unlabelled = (("loans", "Programmatic"), ("bureau", ""))
    result = evaluate_gate(replace(READY, labelled_datasets=unlabelled))
    assert failing(result) == ["Datasets registered with a labeling strategy"]
    assert "bureau" in result.checks[4].detail and "loans" not in result.checks[4].detail


@pytest.mark.parametrize(
    ("pack", "detail"),
    [
        (PackState(), "Render the approval pack"),
        (PackState("running", 4), "Pack 4 is rendering"),
        (PackState("failed", 4), "Pack 4 failed"),
        (PackState("stale", 4), "rendered before the last change"),
    ],
)
def test_deployment_needs_a_pack_of_exactly_this_state(pack, detail):
    result = evaluate_gate(replace(READY, pack=pack))
    assert failing(result) == [PACK_CHECK]
    assert detail in check(result, PACK_CHECK).detail


def test_the_checklist_a_pack_shows_leaves_the_pack_out():
    result = evaluate_gate(replace(READY, pack=None))
    assert result.passed and PACK_CHECK not in [c.name for c in result.checks]
