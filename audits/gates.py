"""What audits contributes to the lifecycle gates, registered when the app starts
(``AuditsConfig.ready``): no open severe risk, the candidate's audit approved, the approval
pack current, and the trained baselines among the baselines on record."""

from __future__ import annotations

from django.conf import settings

from audits.analysis.gates import audit_check, pack_check, risks_check
from audits.selectors import (
    audit_gate_state,
    pack_gate_state,
    severe_open_risks,
    trained_baseline_names,
)
from projects.analysis.gates import DEPLOYMENT, MONITORING, Check
from projects.gates import GateContext, baseline_source, gate_check
from projects.models import Project

baseline_source(trained_baseline_names)


@gate_check(DEPLOYMENT, order=50)
def no_severe_risk_open(project: Project, context: GateContext) -> list[Check]:
    threshold = settings.RISK_GATE_SEVERITY
    return [risks_check(severe_open_risks(project, threshold), threshold)]


@gate_check(DEPLOYMENT, order=60)
def candidate_audit_approved(project: Project, context: GateContext) -> list[Check]:
    return [audit_check(audit_gate_state(project))]


@gate_check(DEPLOYMENT, MONITORING, order=90)
def pack_current(project: Project, context: GateContext) -> list[Check]:
    """The newest pack rendered for exactly this state; left out of the checklist a pack
    shows (``with_pack=False``), which is part of that state."""
    return [pack_check(pack_gate_state(project))] if context.with_pack else []
