"""What the audits app adds to the evidence every sign-off binds to."""

from __future__ import annotations

from projects.models import Project
from projects.signing import evidence_part

#: How each review state of the candidate's audit reads beside it (audit_gate_state).
REVIEW_STATES = {
    "waiting": "not reviewed yet",
    "approve": "approved by {reviewer}",
    "exception": "approved as an exception until {until}",
    "exception_expired": "its exception expired on {until}",
    "no_exception": "approved without the exception a failing audit needs",
    "request_changes": "changes requested by {reviewer}",
    "reject": "rejected by {reviewer}",
}


@evidence_part("audit")
def candidate_audit_evidence(project: Project) -> dict | None:
    """The candidate model's finished fairness audit, by its result hash. Its name (shown
    to the signer and stored with the sign-off, not hashed: the verdict follows from the
    result) says its verdict and where its review stands."""
    from audits.models import AuditRun
    from audits.selectors import audit_gate_state

    state = audit_gate_state(project)
    audit = (
        AuditRun.objects.filter(pk=state.audit_id, status=AuditRun.Status.SUCCEEDED).first()
        if state.audit_id is not None
        else None
    )
    if audit is None:
        return None
    review = REVIEW_STATES.get(state.status, state.status).format(
        reviewer=state.reviewer, until=state.exception_until
    )
    name = f"audit {audit.pk} ({audit.get_verdict_display()}; {review})"
    return {"id": audit.pk, "name": name, "result_sha256": audit.result_sha256}
