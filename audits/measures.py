"""What audits measures for success criteria, registered when the app starts: a fairness
criterion (source ``audit``) is judged on the candidate's audit."""

from __future__ import annotations

from audits.selectors import candidate_audit
from projects.analysis.criteria import Measurement
from projects.measures import Found, measurement_source
from projects.models import Project


@measurement_source("audit")
def audit_gaps(project: Project, criteria: list[dict]) -> list[Found]:
    """Each criterion's metric as the largest gap the candidate's audit reports over every
    sensitive feature and intersection: the one judged."""
    audit = candidate_audit(project)
    if audit is None:
        missing = Found(Measurement(None, reason="the candidate model has no finished audit"))
        return [missing] * len(criteria)
    found = []
    for criterion in criteria:
        metric = criterion["metric"]
        gaps = [
            f["summary"][metric]["value"]
            for f in audit.result.get("features", [])
            if f.get("summary", {}).get(metric, {}).get("value") is not None
        ]
        why = "" if gaps else f"the audit reports no {metric}"
        value = max(gaps) if gaps else None
        found.append(
            Found(
                Measurement(value, evidence=f"audit {audit.pk}", reason=why),
                audit.get_absolute_url(),
            )
        )
    return found
