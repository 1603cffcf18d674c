"""Periodic reviews of live deployments: who looked, when, what they concluded and why.

A review is recorded once and never edited; it restarts the clock of the monitoring spec's
``review_cadence_days`` (deployments/analysis/review.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from deployments.models import Deployment, MonitoringReview
from deployments.reviews import not_reviewable
from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import LONG_TEXT_MAX, text_problem
from portal.transactions import retry_atomic
from projects.models import Project
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: The longest notes a review takes: the house's bound on free text a person writes.
NOTES_MAX = LONG_TEXT_MAX


def _clean_notes(notes: str) -> str:
    notes = (notes or "").strip()
    if not notes:
        raise ApplicationError(
            "Write what you looked at and why you concluded so: the notes are the review.",
            code="notes_missing",
        )
    if len(notes) > NOTES_MAX:
        raise ApplicationError(
            f"Keep the notes to at most {NOTES_MAX:,} characters; they have {len(notes):,}.",
            code="too_long",
        )
    problem = text_problem(notes)
    if problem:
        raise ApplicationError(f"The notes' text {problem}.", code="invalid_text")
    return notes


def review_record(
    *,
    actor,
    deployment: Deployment,
    outcome: str,
    notes: str,
    token: ApiToken | None = None,
) -> MonitoringReview:
    """Record a periodic review of ``deployment``, live in its project's current cycle while
    the project is in monitoring; by a business owner or ML engineer of the project."""
    project = deployment.project
    access.require_project_perm(actor, project, access.CHANGE, token)
    if outcome not in MonitoringReview.Outcome.values:
        choices = ", ".join(
            f"{value} ({label.lower()})" for value, label in MonitoringReview.Outcome.choices
        )
        raise ApplicationError(f"Conclude with one of {choices}.", code="invalid_outcome")
    notes = _clean_notes(notes)

    def record() -> MonitoringReview:
        # The project's row first, as a transition takes it: a review lands before the
        # project leaves monitoring, or is refused after.
        locked = (
            Project.objects.select_for_update(no_key=True, of=("self",))
            .select_related("team")
            .get(pk=project.pk)
        )
        refusal = not_reviewable(deployment, locked)
        if refusal is not None:
            raise refusal
        review = MonitoringReview.objects.create(
            deployment=deployment,
            cycle=locked.cycle,
            outcome=outcome,
            notes=notes,
            reviewed_by=actor,
            reviewed_at=timezone.now(),
        )
        event_record(
            actor=actor,
            verb="monitoring_review.recorded",
            target=review,
            project=locked,
            token=token,
            payload={
                "deployment": deployment.pk,
                "cycle": locked.cycle,
                "outcome": outcome,
                "notes": notes,
            },
        )
        return review

    return retry_atomic(record)
