"""Teams, memberships, projects and shares: the writes, each with its event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from portal import access
from portal.exceptions import ApplicationError, Conflict, unique_or_conflict
from projects.models import Membership, Profile, Project, ProjectShare, Role, Team
from projects.services.events import changes_record, event_record

if TYPE_CHECKING:
    from projects.models import ApiToken

User = get_user_model()


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ApplicationError(
            f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role"
        )


def team_create(*, actor, slug: str, name: str, description: str = "") -> Team:
    with unique_or_conflict(f"A team with the slug {slug!r} exists already.", "slug_taken"):
        team = Team.objects.create(slug=slug, name=name, description=description)
        access.team_grants_create(team)
        event_record(
            actor=actor,
            verb="team.created",
            target=team,
            team=team,
            payload={"slug": slug, "name": name},
        )
        return team


def team_update(*, actor, team: Team, name: str, description: str) -> Team:
    with transaction.atomic():
        before = {"name": team.name, "description": team.description}
        Team.objects.filter(pk=team.pk).update(name=name, description=description)
        team.refresh_from_db()
        event_record(
            actor=actor,
            verb="team.updated",
            target=team,
            team=team,
            payload={"before": before, "after": {"name": name, "description": description}},
        )
        return team


def membership_add(
    *, actor, team: Team, user, role: str, is_admin: bool = False, token: ApiToken | None = None
) -> Membership:
    _check_role(role)
    with unique_or_conflict(
        f"{user.get_username()} is already a member of {team.name}; change their role.",
        "already_member",
    ):
        membership = Membership.objects.create(team=team, user=user, role=role, is_admin=is_admin)
        access.membership_grants(membership, grant=True)
        event_record(
            actor=actor,
            verb="membership.added",
            target=membership,
            team=team,
            token=token,
            payload={"user": user.get_username(), "role": role, "is_admin": is_admin},
        )
        return membership


def membership_change(
    *, actor, membership: Membership, role: str, is_admin: bool, token: ApiToken | None = None
) -> Membership:
    _check_role(role)
    with transaction.atomic():
        membership = _lock_membership(membership)
        before = {"role": membership.role, "is_admin": membership.is_admin}
        membership.role, membership.is_admin = role, is_admin
        membership.save(update_fields=["role", "is_admin"])
        access.membership_grants(membership, grant=True)
        event_record(
            actor=actor,
            verb="membership.changed",
            target=membership,
            team=membership.team,
            token=token,
            payload={
                "user": membership.user.get_username(),
                "before": before,
                "after": {"role": role, "is_admin": is_admin},
            },
        )
        return membership


def _lock_membership(membership: Membership) -> Membership:
    """Re-read the row under a lock: a copy loaded before the transaction may be stale."""
    current = (
        Membership.objects.select_for_update(no_key=True)
        .select_related("team", "user")
        .filter(pk=membership.pk)
        .first()
    )
    if current is None:
        raise Conflict("The membership was removed meanwhile.", code="gone")
    return current


def membership_remove(*, actor, membership: Membership, token: ApiToken | None = None) -> None:
    with transaction.atomic():
        membership = _lock_membership(membership)
        access.membership_grants(membership, grant=False)
        event_record(
            actor=actor,
            verb="membership.removed",
            target=membership,
            team=membership.team,
            token=token,
            payload={"user": membership.user.get_username(), "role": membership.role},
        )
        membership.delete()


def project_create(
    *,
    actor,
    team: Team,
    slug: str,
    name: str,
    description: str = "",
    task_type: str = Project.TaskType.CLASSIFICATION,
    token: ApiToken | None = None,
) -> Project:
    with unique_or_conflict(f"A project with the slug {slug!r} exists already.", "slug_taken"):
        project = Project.objects.create(
            team=team,
            slug=slug,
            name=name,
            description=description,
            task_type=task_type,
            created_by=actor,
        )
        access.project_grants_create(project)
        event_record(
            actor=actor,
            verb="project.created",
            target=project,
            project=project,
            token=token,
            payload={"slug": slug, "name": name, "task_type": task_type},
        )
    return project


EDITABLE_PROJECT_FIELDS = (
    "name",
    "description",
    "task_type",
    "intended_use",
    "out_of_scope_use",
    "limitations",
)


def project_update(*, actor, project: Project, token: ApiToken | None = None, **changes) -> Project:
    unknown = set(changes) - set(EDITABLE_PROJECT_FIELDS)
    if unknown:
        raise ApplicationError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
        changes_record(
            actor=actor,
            target=project,
            changes=changes,
            verb="project.updated",
            project=project,
            token=token,
        )
        return project


def project_share(
    *, actor, project: Project, role: str, team: Team | None = None, user=None
) -> ProjectShare:
    _check_role(role)
    if (team is None) == (user is None):
        raise ApplicationError("Share with either a team or a person.", code="share_target")
    if team is not None and team.pk == project.team_id:
        raise ApplicationError("The project belongs to this team already.", code="own_team")
    with unique_or_conflict(
        "The project is shared with them already; revoke that share first.", "already_shared"
    ):
        share = ProjectShare.objects.create(
            project=project, team=team, user=user, role=role, granted_by=actor
        )
        access.share_grants(share, grant=True)
        event_record(
            actor=actor,
            verb="project.shared",
            target=share,
            project=project,
            payload={
                "team": team.slug if team else None,
                "user": user.get_username() if user else None,
                "role": role,
            },
        )
        return share


def share_revoke(*, actor, share: ProjectShare) -> None:
    with transaction.atomic():
        access.share_grants(share, grant=False)
        event_record(
            actor=actor,
            verb="project.share_revoked",
            target=share,
            project=share.project,
            payload={
                "team": share.team.slug if share.team else None,
                "user": share.user.get_username() if share.user else None,
                "role": share.role,
            },
        )
        share.delete()


PROFILE_FIELDS = ("first_name", "last_name", "job_title")


PROFILE_VALUES = ("first_name", "last_name", "job_title")


def profile_values(user) -> dict[str, str]:
    """The user's stored name and job title, as :func:`profile_change_record` compares
    them."""
    stored = get_user_model().objects.filter(pk=user.pk).values("first_name", "last_name")
    names = stored.first() or {"first_name": "", "last_name": ""}
    title = Profile.objects.filter(user_id=user.pk).values_list("job_title", flat=True).first()
    return {**names, "job_title": title or ""}


def profile_change_record(*, actor, user, before: dict[str, str]) -> bool:
    """Record ``user``'s name and title as changed from ``before`` (by ``actor``: the user,
    or staff in the admin); False when nothing changed. On the portal's chain: the names
    packs and trails show are part of the record."""
    after = profile_values(user)
    changed = {k: v for k, v in after.items() if before.get(k, "") != v}
    if not changed:
        return False
    profile, _ = Profile.objects.get_or_create(user_id=user.pk)
    event_record(
        actor=actor,
        verb="user.profile_updated",
        target=profile,
        payload={"before": {k: before.get(k, "") for k in changed}, "after": changed},
    )
    return True


def profile_update(*, actor, first_name: str, last_name: str, job_title: str) -> bool:
    """Set the actor's own name and job title; False when nothing changed."""
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.select_for_update().get(pk=actor.pk)
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        before = profile_values(user)
        user.first_name, user.last_name = first_name, last_name
        user.save(update_fields=["first_name", "last_name"])
        profile.job_title = job_title
        profile.save(update_fields=["job_title"])
        if not profile_change_record(actor=user, user=user, before=before):
            return False
    # The caller's user object serves the rest of the request: show it the new values.
    actor.first_name, actor.last_name = first_name, last_name
    actor.profile = profile
    return True
