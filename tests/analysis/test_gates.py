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
    ProjectState,
    evaluate_gate,
    move_is_allowed,
)

APPROVED = AuditState("scorer 2", "approve", 7, verdict="pass", reviewer="ada")
READY = ProjectState(
    stage=PROTOTYPING,
    description="Predicts loan default within a year.",
    business_owners=("olivia",),
    ml_engineers=("mark",),
    audit=APPROVED,
)
AUDIT_CHECK = "Fairness audit of the candidate model approved"


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
    state = ProjectState(stage=PROTOTYPING, description=READY.description, audit=APPROVED)
    assert failing(evaluate_gate(state)) == [
        "Business owner named",
        "ML engineer named",
        "Owner and engineer are different people",
    ]


def test_one_person_in_both_roles_is_not_enough():
    state = ProjectState(
        stage=PROTOTYPING,
        description=READY.description,
        business_owners=("sam",),
        ml_engineers=("sam",),
        audit=APPROVED,
    )
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
    state = ProjectState(
        stage="prototyping",
        description="Scores loan applications for the underwriting desk.",
        business_owners=("olga",),
        ml_engineers=("emil",),
        severe_open_risks=("Target leakage",),
        risk_threshold=15,
        audit=APPROVED,
    )
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
    assert detail in result.checks[-1].detail
    approved = evaluate_gate(READY).checks[-1]
    assert approved.passed and approved.detail == "Audit 7 of scorer 2 approved by ada."
