"""The decision memo read from a pack state: the recommendation, the opinion, the summary
and the signature block, from states written out by hand."""

from __future__ import annotations

from audits.analysis.memo import decision_memo


def _signoff(user: str, role: str, decision: str = "approve", **extra) -> dict:
    return {
        "version": 2,
        "user": user,
        "role": role,
        "decision": decision,
        "comment": "",
        "signed_at": "2026-12-01T10:00:00+00:00",
        "revoked_at": None,
        "stale": [],
        **extra,
    }


def _state(**changes) -> dict:
    state = {
        "project": {"name": "Credit", "intended_use": "Triage."},
        "gate": {
            "target": "deployment",
            "passed": False,
            "checks": [
                {"name": "Criteria met", "passed": True, "detail": "All met."},
                {"name": "Risks decided", "passed": False, "detail": "2 open."},
            ],
        },
        "criteria": {
            "version": 2,
            "rows": [
                {"label": "Recall", "status": "met", "target": ">= 0.7", "value": 0.8},
                {"label": "AUC", "status": "not_met", "target": ">= 0.9", "value": 0.8},
                {"label": "Latency", "status": "not_measured", "target": "<= 300", "value": None},
            ],
        },
        "signoffs": [],
        "candidate": {"model": {"name": "gbm", "version": "1.0"}, "evaluation": {"id": 7}},
        "audit": None,
        "risks": [
            {"title": "Drift", "band": "high", "status": "Open"},
            {"title": "Leak", "band": "low", "status": "Mitigated"},
        ],
        "deployment": None,
        "people": {"ada": {"name": "Ada Lovelace", "title": "Head of Risk"}},
    }
    state.update(changes)
    return state


def test_no_ml_engineer_signature_is_no_recommendation():
    memo = decision_memo(_state(signoffs=[_signoff("ada", "Business owner")]))
    assert memo["recommendation"] == {"outcome": "none", "by": []}


def test_the_recommendation_follows_the_ml_engineers_signatures_in_force():
    approve = _signoff("eng", "ML engineer", comment="Ready.")
    memo = decision_memo(_state(signoffs=[approve]))
    assert memo["recommendation"]["outcome"] == "approve"
    assert memo["recommendation"]["by"][0]["comment"] == "Ready."
    reject = _signoff("eng2", "ML engineer", "reject")
    assert decision_memo(_state(signoffs=[approve, reject]))["recommendation"]["outcome"] == (
        "reject"
    )
    # A revoked or stale signature does not speak for the team.
    revoked = _signoff("eng", "ML engineer", revoked_at="2026-12-02T00:00:00+00:00")
    stale = _signoff("eng2", "ML engineer", stale=["the audit changed"])
    assert decision_memo(_state(signoffs=[revoked, stale]))["recommendation"]["outcome"] == "none"


def test_the_summary_counts_checks_criteria_and_risks():
    summary = decision_memo(_state())["summary"]
    assert (summary["checks_passed"], summary["checks"]) == (1, 2)
    assert [c["name"] for c in summary["failing_checks"]] == ["Risks decided"]
    assert (summary["criteria"], summary["met"], summary["not_measured"]) == (3, 1, 1)
    assert [r["label"] for r in summary["not_met"]] == ["AUC"]
    assert summary["bands"] == [("critical", 0), ("high", 1), ("medium", 0), ("low", 1)]
    assert summary["open_high_risks"] == ["Drift"]


def test_the_signature_block_names_people_and_leaves_a_line_for_roles_not_signed():
    memo = decision_memo(_state(signoffs=[_signoff("ada", "Business owner")]))
    rows = memo["signatures"]
    assert rows[0] == {
        "name": "Ada Lovelace",
        "title": "Head of Risk",
        "username": "ada",
        "role": "Business owner",
        "on": "Success criteria v2",
        "decision": "approved",
        "at": "2026-12-01T10:00:00+00:00",
    }
    assert rows[1]["role"] == "ML engineer" and rows[1]["decision"] == "awaiting"
    assert rows[1]["username"] == "" and rows[1]["at"] is None


def test_the_opinion_is_the_newest_review_and_an_exception_is_listed_with_its_conditions():
    exception = {
        "id": 3,
        "finding": "Gap 0.14.",
        "conditions": "Manual review.",
        "owner": "ada",
        "expires_on": "2027-03-01",
        "granted_by": "val",
    }
    audit = {
        "id": 5,
        "verdict": "fail",
        "reviews": [
            {
                "reviewer": "val",
                "decision": "request_changes",
                "rationale": "More data.",
                "at": "1",
            },
            {
                "reviewer": "val",
                "decision": "approve",
                "rationale": "Pilot.",
                "at": "2",
                "exception": exception,
            },
        ],
    }
    memo = decision_memo(_state(audit=audit))
    assert memo["opinion"]["review"]["rationale"] == "Pilot."
    assert memo["opinion"]["review"]["who"] == {"name": "val", "title": "", "username": "val"}
    assert memo["exceptions"] == [
        {
            "subject": "Fairness audit 5",
            **exception,
            "owner_who": {"name": "Ada Lovelace", "title": "Head of Risk", "username": "ada"},
        }
    ]
    auditor = memo["signatures"][-1]
    assert auditor["decision"] == "approved as an exception" and auditor["on"] == "Fairness audit 5"


def test_a_go_live_pack_asks_for_the_move_into_monitoring():
    deployment = {
        "name": "scorer-prod",
        "environment": "production",
        "gate": {"target": "monitoring"},
        "signoffs": [_signoff("ada", "Business owner")],
    }
    memo = decision_memo(_state(deployment=deployment))
    assert memo["decision"]["target"] == "monitoring"
    assert memo["decision"]["deployment"] == "scorer-prod"
    assert memo["signatures"][-1]["on"] == "Deployment plan v2"
