"""Who may do what: the one module that talks to django-guardian.

Roles come from team memberships (through one group per team and role) and
from project shares (to a team or to one person). Every check in views, API
and querysets goes through the functions here. An object the user may not see
answers 404 (its existence is not revealed); one they may see but not change
answers 403. A token narrows its user's rights to its scopes and, for a CI
token, to its one project.

Being a superuser or staff member counts for nothing here: they administer through
the Django admin, and in the API, the web pages and sign-offs they hold what their
memberships and shares give, like everyone else. django-guardian grants a superuser
everything (``user.has_perm``, ``get_perms``, ``get_objects_for_user``), so the
checks below read the grants themselves.

A refusal says what refused: the role (``permission_denied``) or the token
(``token_scope``, ``token_not_allowed``, ``token_project``, ``token_deployment``), always
with 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth.models import Group
from django.db.models import QuerySet
from guardian.shortcuts import (
    assign_perm,
    get_group_perms,
    get_objects_for_user,
    get_user_perms,
    get_users_with_perms,
    remove_perm,
)

from portal.exceptions import Forbidden, NotFound
from portal.once import once

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
#: The scope of a deployment's own token (its exporters'): it pushes that deployment's live
#: metrics and reads its project, nothing else. No permission below maps to it.
METRICS_SCOPE = "metrics"
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
@once
def _held(user: AbstractBaseUser, obj: Project | Team) -> frozenset[str]:
    """The rights ``user`` holds on ``obj`` through grants: their own and their groups'.

    Not ``user.has_perm`` or ``get_perms``: guardian answers those with every right for a
    superuser."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return frozenset(get_user_perms(user, obj)) | frozenset(get_group_perms(user, obj))


def _objects_held(user: AbstractBaseUser, perm: str, klass: type) -> QuerySet:
    # with_superuser=False: a superuser sees what their grants give, not every row.
    return get_objects_for_user(
        user, perm, klass=klass, accept_global_perms=False, with_superuser=False
    )


def _token_refusal(
    token: ApiToken | None,
    perms: Iterable[str],
    project: Project | None = None,
    *,
    team_act: bool = False,
) -> Forbidden | None:
    """Why ``token`` allows none of ``perms`` (on ``project``, or as an act on a team), or
    None when it allows one. Reasons come in the order that decides what would help: no
    token may do it, then the token's binding to a project, then its scopes."""
    if token is None:
        return None
    perms = tuple(perms)
    needed = sorted({SCOPE_FOR_PERM[perm] for perm in perms} - {None})
    if not needed:
        return Forbidden(
            f"Only a signed-in person may do this, never a token ({' or '.join(perms)}).",
            code="token_not_allowed",
        )
    if team_act and token.project_id is not None:
        return Forbidden(
            "This token is bound to one project; acting on a team needs a token that is not.",
            code="token_project",
        )
    if project is not None and token.project_id not in (None, project.pk):
        return Forbidden("This token is bound to another project.", code="token_project")
    if not set(needed) & set(token.scopes):
        return Forbidden(
            f"This token's scopes ({', '.join(sorted(token.scopes))}) do not allow this; "
            f"it needs the {' or '.join(needed)} scope.",
            code="token_scope",
        )
    return None


def _token_allows(token: ApiToken | None, perm: str, project: Project | None = None) -> bool:
    return _token_refusal(token, (perm,), project) is None


def projects_visible(user: AbstractBaseUser, token: ApiToken | None = None) -> QuerySet[Project]:
    """Every project the user may see; list endpoints start from this."""
    from projects.models import Project

    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    qs = _objects_held(user, VIEW, Project)
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
    teams = _objects_held(user, VIEW_TEAM, Team)
    if token is not None and token.project_id is not None:
        # A CI token sees the team that owns its project, and only if its user does.
        teams = teams.filter(projects__pk=token.project_id)
    return teams


def has_project_perm(
    user: AbstractBaseUser, project: Project, perm: str, token: ApiToken | None = None
) -> bool:
    return _token_allows(token, perm, project) and perm in _held(user, project)


def has_team_perm(
    user: AbstractBaseUser, team: Team, perm: str, token: ApiToken | None = None
) -> bool:
    refusal = _token_refusal(token, (perm,), team_act=True)
    return refusal is None and perm in _held(user, team)


def access_project(
    user: AbstractBaseUser, slug: str, perm: str = VIEW, token: ApiToken | None = None
) -> Project:
    """The project for ``slug`` if ``user`` may ``perm`` it: 404 if unseen, 403 if read-only."""
    from projects.models import Project

    project = projects_visible(user, token).filter(slug=slug).select_related("team").first()
    if project is None:
        raise NotFound("No such project.", unfiltered=Project.objects.filter(slug=slug))
    require_project_perm(user, project, perm, token)
    return project


def require_project_perm(
    user: AbstractBaseUser, project: Project, perm: str, token: ApiToken | None = None
) -> None:
    """403 unless ``user`` may ``perm`` a project they already see (an object of it was
    fetched through a visible-projects query)."""
    if perm != VIEW:
        require_any_project_perm(user, project, (perm,), token)


def require_metrics_push(user: AbstractBaseUser, deployment, token: ApiToken | None = None) -> None:
    """403 unless ``user`` may push live metrics to ``deployment`` (of a project they see):
    the change right, and from a token either the write scope or the metrics scope of a
    token bound to this very deployment."""
    project = deployment.project
    if token is not None and METRICS_SCOPE in token.scopes:
        # The binding is the deployment app's row; a metrics token without one is not bound
        # to anything, and the write scope below decides.
        bound = getattr(token, "deployment_binding", None)
        if bound is not None:
            if CHANGE not in _held(user, project):
                raise Forbidden(f"Your role on this project does not allow this ({CHANGE}).")
            if bound.deployment_id != deployment.pk:
                raise Forbidden(
                    "This token is bound to another deployment.", code="token_deployment"
                )
            return
    require_project_perm(user, project, CHANGE, token)


def access_team(
    user: AbstractBaseUser, slug: str, perm: str = VIEW_TEAM, token: ApiToken | None = None
) -> Team:
    """The team for ``slug`` if ``user`` may ``perm`` it: 404 if not a member, else 403."""
    from projects.models import Team

    team = teams_visible(user, token).filter(slug=slug).first()
    if team is None:
        raise NotFound("No such team.", unfiltered=Team.objects.filter(slug=slug))
    if perm == VIEW_TEAM:
        return team
    # The role first: when it does not allow this, no other token would help.
    if perm not in _held(user, team):
        raise Forbidden(f"Your role in this team does not allow this ({perm}).")
    refusal = _token_refusal(token, (perm,), team_act=True)
    if refusal is not None:
        raise refusal
    return team


def require_any_project_perm(
    user: AbstractBaseUser,
    project: Project,
    perms: tuple[str, ...],
    token: ApiToken | None = None,
) -> None:
    """403 unless ``user`` holds one of ``perms`` on a project they already see, saying
    whether their role or their token is what refuses."""
    held = _held(user, project)
    # The role first: when it does not allow this, no other token would help.
    allowed = tuple(perm for perm in perms if perm in held)
    if not allowed:
        raise Forbidden(f"Your role on this project does not allow this ({' or '.join(perms)}).")
    refusal = _token_refusal(token, allowed, project)
    if refusal is not None:
        raise refusal


def project_perms(user: AbstractBaseUser, project: Project) -> set[str]:
    """The user's permissions on a project, for showing the right buttons."""
    return set(PROJECT_PERMS) & _held(user, project)


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
    held = _objects_held(user, perm, Project)
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
