"""Moving a project through its lifecycle, guarded by its gate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from portal.exceptions import ApplicationError, Conflict
from projects.analysis.gates import (
    DEPLOYMENT,
    MONITORING,
    PROTOTYPING,
    GateResult,
    check_record,
    move_is_allowed,
)
from projects.models import Project
from projects.selectors import project_gate
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: The stages from which going back to prototyping starts a new cycle.
REOPENING_FROM = (DEPLOYMENT, MONITORING)


def project_transition(
    *, actor, project: Project, target: str, reason: str = "", token: ApiToken | None = None
) -> GateResult:
    """Move ``project`` to ``target`` if its gate passes; the event keeps the checklist.

    Going back to prototyping from deployment or monitoring starts the project's next
    cycle: from then on the gates judge only evidence of that cycle (a pack of its state,
    its deployments), while what earlier cycles hold stays on record."""
    if target not in Project.Stage.values:
        raise ApplicationError(
            f"Unknown stage {target!r}; use one of {', '.join(Project.Stage.values)}.",
            code="unknown_stage",
        )
    with transaction.atomic():
        # Lock the row so two transitions cannot both pass the same gate.
        project = (
            Project.objects.select_for_update(no_key=True, of=("self",))
            .select_related("team")
            .get(pk=project.pk)
        )
        if target == project.stage:
            raise Conflict(f"The project is in {target} already.", code="same_stage")
        if not move_is_allowed(project.stage, target):
            raise Conflict(
                f"A project cannot move from {project.stage} to {target}.", code="move_not_allowed"
            )
        if not reason.strip():
            # The trail says why every move happened, forward ones too.
            raise ApplicationError(
                "Say why the project moves: a move always records a reason.",
                code="reason_missing",
            )
        result = project_gate(project, target, reason)
        checks = [check_record(check) for check in result.checks]
        if not result.passed:
            raise Conflict(
                f"The gate into {target} has not passed.",
                code="gate_failed",
                extra={"checks": checks},
            )
        before, cycle_before = project.stage, project.cycle
        if target == PROTOTYPING and before in REOPENING_FROM:
            project.cycle += 1
        project.stage = target
        project.updated_at = timezone.now()
        project.save(update_fields=["stage", "cycle", "updated_at"])
        event_record(
            actor=actor,
            verb="project.transitioned",
            target=project,
            project=project,
            token=token,
            payload={
                "from": before,
                "to": target,
                "reason": reason.strip(),
                "checks": checks,
                "cycle": {"from": cycle_before, "to": project.cycle},
            },
        )
        return result
