"""Gate rules of the audits app: open severe risks, the candidate's fairness audit and the
approval pack, as pure functions to checks. No Django import here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audits.analysis.risks import HIGH_BANDS
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
    #: The current audit configuration's version, and the labels of its thresholds in use
    #: that still carry the portal's default rationale (none may, for a gate).
    config_version: int | None = None
    placeholders: tuple[str, ...] = ()
    #: The candidate model and its newest evaluation, where the next step is taken before
    #: there is an audit to look at.
    model_id: int | None = None
    evaluation_id: int | None = None


@dataclass(frozen=True)
class PackState:
    """The newest approval pack, and whether it was rendered from the project as it is now."""

    #: none / queued / running / failed / stale / current
    status: str = "none"
    pack_id: int | None = None


@dataclass(frozen=True)
class RegisterRow:
    """One risk of the register as the gate judges it."""

    title: str
    band: str  # low / medium / high / critical
    status: str  # open / mitigated / accepted
    owner: str = ""
    #: For an accepted high or critical risk: the last day of its newest exception ("" for
    #: none) and whether it still holds.
    exception_until: str = ""
    exception_holds: bool = False


def _titles(rows: Sequence[RegisterRow]) -> str:
    return "; ".join(r.title for r in rows)


def register_check(rows: Sequence[RegisterRow]) -> Check:
    """The register is considered (not empty), every risk has an owner and is decided
    (mitigated or accepted), and a high or critical risk is accepted only under an
    exception that still holds."""
    name = "Risk register decided: owners, statuses, high risks mitigated or excepted"
    if not rows:
        return Check(
            name,
            False,
            "The register is empty: pull in the starter list of common failure modes, add "
            "the project's own, and decide each.",
            key="risks.register",
        )
    problems = []
    unowned = [r for r in rows if not r.owner.strip()]
    if unowned:
        problems.append(f"Name an owner for: {_titles(unowned)}")
    undecided = [r for r in rows if r.status == "open"]
    if undecided:
        problems.append(f"Mitigate or accept: {_titles(undecided)}")
    accepted_high = [r for r in rows if r.status == "accepted" and r.band in HIGH_BANDS]
    unexcused = [r for r in accepted_high if not r.exception_until]
    if unexcused:
        problems.append(
            "A business owner accepts a high or critical risk only as an exception, with its "
            f"conditions, owner and expiry: {_titles(unexcused)}"
        )
    expired = [r for r in accepted_high if r.exception_until and not r.exception_holds]
    if expired:
        problems.append(
            "The exception expired; mitigate the risk or record a new decision: "
            + "; ".join(f"{r.title} (on {r.exception_until})" for r in expired)
        )
    if problems:
        return Check(name, False, ". ".join(problems) + ".", key="risks.register")
    excused = [r for r in accepted_high if r.exception_holds]
    detail = f"All {len(rows)} risks have an owner and are mitigated or accepted."
    if excused:
        detail += " Accepted as exceptions: " + "; ".join(
            f"{r.title} until {r.exception_until}" for r in excused
        )
        detail += "."
    return Check(name, True, detail, key="risks.register")


#: The key of the audit check in each status: what to do next differs, and so does the page.
AUDIT_KEYS = {
    "not_evaluated": "audit.not_evaluated",
    "not_run": "audit.not_run",
    "queued": "audit.in_progress",
    "running": "audit.in_progress",
    "tampered": "audit.failed",
    "failed": "audit.failed",
    "waiting": "audit.waiting",
}


def _audit_ref(audit: AuditState, key: str) -> int | None:
    if key == "audit.not_evaluated":
        return audit.model_id
    if key == "audit.not_run":
        return audit.evaluation_id
    return audit.audit_id


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
            name,
            False,
            "Mark a model version as the candidate; its audit is what gets approved.",
            key="audit.no_candidate",
        )
    if audit.placeholders:
        return Check(
            name,
            False,
            f"Audit configuration v{audit.config_version} keeps the portal's default rationale "
            f"for: {'; '.join(audit.placeholders)}. Write why each limit suits this project "
            "under Audit settings, then audit the candidate again and have it reviewed.",
            key="audit.placeholders",
        )
    if audit.status == "approve":
        return Check(
            name,
            True,
            f"Audit {audit.audit_id} of {audit.candidate} approved by {audit.reviewer}.",
            key="audit.decision",
            ref=audit.audit_id,
        )
    if audit.status == "exception":
        return Check(
            name,
            True,
            f"Audit {audit.audit_id} of {audit.candidate} ({verdict_text(audit.verdict)}) passed "
            f"with exception until {audit.exception_until}, owned by {audit.exception_owner}; "
            f"approved by {audit.reviewer}.",
            key="audit.decision",
            ref=audit.audit_id,
        )
    template = AUDIT_WAITING.get(audit.status, "Audit {audit} of {candidate} is {status}.")
    # Asked for changes, rejected, or an exception to renew: the decision is to revisit.
    key = AUDIT_KEYS.get(audit.status, "audit.decision")
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
        key=key,
        ref=_audit_ref(audit, key),
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
        return Check(name, True, f"Pack {pack.pack_id}.", key="pack.render", ref=pack.pack_id)
    template = PACK_WAITING.get(pack.status, "Pack {pack} is {status}.")
    # A pack on its way is followed on its own page; any other is rendered anew.
    key = "pack.rendering" if pack.status in ("queued", "running") else "pack.render"
    return Check(
        name,
        False,
        template.format(pack=pack.pack_id, status=pack.status),
        key=key,
        ref=pack.pack_id,
    )
