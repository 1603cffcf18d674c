"""Reads. Everything a user is shown starts from portal.access."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from portal import access
from portal.exceptions import NotFound
from projects.analysis.chain import ChainBreak, ChainReport, Link, verify_chain
from projects.analysis.gates import GateResult, ProjectState, evaluate_gate
from projects.models import (
    ApiToken,
    Event,
    EventExport,
    EventHead,
    Membership,
    Project,
    ProjectShare,
    Role,
    Team,
)
from projects.services.events import event_body


def project_list(user, token: ApiToken | None = None) -> QuerySet[Project]:
    return access.projects_visible(user, token).select_related("team").order_by("name")


def people_in_role(project: Project, role: str) -> list[str]:
    """Usernames holding ``role`` on the project, through its team or a share."""
    shared_teams = ProjectShare.objects.filter(project=project, role=role, team__isnull=False)
    # A shared team's members take the shared role, whatever their role at home.
    names = set(
        Membership.objects.filter(
            team_id=project.team_id, role=role, user__is_active=True
        ).values_list("user__username", flat=True)
    )
    names |= set(
        Membership.objects.filter(
            team__in=shared_teams.values("team"), user__is_active=True
        ).values_list("user__username", flat=True)
    )
    names |= set(
        ProjectShare.objects.filter(project=project, role=role, user__is_active=True).values_list(
            "user__username", flat=True
        )
    )
    return sorted(names)


def project_state(project: Project) -> ProjectState:
    return ProjectState(
        stage=project.stage,
        description=project.description,
        business_owners=tuple(people_in_role(project, Role.BUSINESS_OWNER)),
        ml_engineers=tuple(people_in_role(project, Role.ML_ENGINEER)),
    )


def project_gate(project: Project, target: str | None = None, reason: str = "") -> GateResult:
    return evaluate_gate(project_state(project), target, reason)


def project_events(project: Project) -> QuerySet[Event]:
    return Event.objects.filter(project=project).select_related("actor").order_by("-seq")


def team_list(user, token: ApiToken | None = None) -> QuerySet[Team]:
    return access.teams_visible(user, token).order_by("name")


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def token_list(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at")


def events_verify() -> ChainReport:
    """Check the whole chain, and that its tip matches the recorded head."""
    links = (
        Link(seq=e.seq, prev_hash=e.prev_hash, hash=e.hash, body=event_body(e))
        for e in Event.objects.order_by("seq").iterator(chunk_size=2000)
    )
    report = verify_chain(links)
    head = EventHead.objects.filter(pk=1).first()
    if not report.ok:
        return report
    if head is None and report.checked:
        lost = ChainBreak(report.head_seq, "the chain's recorded head is missing")
        return ChainReport(report.checked, report.head_seq, report.head_hash, lost)
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        missing = ChainBreak(report.head_seq + 1, "the chain ends before its recorded head")
        return ChainReport(report.checked, report.head_seq, report.head_hash, missing)
    return report


def active_user(username: str):
    """The active person with this username, or None."""
    return get_user_model().objects.filter(username=username, is_active=True).first()


def team_by_slug(slug: str) -> Team | None:
    """Any team, by slug: sharing names a team the sharer need not belong to."""
    return Team.objects.filter(slug=slug).first()


def share_get(user, pk: int, token: ApiToken | None = None) -> ProjectShare:
    """A share of a project the user sees (404 otherwise); the caller checks SHARE."""
    share = (
        ProjectShare.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project", "team", "user")
        .first()
    )
    if share is None:
        raise NotFound("No such share.")
    return share


def export_get(user, pk: int, token: ApiToken | None = None) -> EventExport:
    """An audit-trail export of a project the user sees (404 otherwise)."""
    export = (
        EventExport.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project")
        .first()
    )
    if export is None:
        raise NotFound("No such export.")
    return export
