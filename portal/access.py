"""Who may do what: the one module that talks to django-guardian.

Roles come from team memberships (through one group per team and role) and
from project shares (to a team or to one person). Every check in views, API
and querysets goes through the functions here. An object the user may not see
answers 404 (its existence is not revealed); one they may see but not change
answers 403. A token narrows its user's rights to its scopes and, for a CI
token, to its one project.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth.models import Group
from django.db.models import QuerySet
from guardian.shortcuts import (
    assign_perm,
    get_objects_for_user,
    get_perms,
    get_users_with_perms,
    remove_perm,
)

from portal.exceptions import Forbidden, NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from projects.models import ApiToken, Membership, Project, ProjectShare, Team

VIEW = "view_project"
CHANGE = "change_project"
TRANSITION = "transition_project"
AUDIT = "audit_project"
SHARE = "share_project"
SIGN_BUSINESS = "signoff_business_project"
SIGN_ML = "signoff_ml_project"
MEASURE_BUSINESS = "measure_business_project"
PROJECT_PERMS = (VIEW, CHANGE, TRANSITION, AUDIT, SHARE, SIGN_BUSINESS, SIGN_ML, MEASURE_BUSINESS)
#: The right to sign off success criteria in each signing role.
SIGN_AS = {"business_owner": SIGN_BUSINESS, "ml_engineer": SIGN_ML}
#: The risk register is written by the project's team and by its auditors.
EDIT_RISKS = (CHANGE, AUDIT)

VIEW_TEAM = "view_team"
CREATE_PROJECT = "create_project"
MANAGE_TEAM = "manage_team"

ROLE_PROJECT_PERMS: dict[str, tuple[str, ...]] = {
    "business_owner": (VIEW, CHANGE, TRANSITION, SHARE, SIGN_BUSINESS, MEASURE_BUSINESS),
    "ml_engineer": (VIEW, CHANGE, TRANSITION, SIGN_ML),
    "auditor": (VIEW, AUDIT),
    "viewer": (VIEW,),
}
ROLE_TEAM_PERMS: dict[str, tuple[str, ...]] = {
    "business_owner": (VIEW_TEAM, CREATE_PROJECT),
    "ml_engineer": (VIEW_TEAM, CREATE_PROJECT),
    "auditor": (VIEW_TEAM,),
    "viewer": (VIEW_TEAM,),
}
# What a token must carry for each permission; sharing needs a signed-in person.
SCOPE_FOR_PERM: dict[str, str | None] = {
    VIEW: "read",
    VIEW_TEAM: "read",
    CHANGE: "write",
    AUDIT: "write",
    CREATE_PROJECT: "write",
    TRANSITION: "transition",
    MEASURE_BUSINESS: "write",
    # A signature or a grant is a person's own act: never through a token.
    SHARE: None,
    SIGN_BUSINESS: None,
    SIGN_ML: None,
    MANAGE_TEAM: None,
}


def role_group(team: Team, role: str) -> Group:
    group, _ = Group.objects.get_or_create(name=f"team-{team.pk}-{role}")
    return group


def team_groups(team: Team) -> list[Group]:
    return [role_group(team, role) for role in ROLE_PROJECT_PERMS]


# --- Grants ------------------------------------------------------------------
def team_grants_create(team: Team) -> None:
    """Give each of a new team's role groups its rights on the team."""
    for role, perms in ROLE_TEAM_PERMS.items():
        group = role_group(team, role)
        for perm in perms:
            assign_perm(perm, group, team)


def project_grants_create(project: Project) -> None:
    """Give the owning team's role groups their rights on a new project."""
    for role, perms in ROLE_PROJECT_PERMS.items():
        group = role_group(project.team, role)
        for perm in perms:
            assign_perm(perm, group, project)


def share_grants(share: ProjectShare, *, grant: bool) -> None:
    """Apply or withdraw the rights a share gives.

    A team or person holds rights on a project through at most one share, and a
    share never names the owning team, so withdrawing touches no other grant.
    """
    holders: Iterable = team_groups(share.team) if share.team_id else [share.user]
    change = assign_perm if grant else remove_perm
    for holder in holders:
        for perm in ROLE_PROJECT_PERMS[share.role]:
            change(perm, holder, share.project)


def membership_grants(membership: Membership, *, grant: bool) -> None:
    """Make the member's groups and admin right in the team match the membership (or, when
    withdrawn, take them all away). Every role group of the team is cleared first, so a
    stale copy of the membership cannot leave an old role behind."""
    user, team = membership.user, membership.team
    user.groups.remove(*team_groups(team))
    remove_perm(MANAGE_TEAM, user, team)
    if grant:
        user.groups.add(role_group(team, membership.role))
        if membership.is_admin:
            assign_perm(MANAGE_TEAM, user, team)


# --- Checks ------------------------------------------------------------------
def _token_allows(token: ApiToken | None, perm: str, project: Project | None = None) -> bool:
    if token is None:
        return True
    scope = SCOPE_FOR_PERM[perm]
    if scope is None or scope not in token.scopes:
        return False
    return project is None or token.project_id is None or token.project_id == project.pk


def projects_visible(user: AbstractBaseUser, token: ApiToken | None = None) -> QuerySet[Project]:
    """Every project the user may see; list endpoints start from this."""
    from projects.models import Project

    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    qs = get_objects_for_user(user, VIEW, klass=Project, accept_global_perms=False)
    if token is not None:
        if "read" not in token.scopes:
            return Project.objects.none()
        if token.project_id is not None:
            qs = qs.filter(pk=token.project_id)
    return qs


def teams_visible(user: AbstractBaseUser, token: ApiToken | None = None) -> QuerySet[Team]:
    from projects.models import Team

    if not user.is_authenticated or not user.is_active or not _token_allows(token, VIEW_TEAM):
        return Team.objects.none()
    teams = get_objects_for_user(user, VIEW_TEAM, klass=Team, accept_global_perms=False)
    if token is not None and token.project_id is not None:
        # A CI token sees the team that owns its project, and only if its user does.
        teams = teams.filter(projects__pk=token.project_id)
    return teams


def has_project_perm(
    user: AbstractBaseUser, project: Project, perm: str, token: ApiToken | None = None
) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return _token_allows(token, perm, project) and user.has_perm(f"projects.{perm}", project)


def has_team_perm(
    user: AbstractBaseUser, team: Team, perm: str, token: ApiToken | None = None
) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if token is not None and token.project_id is not None:
        return False
    return _token_allows(token, perm) and user.has_perm(f"projects.{perm}", team)


def access_project(
    user: AbstractBaseUser, slug: str, perm: str = VIEW, token: ApiToken | None = None
) -> Project:
    """The project for ``slug`` if ``user`` may ``perm`` it: 404 if unseen, 403 if read-only."""
    project = projects_visible(user, token).filter(slug=slug).select_related("team").first()
    if project is None:
        raise NotFound("No such project.")
    require_project_perm(user, project, perm, token)
    return project


def require_project_perm(
    user: AbstractBaseUser, project: Project, perm: str, token: ApiToken | None = None
) -> None:
    """403 unless ``user`` may ``perm`` a project they already see (an object of it was
    fetched through a visible-projects query)."""
    if perm != VIEW and not has_project_perm(user, project, perm, token):
        raise Forbidden(f"Your role on this project does not allow this ({perm}).")


def access_team(
    user: AbstractBaseUser, slug: str, perm: str = VIEW_TEAM, token: ApiToken | None = None
) -> Team:
    """The team for ``slug`` if ``user`` may ``perm`` it: 404 if not a member, else 403."""
    team = teams_visible(user, token).filter(slug=slug).first()
    if team is None:
        raise NotFound("No such team.")
    if perm != VIEW_TEAM and not has_team_perm(user, team, perm, token):
        raise Forbidden(f"Your role in this team does not allow this ({perm}).")
    return team


def require_any_project_perm(
    user: AbstractBaseUser,
    project: Project,
    perms: tuple[str, ...],
    token: ApiToken | None = None,
) -> None:
    """403 unless ``user`` holds one of ``perms`` on a project they already see."""
    if not any(has_project_perm(user, project, perm, token) for perm in perms):
        raise Forbidden(f"Your role on this project does not allow this ({' or '.join(perms)}).")


def project_perms(user: AbstractBaseUser, project: Project) -> set[str]:
    """The user's permissions on a project, for showing the right buttons."""
    if not user.is_authenticated or not user.is_active:
        return set()
    return set(get_perms(user, project)) & set(PROJECT_PERMS)


def users_with_project_perm(project: Project, perm: str) -> list:
    """Active people holding ``perm`` on ``project`` (directly or through a group)."""
    users = get_users_with_perms(
        project, only_with_perms_in=[perm], with_group_users=True, with_superusers=False
    )
    return sorted((u for u in users if u.is_active), key=lambda u: u.username)


def projects_with_perm(
    user: AbstractBaseUser, perm: str, token: ApiToken | None = None
) -> QuerySet[Project]:
    """The projects ``user`` sees (through ``token`` if given) and holds ``perm`` on: a
    list to read, such as an auditor's inbox, so the token needs only its read scope."""
    from projects.models import Project

    visible = projects_visible(user, token)
    held = get_objects_for_user(user, perm, klass=Project, accept_global_perms=False)
    return visible.filter(pk__in=held.values("pk"))


def require_independent_reviewer(
    user: AbstractBaseUser,
    project: Project,
    token: ApiToken | None = None,
    *,
    authors: Iterable[int | None] = (),
) -> None:
    """403 unless ``user`` may review an audit of ``project``: an auditor of it who does not
    also build it (hold the change right) and did not produce the evidence (``authors``)."""
    require_project_perm(user, project, AUDIT, token)
    if has_project_perm(user, project, CHANGE) or user.pk in set(authors):
        raise Forbidden(
            "You helped build this model; its audit needs a reviewer from outside the team "
            "that made it."
        )
