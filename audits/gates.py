"""What audits contributes to the lifecycle gates, registered when the app starts
(``AuditsConfig.ready``): the risk register decided, the candidate's audit approved, the approval
pack current, and the trained baselines among the baselines on record."""

from __future__ import annotations

from audits.analysis.gates import audit_check, pack_check, register_check
from audits.selectors import (
    audit_gate_state,
    criterion_exception_facts,
    pack_gate_state,
    risk_register_state,
    trained_baseline_names,
)
from projects.analysis.gates import DEPLOYMENT, MONITORING, Check
from projects.gates import GateContext, baseline_source, criterion_exception_source, gate_check
from projects.models import Project

baseline_source(trained_baseline_names)
criterion_exception_source(criterion_exception_facts)


@gate_check(DEPLOYMENT, order=50)
def risk_register_decided(project: Project, context: GateContext) -> list[Check]:
    return [register_check(risk_register_state(project))]


@gate_check(DEPLOYMENT, order=60)
def candidate_audit_approved(project: Project, context: GateContext) -> list[Check]:
    return [audit_check(audit_gate_state(project))]


@gate_check(DEPLOYMENT, MONITORING, order=90)
def pack_current(project: Project, context: GateContext) -> list[Check]:
    """The newest pack rendered for exactly this state; left out of the checklist a pack
    shows (``with_pack=False``), which is part of that state."""
    return [pack_check(pack_gate_state(project))] if context.with_pack else []
