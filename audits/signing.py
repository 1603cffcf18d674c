"""What the audits app adds to the evidence every sign-off binds to."""

from __future__ import annotations

from projects.models import Project
from projects.signing import evidence_part


@evidence_part("audit")
def candidate_audit_evidence(project: Project) -> dict | None:
    """The candidate model's finished fairness audit, by its result hash."""
    from audits.selectors import candidate_audit

    audit = candidate_audit(project)
    if audit is None:
        return None
    return {"id": audit.pk, "name": f"audit {audit.pk}", "result_sha256": audit.result_sha256}
