"""Gate rules of the audits app: open severe risks, the candidate's fairness audit and the
approval pack, as pure functions to checks. No Django import here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from projects.analysis.gates import Check


@dataclass(frozen=True)
class AuditState:
    """The fairness audit of the candidate model (the version the team marked)."""

    candidate: str = ""  # blank: no model is marked as the candidate
    #: not_evaluated / not_run / queued / running / failed / tampered / waiting / approve /
    #: exception / exception_expired / no_exception / request_changes / reject
    status: str = "not_run"
    audit_id: int | None = None
    verdict: str = ""  # the audit's own pass / fail / insufficient_evidence / reported
    reviewer: str = ""
    detail: str = ""  # the review's rationale, or what would be audited
    #: An approval of a failing audit: the last day its exception holds, and its owner;
    #: status is then exception (holding) or exception_expired.
    exception_until: str = ""
    exception_owner: str = ""


@dataclass(frozen=True)
class PackState:
    """The newest approval pack, and whether it was rendered from the project as it is now."""

    #: none / queued / running / failed / stale / current
    status: str = "none"
    pack_id: int | None = None


def risks_check(severe_open_risks: Sequence[str], threshold: int) -> Check:
    """``severe_open_risks``: titles of the open risks at or above ``threshold`` (1-25)."""
    return Check(
        f"No open risk of severity {threshold} or more",
        not severe_open_risks,
        "Mitigate or accept (with a rationale): " + "; ".join(severe_open_risks)
        if severe_open_risks
        else "Every severe risk is mitigated or accepted.",
    )


#: An audit verdict that an approval may only accept as an exception.
FAILING_VERDICTS = ("fail", "insufficient_evidence")

AUDIT_WAITING = {
    "not_evaluated": "Evaluate {candidate}, the candidate model, then audit it.",
    "not_run": "Run a fairness audit of {candidate} ({detail}).",
    "tampered": "Audit {audit} of {candidate} no longer matches its hash; run it again.",
    "queued": "Audit {audit} of {candidate} is queued.",
    "running": "Audit {audit} of {candidate} is running.",
    "failed": "Audit {audit} of {candidate} failed; fix its input and run it again.",
    "waiting": "Audit {audit} of {candidate} ({verdict}) waits for an auditor's review.",
    "request_changes": "{reviewer} asked for changes to audit {audit}: {detail}",
    "reject": "{reviewer} rejected audit {audit}: {detail}",
    "exception_expired": "Audit {audit} of {candidate} ({verdict}) was approved as an exception "
    "that expired on {until}; fix the finding and audit again, or record a new decision.",
    "no_exception": "Audit {audit} of {candidate} ({verdict}) was approved by {reviewer} without "
    "an exception; a failing audit passes only as an exception, with its finding, conditions, "
    "owner and expiry date: review it again.",
}


def audit_check(audit: AuditState) -> Check:
    name = "Fairness audit of the candidate model approved"
    if not audit.candidate:
        return Check(
            name, False, "Mark a model version as the candidate; its audit is what gets approved."
        )
    if audit.status == "approve":
        return Check(
            name, True, f"Audit {audit.audit_id} of {audit.candidate} approved by {audit.reviewer}."
        )
    if audit.status == "exception":
        return Check(
            name,
            True,
            f"Audit {audit.audit_id} of {audit.candidate} ({verdict_text(audit.verdict)}) passed "
            f"with exception until {audit.exception_until}, owned by {audit.exception_owner}; "
            f"approved by {audit.reviewer}.",
        )
    template = AUDIT_WAITING.get(audit.status, "Audit {audit} of {candidate} is {status}.")
    return Check(
        name,
        False,
        template.format(
            candidate=audit.candidate,
            audit=audit.audit_id,
            status=audit.status,
            verdict=verdict_text(audit.verdict),
            until=audit.exception_until,
            reviewer=audit.reviewer,
            detail=audit.detail,
        ),
    )


def verdict_text(verdict: str) -> str:
    return verdict.replace("_", " ")


PACK_WAITING = {
    "none": "Render the approval pack once everything else is in place.",
    "queued": "Pack {pack} is queued.",
    "running": "Pack {pack} is rendering.",
    "failed": "Pack {pack} failed; render it again.",
    "stale": "Pack {pack} was rendered before the last change; render it again.",
}


def pack_check(pack: PackState) -> Check:
    name = "Approval pack rendered for exactly this state"
    if pack.status == "current":
        return Check(name, True, f"Pack {pack.pack_id}.")
    template = PACK_WAITING.get(pack.status, "Pack {pack} is {status}.")
    return Check(name, False, template.format(pack=pack.pack_id, status=pack.status))
