"""Projects, teams, memberships, tokens and shares: who sees what."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from portal import access
from portal.exceptions import NotFound
from portal.once import once
from projects.models import ApiToken, Membership, Profile, Project, ProjectShare, Team


def job_title(user) -> str:
    try:
        return user.profile.job_title
    except Profile.DoesNotExist:
        return ""


def person(user) -> dict[str, str]:
    """How a user is named to others: username, full name (the username when none is
    set) and job title ("" when none)."""
    return {
        "username": user.get_username(),
        "name": user.get_full_name() or user.get_username(),
        "title": job_title(user),
    }


def person_label(user) -> str:
    """ "Ada Lovelace (ada), Head of Credit Risk": the name with the username beside, for
    trails and e-mails."""
    who = person(user)
    label = who["name"] if who["name"] == who["username"] else f"{who['name']} ({who['username']})"
    return f"{label}, {who['title']}" if who["title"] else label


def people_named(usernames) -> dict[str, dict[str, str]]:
    """The name and title of each of ``usernames`` that has either, by username."""
    users = get_user_model().objects.filter(username__in=set(usernames)).select_related("profile")
    out = {}
    for user in users:
        who = person(user)
        if who["name"] != who["username"] or who["title"]:
            out[who["username"]] = {"name": who["name"], "title": who["title"]}
    return out


def project_list(user, token: ApiToken | None = None) -> QuerySet[Project]:
    return access.projects_visible(user, token).select_related("team").order_by("name")


@once
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


def team_list(user, token: ApiToken | None = None) -> QuerySet[Team]:
    return access.teams_visible(user, token).order_by("name")


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user", "user__profile").order_by("user__username")


def memberships_of(user) -> QuerySet[Membership]:
    """The user's own memberships: the roles they hold, team by team."""
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name")


def membership_get(user, pk: int, token: ApiToken | None = None) -> Membership:
    """A membership of a team the user sees (404 otherwise); the caller checks the right."""
    membership = (
        Membership.objects.filter(pk=pk, team__in=team_list(user, token))
        .select_related("team", "user")
        .first()
    )
    if membership is None:
        raise NotFound("No such membership.", unfiltered=Membership.objects.filter(pk=pk))
    return membership


def token_list(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at")


def token_get(user, pk: int) -> ApiToken:
    """One of the user's own tokens (404 otherwise)."""
    found = token_list(user).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such token.", unfiltered=ApiToken.objects.filter(pk=pk))
    return found


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
        raise NotFound("No such share.", unfiltered=ProjectShare.objects.filter(pk=pk))
    return share
