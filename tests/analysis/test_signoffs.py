"""When a criteria version counts as agreed, and what made a sign-off stale (no database)."""

from __future__ import annotations

from projects.analysis.signoffs import Signature, evidence_changes, summarise

EVIDENCE = {
    "model": {"id": 3, "name": "scorer 2"},
    "evaluation": {"id": 9, "name": "evaluation 9", "sha256": "aa"},
    "audit": {"id": 4, "name": "audit 4", "result_sha256": "bb"},
    "datasets": [{"id": 1, "name": "loans v1", "sha256": "cc"}],
}


def owner(user="olivia", decision="approve", stale=(), comment=""):
    return Signature(user, "business_owner", decision, tuple(stale), comment)


def engineer(user="mark", decision="approve", stale=(), comment=""):
    return Signature(user, "ml_engineer", decision, tuple(stale), comment)


def test_two_people_in_the_two_roles_agree():
    summary = summarise([owner(), engineer()])
    assert summary.passed
    assert summary.detail == "Approved by olivia (business owner) and mark (ML engineer)."


def test_one_approval_is_not_enough_and_says_who_is_missing():
    summary = summarise([owner()])
    assert not summary.passed and summary.missing == ("ml_engineer",)
    assert (
        summary.detail
        == "Waiting for an ML engineer to approve; approved so far by olivia (business owner)."
    )
    assert summarise([]).detail == "Waiting for a business owner and an ML engineer to approve."


def test_one_person_cannot_approve_in_both_roles():
    summary = summarise([owner("sam"), engineer("sam")])
    assert not summary.passed and "two different people" in summary.detail
    # A second business owner makes a valid pair with sam as the engineer.
    assert summarise([owner("sam"), engineer("sam"), owner("olivia")]).passed


def test_stale_approvals_do_not_count():
    summary = summarise([owner(), engineer(stale=["criteria changed: v1 → v2"])])
    assert not summary.passed and summary.missing == ("ml_engineer",)


def test_a_fresh_rejection_holds_the_version_whoever_approved():
    summary = summarise(
        [owner(), engineer(), engineer("nina", "reject", comment="Recall too low.")]
    )
    assert not summary.passed
    assert summary.detail == "nina (ML engineer) rejected: Recall too low."
    stale_rejection = engineer("nina", "reject", stale=["evaluation changed"], comment="Old.")
    assert summarise([owner(), engineer(), stale_rejection]).passed


def test_unchanged_evidence_has_no_changes():
    assert evidence_changes(EVIDENCE, dict(EVIDENCE)) == []


def test_each_replaced_piece_of_evidence_is_named():
    now = {
        "model": {"id": 5, "name": "scorer 3"},
        "evaluation": {"id": 11, "name": "evaluation 11", "sha256": "dd"},
        "audit": None,
        "datasets": [{"id": 2, "name": "loans v2", "sha256": "ee"}],
    }
    assert evidence_changes(EVIDENCE, now) == [
        "candidate model: scorer 2 → scorer 3",
        "evaluation: evaluation 9 → evaluation 11",
        "audit: audit 4 → no audit",
        "dataset versions: loans v1, loans v2",
    ]


def test_a_result_rehashed_under_the_same_id_is_a_change():
    now = {**EVIDENCE, "audit": {"id": 4, "name": "audit 4", "result_sha256": "b0"}}
    assert evidence_changes(EVIDENCE, now) == ["audit: audit 4 → audit 4"]
