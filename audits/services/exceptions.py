"""Exceptions: a failing finding accepted for a time, with its conditions, an owner and an
expiry date; and the reminders before each one expires and the record when it has."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.models import AuditReview, PolicyException, RiskItem
from portal import access
from portal.exceptions import ApplicationError, Conflict, Forbidden
from portal.inputs import LONG_TEXT_MAX
from portal.mail import mail_on_commit
from projects import selectors as project_selectors
from projects.analysis.gates import criterion_key
from projects.models import CriteriaVersion, Event, Project
from projects.services.events import event_record
from projects.services.signoffs import project_lock

if TYPE_CHECKING:
    from projects.models import ApiToken


#: Who may own an exception: the people who act on the project.
OWNER_PERMS = (access.CHANGE, access.SIGN_BUSINESS)


def exception_owners(project: Project) -> list:
    """The people who may own an exception of ``project``."""
    people = {
        u.pk: u for perm in OWNER_PERMS for u in access.users_with_project_perm(project, perm)
    }
    return sorted(people.values(), key=lambda u: u.username)


def exception_clean(project: Project, fields: dict, today: date | None = None) -> dict:
    """``fields`` (finding, conditions, owner as a username, expires_on as a date or ISO
    text) checked: every part present, the owner one of the project's people, the expiry
    after today and within ``EXCEPTION_MAX_DAYS``. Returns the model's fields."""
    today = today or timezone.localdate()
    missing = [
        label
        for key, label in (
            ("finding", "the finding"),
            ("conditions", "the conditions"),
            ("owner", "an owner"),
            ("expires_on", "an expiry date"),
        )
        if not str(fields.get(key) or "").strip()
    ]
    if missing:
        raise ApplicationError(
            "An exception needs " + ", ".join(missing) + ".", code="exception_incomplete"
        )
    finding, conditions = (str(fields[k]).strip() for k in ("finding", "conditions"))
    if max(len(finding), len(conditions)) > LONG_TEXT_MAX:
        raise ApplicationError(
            f"Keep the finding and the conditions under {LONG_TEXT_MAX} characters.",
            code="exception_too_long",
        )
    expires_on = fields["expires_on"]
    if not isinstance(expires_on, date):
        try:
            expires_on = date.fromisoformat(str(expires_on).strip())
        except ValueError:
            raise ApplicationError(
                f"Give the expiry date as YYYY-MM-DD, not {str(expires_on)[:40]!r}.",
                code="exception_expiry",
            ) from None
    if expires_on <= today:
        raise ApplicationError(
            f"An exception must expire after today ({today.isoformat()}); "
            f"{expires_on.isoformat()} is not.",
            code="exception_expiry",
        )
    latest = today + timedelta(days=settings.EXCEPTION_MAX_DAYS)
    if expires_on > latest:
        raise ApplicationError(
            f"An exception may last at most {settings.EXCEPTION_MAX_DAYS} days, until "
            f"{latest.isoformat()}; review it again then.",
            code="exception_expiry",
        )
    username = str(fields["owner"]).strip()
    owner = next((u for u in exception_owners(project) if u.username == username), None)
    if owner is None:
        raise ApplicationError(
            f"{username[:150]!r} cannot own an exception of {project.name}: the owner must be "
            "an ML engineer, lead or business owner of the project.",
            code="exception_owner",
        )
    return {"finding": finding, "conditions": conditions, "owner": owner, "expires_on": expires_on}


def exception_grant(
    *,
    actor,
    project: Project,
    subject: str,
    cleaned: dict,
    about: dict,
    token: ApiToken | None = None,
    **target,
) -> PolicyException:
    """Record an exception (``target``: the review, risk or criterion it qualifies) inside
    the caller's transaction, with its event; ``about`` says what it excuses."""
    exception = PolicyException.objects.create(
        project=project, subject=subject, granted_by=actor, **target, **cleaned
    )
    event_record(
        actor=actor,
        verb="exception.granted",
        target=exception,
        project=project,
        token=token,
        payload={
            "subject": subject,
            **about,
            "finding": exception.finding,
            "conditions": exception.conditions,
            "owner": exception.owner.username,
            "expires_on": exception.expires_on.isoformat(),
        },
    )
    return exception


def audit_exception_grant(
    *, actor, review: AuditReview, cleaned: dict, token: ApiToken | None = None
) -> PolicyException:
    """The exception that qualifies ``review``, an approval of a failing audit."""
    return exception_grant(
        actor=actor,
        project=review.audit.config.project,
        subject=PolicyException.Subject.AUDIT,
        cleaned=cleaned,
        about={"audit": review.audit_id, "verdict": review.audit.verdict},
        token=token,
        review=review,
    )


def risk_exception_grant(
    *, actor, risk: RiskItem, cleaned: dict, token: ApiToken | None = None
) -> PolicyException:
    """The exception under which a business owner accepts a high or critical risk."""
    return exception_grant(
        actor=actor,
        project=risk.project,
        subject=PolicyException.Subject.RISK,
        cleaned=cleaned,
        about={"risk": risk.pk, "title": risk.title, "severity": risk.severity},
        token=token,
        risk=risk,
    )


def require_business_owner(actor, project: Project, what: str, token=None) -> None:
    """Only a business owner of the project accepts ``what`` as an exception (403)."""
    if not access.has_project_perm(actor, project, access.SIGN_BUSINESS, token):
        raise Forbidden(
            f"Only a business owner of the project accepts {what}, as an exception.",
            code="business_owner_only",
        )


def criterion_exception_grant(
    *,
    actor,
    version: CriteriaVersion,
    criterion: str,
    exception: dict,
    token: ApiToken | None = None,
) -> PolicyException:
    """A business owner accepts an unmet criterion of the criteria in force as an exception.
    ``criterion`` names it as "metric/source" (as the gate and the API show it)."""
    project = version.project
    require_business_owner(actor, project, "an unmet criterion", token)
    cleaned = exception_clean(project, exception or {})
    with transaction.atomic():
        project = project_lock(project)
        current = project_selectors.criteria_current(project)
        if current is None or current.pk != version.pk:
            raise Conflict(
                f"Criteria v{version.version} are not the ones in force; accept a criterion of "
                "the current version.",
                code="not_current",
            )
        row = next(
            (
                r
                for r in project_selectors.criteria_assessment(version)
                if criterion_key(r["criterion"]["metric"], r["criterion"]["source"]) == criterion
            ),
            None,
        )
        if row is None:
            raise ApplicationError(
                f"Criteria v{version.version} have no criterion {criterion[:120]!r}; name it as "
                "metric/source, e.g. roc_auc/evaluation.",
                code="unknown_criterion",
            )
        if row["outcome"].status != "not_met":
            raise ApplicationError(
                f"{row['label']} is {row['outcome'].status.replace('_', ' ')}: only an unmet "
                "criterion is accepted as an exception.",
                code="exception_not_needed",
            )
        held = PolicyException.objects.filter(
            criteria_version=version, criterion=criterion, expires_on__gte=timezone.localdate()
        ).first()
        if held is not None:
            raise Conflict(
                f"{row['label']} is accepted as an exception until {held.expires_on} already.",
                code="excepted_already",
            )
        return exception_grant(
            actor=actor,
            project=project,
            subject=PolicyException.Subject.CRITERION,
            cleaned=cleaned,
            about={
                "criteria_version": version.version,
                "criterion": criterion,
                "label": f"{row['label']} {row['outcome'].target_text}",
                "value": row["outcome"].value,
            },
            token=token,
            criteria_version=version,
            criterion=criterion,
        )


# --- Reminders and expiry --------------------------------------------------------------
def _recorded(verb: str, exception: PolicyException) -> bool:
    return Event.objects.filter(
        verb=verb,
        target_type=PolicyException._meta.label_lower,
        target_id=str(exception.pk),
    ).exists()


def _describe(exception: PolicyException) -> str:
    link = settings.SITE_URL.rstrip("/") + exception.get_absolute_url()
    return (
        f"Exception for {exception.about}.\n\n"
        f"Finding: {exception.finding}\n\nConditions: {exception.conditions}\n\n"
        f"Owner: {project_selectors.person_label(exception.owner)}. "
        f"Granted by {project_selectors.person_label(exception.granted_by)}.\n\n"
        f"{link}\n"
    )


def exceptions_remind(today: date | None = None) -> dict[str, int]:
    """Mail the owner and the granter of every exception that expires within
    ``EXCEPTION_REMIND_DAYS`` (once), and record each that has expired (once): from then
    on the check it excused fails again. Returns how many of each."""
    today = today or timezone.localdate()
    soon = today + timedelta(days=settings.EXCEPTION_REMIND_DAYS)
    counts = {"reminded": 0, "expired": 0}
    candidates = PolicyException.objects.filter(expires_on__lte=soon).select_related(
        "project", "owner", "granted_by", "review__audit", "risk", "criteria_version"
    )
    for exception in candidates:
        expired = not exception.holds_on(today)
        verb = "exception.expired" if expired else "exception.reminded"
        with transaction.atomic():
            # The project row, locked first, orders two sweeps: the second sees the
            # first's event and records nothing.
            Project.objects.select_for_update(no_key=True).filter(pk=exception.project_id).first()
            if _recorded(verb, exception):
                continue
            event_record(
                actor=None,
                verb=verb,
                target=exception,
                project=exception.project,
                payload={"expires_on": exception.expires_on.isoformat()},
            )
            name = exception.project.name
            if expired:
                subject = f"[Stagegate] {name}: an exception expired on {exception.expires_on}"
                lead = "This exception has expired; the check it excused fails again until "
                lead += "the finding is fixed or a new decision is recorded.\n\n"
            else:
                subject = f"[Stagegate] {name}: an exception expires on {exception.expires_on}"
                lead = "This exception expires soon. Fix the finding, or ask for a new "
                lead += "decision before it lapses.\n\n"
            people = {exception.owner, exception.granted_by}
            mail_on_commit(subject, lead + _describe(exception), people, about=exception)
        counts["expired" if expired else "reminded"] += 1
    return counts
