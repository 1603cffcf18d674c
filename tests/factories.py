"""Factories and the shared test world. Objects are made through the services, so
grants and events are the real ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import factory
from django.contrib.auth import get_user_model

from projects.models import EventExport, Membership, Project, ProjectShare, Role, Team
from projects.services import exports, teams, tokens

ROLES = [Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER]
PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


def make_team(slug: str, *, admin=None) -> Team:
    return teams.team_create(actor=admin, slug=slug, name=slug.replace("-", " ").title())


def make_project(team: Team, slug: str, *, actor=None, **fields) -> Project:
    fields.setdefault("name", slug.replace("-", " ").title())
    fields.setdefault("description", "A model that scores something worth scoring.")
    return teams.project_create(actor=actor, team=team, slug=slug, **fields)


@dataclass
class TeamWorld:
    team: Team
    people: dict[str, object]
    memberships: dict[str, Membership]
    project: Project
    share: ProjectShare
    export: EventExport
    token_key: str
    extra: dict = field(default_factory=dict)


def build_team(prefix: str, outsider) -> TeamWorld:
    """A team with one person per role (the business owner is team admin), a project
    shared with ``outsider`` as auditor, a finished export and an API token."""
    team = make_team(f"{prefix}-team")
    people, memberships = {}, {}
    for role in ROLES:
        user = UserFactory(username=f"{prefix}_{role}")
        people[role] = user
        memberships[role] = teams.membership_add(
            actor=None, team=team, user=user, role=role, is_admin=role == Role.BUSINESS_OWNER
        )
    owner = people[Role.BUSINESS_OWNER]
    project = make_project(team, f"{prefix}-project", actor=owner)
    share = teams.project_share(actor=owner, project=project, role=Role.AUDITOR, user=outsider)
    export = exports.event_export_request(actor=owner, project=project)
    exports.event_export_run(export_id=export.pk)
    export.refresh_from_db()
    _, key = tokens.token_create(user=owner, name="ci", scopes=["read", "write", "transition"])
    return TeamWorld(team, people, memberships, project, share, export, key)
