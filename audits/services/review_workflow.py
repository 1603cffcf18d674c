"""The auditor's workflow around a review, as pull-request reviews work: the team asks for
a review (naming a reviewer and a due date), reviewer and team talk in a thread, "request
changes" goes back to the engineer, who asks again when ready."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.analysis.memo import DECIDED
from audits.models import AuditReview, AuditRun, ReviewComment, ReviewRequest
from audits.reports import review_authors
from portal import access
from portal.exceptions import ApplicationError, Conflict
from portal.inputs import LONG_TEXT_MAX
from portal.mail import mail_on_commit
from projects.selectors import person_label
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: How far ahead a review may be due: past this, nobody plans it.
DUE_MAX_DAYS = 366


def eligible_reviewers(audit: AuditRun) -> list:
    """The project's auditors who may review ``audit``: outside the team that builds the
    model and none of the people who produced its evidence."""
    project = audit.config.project
    builders = {u.pk for u in access.users_with_project_perm(project, access.CHANGE)}
    authors = set(review_authors(audit))
    return [
        u
        for u in access.users_with_project_perm(project, access.AUDIT)
        if u.pk not in builders and u.pk not in authors
    ]


def _who_still_see(project, people) -> list:
    """Of ``people`` drawn from an audit's history, those who may still see ``project``
    (active, and still in its team or a share), in a stable order: nobody who lost access
    reads a thread by mail."""
    seeing = {u.pk for u in access.users_with_project_perm(project, access.VIEW)}
    return sorted((u for u in people if u is not None and u.pk in seeing), key=lambda u: u.pk)


def _link(audit: AuditRun) -> str:
    return settings.SITE_URL.rstrip("/") + audit.get_absolute_url()


def _locked(audit: AuditRun) -> AuditRun:
    # The audit row orders requests, reviews and comments on it, so "asked again after
    # the newest review" is decided on a stable history.
    return (
        AuditRun.objects.select_for_update(no_key=True, of=("self",))
        .select_related("config__project", "evaluation__model_version", "requested_by")
        .get(pk=audit.pk)
    )


def _due_on(value, today: date) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value).strip())
        except ValueError:
            raise ApplicationError(
                f"Give the due date as YYYY-MM-DD, not {str(value)[:40]!r}.", code="due_on"
            ) from None
    if value < today:
        raise ApplicationError(
            f"A review cannot be due before today ({today.isoformat()}); "
            f"{value.isoformat()} is past.",
            code="due_on",
        )
    if value > today + timedelta(days=DUE_MAX_DAYS):
        raise ApplicationError(f"Set a due date within {DUE_MAX_DAYS} days.", code="due_on")
    return value


def _reviewer(audit: AuditRun, username: str | None):
    username = (username or "").strip()
    if not username:
        return None
    reviewer = next((u for u in eligible_reviewers(audit) if u.username == username), None)
    if reviewer is None:
        raise ApplicationError(
            f"{username[:150]!r} cannot review audit {audit.pk}: the reviewer must be an "
            f"auditor of {audit.config.project.name} from outside the team that built the "
            "model, and none of the people who produced its evidence.",
            code="reviewer_not_eligible",
        )
    return reviewer


def review_request(
    *,
    actor,
    audit: AuditRun,
    reviewer: str | None = None,
    due_on: date | str | None = None,
    note: str = "",
    token: ApiToken | None = None,
) -> ReviewRequest:
    """Ask for ``audit``'s review, naming a ``reviewer`` (a username; blank: any eligible
    auditor) and the day it is ``due_on``. After "request changes" this asks again: the
    audit returns to the auditors' inbox. A decided audit (approved or rejected) is not
    asked again; a new evaluation or configuration makes a new audit for that."""
    note = (note or "").strip()
    if len(note) > LONG_TEXT_MAX:
        raise ApplicationError(
            f"Keep the note under {LONG_TEXT_MAX} characters.", code="note_too_long"
        )
    due = _due_on(due_on, timezone.localdate())
    chosen = _reviewer(audit, reviewer)
    with transaction.atomic():
        audit = _locked(audit)
        if audit.status != AuditRun.Status.SUCCEEDED:
            raise Conflict(
                f"Audit {audit.pk} is {audit.status}; a review is asked for once it has finished.",
                code="not_ready",
            )
        newest = audit.reviews.select_related("reviewer").order_by("-created_at", "-pk").first()
        if newest is not None and newest.decision != AuditReview.Decision.REQUEST_CHANGES:
            raise Conflict(
                f"Audit {audit.pk} was {DECIDED[newest.decision]} by "
                f"{person_label(newest.reviewer)} on {newest.created_at:%Y-%m-%d}; "
                "a new evaluation or audit configuration makes a new audit to review.",
                code="decided_already",
            )
        again = newest is not None
        request = ReviewRequest.objects.create(
            audit=audit, reviewer=chosen, due_on=due, note=note, requested_by=actor
        )
        event_record(
            actor=actor,
            verb="audit.review_requested",
            target=audit,
            project=audit.config.project,
            token=token,
            payload={
                "reviewer": chosen.username if chosen else None,
                "due_on": due.isoformat() if due else None,
                "note": note,
                "again": again,
            },
        )
        _mail_request(actor, audit, request, again)
        return request


def _mail_request(actor, audit: AuditRun, request: ReviewRequest, again: bool) -> None:
    project = audit.config.project
    people = [request.reviewer] if request.reviewer else eligible_reviewers(audit)
    verb = "asked again for" if again else "asked for"
    due = f", due {request.due_on.isoformat()}" if request.due_on else ""
    subject = f"[Stagegate] {project.name}: review of audit {audit.pk} requested{due}"
    body = (
        f"{person_label(actor)} {verb} a review of audit {audit.pk} "
        f"({audit.get_verdict_display()}) of {audit.evaluation.model_version}{due}.\n\n"
        + (f"{request.note}\n\n" if request.note else "")
        + f"{_link(audit)}#review\n"
    )
    mail_on_commit(subject, body, [u for u in people if u.pk != actor.pk], about=audit)


def review_comment_add(
    *, actor, audit: AuditRun, body: str, token: ApiToken | None = None
) -> ReviewComment:
    """Add ``body`` to ``audit``'s review thread and tell the other side: the engineer
    who asked for the audit, the reviewers so far and the one assigned."""
    body = (body or "").strip()
    if not body:
        raise ApplicationError("Write the comment.", code="comment_missing")
    if len(body) > LONG_TEXT_MAX:
        raise ApplicationError(
            f"Keep a comment under {LONG_TEXT_MAX} characters.", code="comment_too_long"
        )
    with transaction.atomic():
        audit = _locked(audit)
        comment = ReviewComment.objects.create(audit=audit, author=actor, body=body)
        event_record(
            actor=actor,
            verb="audit.commented",
            target=audit,
            project=audit.config.project,
            token=token,
            payload={"comment": comment.pk, "body": body},
        )
        people = {audit.requested_by, *_reviewers_so_far(audit)} - {actor}
        subject = f"[Stagegate] {audit.config.project.name}: comment on audit {audit.pk}"
        text = f"{person_label(actor)} wrote:\n\n{body}\n\n{_link(audit)}#thread\n"
        mail_on_commit(subject, text, _who_still_see(audit.config.project, people), about=audit)
        return comment


def _reviewers_so_far(audit: AuditRun) -> set:
    reviewed = {r.reviewer for r in audit.reviews.select_related("reviewer")}
    assigned = {r.reviewer for r in audit.review_requests.select_related("reviewer")}
    return reviewed | assigned


def changes_requested_notify(actor, audit: AuditRun, review: AuditReview) -> None:
    """Mail the engineers who asked for the audit and for its review that the reviewer
    wants changes, and how to ask again."""
    asked = {r.requested_by for r in audit.review_requests.select_related("requested_by")}
    people = {audit.requested_by, *asked} - {actor}
    subject = f"[Stagegate] {audit.config.project.name}: changes requested on audit {audit.pk}"
    body = (
        f"{person_label(actor)} asked for changes to audit {audit.pk} "
        f"({audit.get_verdict_display()}):\n\n{review.rationale}\n\n"
        "Answer in the thread, make the changes, then ask for the review again:\n"
        f"{_link(audit)}#review\n"
    )
    mail_on_commit(subject, body, _who_still_see(audit.config.project, people), about=audit)


def audit_finished_notify(audit: AuditRun) -> None:
    """Tell the project's eligible auditors that ``audit`` waits for their review."""
    project = audit.config.project
    subject = f"[Stagegate] {project.name}: audit {audit.pk} is waiting for review"
    body = (
        f"Audit {audit.pk} of {audit.evaluation.model_version} finished: "
        f"{audit.get_verdict_display()}. It is in your inbox for review.\n\n"
        f"{_link(audit)}#review\n"
    )
    mail_on_commit(subject, body, eligible_reviewers(audit), about=audit)
