"""The home page in a fixed number of queries however many projects a person sees: the
sign-off inbox reads roles once for all projects and each project's signing state from
the cache until the project's records move."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Role, SignOff
from projects.services import signoffs, teams

pytestmark = pytest.mark.django_db

#: The goal for a person in hundreds of projects, once the projects' answers are kept.
HOME_QUERIES = 20


def _home_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.slow  # builds 300 projects: CI's PostgreSQL stage runs it
def test_the_home_page_does_not_grow_with_the_projects(client, world):
    a = world["a"]
    owner = a.people[Role.BUSINESS_OWNER]
    client.force_login(owner)
    for n in range(10):
        teams.project_create(actor=owner, team=a.team, slug=f"extra-{n}", name=f"Extra {n}")
    client.get("/")
    few, _ = _home_queries(client)
    for n in range(10, 300):
        teams.project_create(actor=owner, team=a.team, slug=f"extra-{n}", name=f"Extra {n}")
    client.get("/")
    many, _ = _home_queries(client)
    assert many == few <= HOME_QUERIES


def test_the_inbox_follows_sign_offs_on_the_next_look(client, world):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    client.force_login(engineer)
    waiting = f'href="{a.criteria.get_absolute_url()}#sign"'
    assert waiting not in _home_queries(client)[1]
    mine = SignOff.objects.get(criteria_version=a.criteria, signed_by=engineer)
    signoffs.signoff_revoke(actor=engineer, signoff=mine)
    assert waiting in _home_queries(client)[1]
    signoffs.signoff_record(
        actor=engineer, document=a.criteria, role=Role.ML_ENGINEER, decision="approve"
    )
    assert waiting not in _home_queries(client)[1]
