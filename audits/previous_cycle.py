"""The previous cycle in an approval pack: what production showed before the project went
back to prototyping (:func:`audits.snapshot.pack_state` carries it from the second cycle on).

Only what happened before the reopening is taken, so drift checks and alerts that the
earlier cycle's deployment (still serving) records later leave the pack's state alone; an
alert of that time acknowledged or resolved later does change it, as new evidence should.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audits.monitoring import drift_record
from deployments import selectors as deployment_selectors
from deployments.services.alerts import alert_record
from projects import selectors
from projects.models import Project


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def previous_cycle_state(project: Project) -> dict[str, Any]:
    """The previous cycle's monitoring evidence, as it stood when the project was reopened:
    its deployments, their drift checks and the alerts fired until then (with who handled
    them), and the reason given for going back."""
    cycle = project.cycle - 1
    event = selectors.reopening_event(project, project.cycle)
    until = event.created_at if event is not None else None
    deployments = []
    for deployment in deployment_selectors.cycle_deployments(project, cycle):
        checks = [c for c in deployment.drift_checks.all() if until is None or c.created_at < until]
        alerts = [a for a in deployment.alerts.all() if until is None or a.fired_at < until]
        deployments.append(
            {
                "id": deployment.pk,
                "name": deployment.name,
                "environment": deployment.environment,
                "model": str(deployment.model_version),
                "created_at": _when(deployment.created_at),
                "drift_checks": [drift_record(c, columns=False) for c in checks],
                "alerts": [alert_record(a) for a in alerts],
            }
        )
    return {
        "cycle": cycle,
        "reopened_at": _when(until),
        "reopened_by": event.actor_label if event is not None else None,
        "reopened_from": event.payload.get("from") if event is not None else None,
        "reason": event.payload.get("reason", "") if event is not None else "",
        "deployments": deployments,
    }
