"""The audits app's gate rules (risks, the candidate's audit, the pack), as pure functions."""

from __future__ import annotations

import pytest

from audits.analysis.gates import AuditState, PackState, audit_check, pack_check

AUDIT_CHECK = "Fairness audit of the candidate model approved"
PACK_CHECK = "Approval pack rendered for exactly this state"


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
    result = audit_check(audit)
    assert (result.name, result.passed) == (AUDIT_CHECK, False)
    assert detail in result.detail
    approved = audit_check(AuditState("scorer 2", "approve", 7, verdict="pass", reviewer="ada"))
    assert approved.name == AUDIT_CHECK
    assert approved.passed and approved.detail == "Audit 7 of scorer 2 approved by ada."


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
    result = pack_check(pack)
    assert (result.name, result.passed) == (PACK_CHECK, False)
    assert detail in result.detail
    current = pack_check(PackState("current", 3))
    assert current.passed and current.detail == "Pack 3."
