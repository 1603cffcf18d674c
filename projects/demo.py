"""Demo data for the local run command: two teams, one person per role, an external auditor."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from projects.models import Membership, Project, Role, Team
from projects.services import lifecycle, teams

DEMO_PASSWORD = "stagegate-demo"

TEAMS = [
    ("credit-risk", "Credit Risk", "Scores loan applications and prioritises collections."),
    ("search-ranking", "Search Ranking", "Ranks products and queries on the shop's search."),
]
PEOPLE = [
    # username, team slug, role, team admin
    ("credit_owner", "credit-risk", Role.BUSINESS_OWNER, True),
    ("credit_engineer", "credit-risk", Role.ML_ENGINEER, False),
    ("credit_auditor", "credit-risk", Role.AUDITOR, False),
    ("credit_viewer", "credit-risk", Role.VIEWER, False),
    ("search_owner", "search-ranking", Role.BUSINESS_OWNER, True),
    ("search_engineer", "search-ranking", Role.ML_ENGINEER, False),
    ("search_auditor", "search-ranking", Role.AUDITOR, False),
    ("search_viewer", "search-ranking", Role.VIEWER, False),
]
EXTERNAL_AUDITOR = "external_auditor"
PROJECTS = [
    # slug, team, name, task type, stage, description
    (
        "credit-default",
        "credit-risk",
        "Credit default scoring",
        "classification",
        "prototyping",
        "Predicts the probability that a retail loan defaults within 12 months, for the "
        "underwriting desk.",
    ),
    (
        "collections-priority",
        "credit-risk",
        "Collections prioritisation",
        "regression",
        "deployment",
        "Estimates the amount recoverable from each overdue account so that collectors call the "
        "right customers first.",
    ),
    (
        "query-ranking",
        "search-ranking",
        "Query autocomplete ranking",
        "other",
        "monitoring",
        "Orders autocomplete suggestions in the search box by the chance that the shopper picks "
        "them.",
    ),
    (
        "search-relevance",
        "search-ranking",
        "Product search relevance",
        "classification",
        "prototyping",
        "Classifies query-product pairs as relevant or not to rerank search results.",
    ),
]
# The external auditor sees one project, shared with them alone.
SHARED_WITH_EXTERNAL = "credit-default"


def load_demo() -> list[tuple[str, str, str]]:
    """Create what is missing and return (username, team, role) for every demo login."""
    User = get_user_model()
    with transaction.atomic():
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        for slug, name, description in TEAMS:
            if not Team.objects.filter(slug=slug).exists():
                teams.team_create(actor=admin, slug=slug, name=name, description=description)
        logins = [("admin", "—", "staff (Django admin)")]
        for username, team_slug, role, is_admin in PEOPLE:
            user = _person(User, username)
            team = Team.objects.get(slug=team_slug)
            if not Membership.objects.filter(team=team, user=user).exists():
                teams.membership_add(
                    actor=admin, team=team, user=user, role=role, is_admin=is_admin
                )
            logins.append((username, team.name, Role(role).label + (", admin" if is_admin else "")))
        external = _person(User, EXTERNAL_AUDITOR)
        logins.append((EXTERNAL_AUDITOR, "—", f"Auditor on {SHARED_WITH_EXTERNAL} only"))
        for slug, team_slug, name, task_type, stage, description in PROJECTS:
            if Project.objects.filter(slug=slug).exists():
                continue
            team = Team.objects.get(slug=team_slug)
            owner = User.objects.get(username=f"{team_slug.split('-')[0]}_owner")
            project = teams.project_create(
                actor=owner,
                team=team,
                slug=slug,
                name=name,
                description=description,
                task_type=task_type,
            )
            for target in _path_to(stage):
                lifecycle.project_transition(
                    actor=owner, project=project, target=target, reason="Demo history"
                )
            if slug == SHARED_WITH_EXTERNAL:
                teams.project_share(actor=owner, project=project, role=Role.AUDITOR, user=external)
    return logins


def _person(User, username: str):
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _path_to(stage: str) -> list[str]:
    order = ["prototyping", "deployment", "monitoring"]
    return order[1 : order.index(stage) + 1]
