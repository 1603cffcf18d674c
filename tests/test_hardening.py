"""Guardian traps, list filtering and concurrent writers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection

from portal.exceptions import ApplicationError
from projects.models import Event, Project, Role
from projects.services import lifecycle
from projects.services.events import event_record
from tests.factories import UserFactory, build_team


def test_guardian_has_no_anonymous_user_row():
    assert settings.ANONYMOUS_USER_NAME is None


@pytest.mark.django_db
def test_a_model_level_grant_opens_no_other_projects(api, world):
    viewer = world["a"].people[Role.VIEWER]
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_project"),
        Permission.objects.get(codename="change_project"),
    )
    api.force_authenticate(viewer)
    slugs = [p["slug"] for p in api.get("/api/v1/projects/").json()["results"]]
    assert slugs == ["a-project"]
    assert api.get("/api/v1/projects/b-project/").status_code == 404
    assert api.patch("/api/v1/projects/a-project/", {"name": "x"}).status_code == 403


@pytest.mark.django_db
def test_lists_ignore_filters_that_would_widen_them_and_cap_page_size(api, world):
    api.force_authenticate(world["a"].people[Role.VIEWER])
    body = api.get("/api/v1/projects/?team=b-team&page_size=100000").json()
    assert [p["slug"] for p in body["results"]] == ["a-project"]
    events = api.get("/api/v1/projects/a-project/events/?page_size=100000").json()
    assert all(e["project"] == "a-project" for e in events["results"])


@pytest.mark.django_db
def test_an_inactive_user_is_refused_everywhere(client, api, world):
    viewer = world["a"].people[Role.VIEWER]
    viewer.is_active = False
    viewer.save()
    api.force_authenticate(viewer)
    assert api.get("/api/v1/projects/").json()["results"] == []
    assert api.get("/api/v1/projects/a-project/").status_code == 404


def _run_concurrently(fn, n: int) -> list:
    def call(i):
        try:
            return fn(i)
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_keep_the_chain_gapless():
    world = build_team("c", UserFactory(username="c_external"))
    before = world.project.events.count()
    results = _run_concurrently(
        lambda i: event_record(
            actor=None,
            verb="test.concurrent",
            target=world.project,
            project=world.project,
            payload={"i": i},
        ),
        8,
    )
    assert not [r for r in results if isinstance(r, Exception)]
    chain = world.project.events.values_list("seq", flat=True).order_by("seq")
    assert list(chain) == list(range(1, before + 9))
    from django.core.management import call_command

    call_command("verify_events")


@pytest.mark.slow  # threads racing on row locks: CI's PostgreSQL stage runs it
@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_move_the_project_once():
    world = build_team("t", UserFactory(username="t_external"), with_pack=True)
    owner = world.people[Role.BUSINESS_OWNER]
    project = world.project
    results = _run_concurrently(
        lambda i: lifecycle.project_transition(
            actor=owner, project=project, target="deployment", reason="Ready."
        ),
        8,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 7, results
    assert all(isinstance(r, ApplicationError) and r.code == "same_stage" for r in failures)
    assert Project.objects.get(pk=project.pk).stage == "deployment"
    assert Event.objects.filter(verb="project.transitioned", project=project).count() == 1


@pytest.mark.django_db
def test_a_grant_to_a_user_named_anonymoususer_opens_nothing_to_anonymous_callers(
    api, client, world
):
    """Guardian's optional "AnonymousUser" row is off (ANONYMOUS_USER_NAME = None); a person
    who happens to carry that name and is granted a project lends nothing to callers
    without a login."""
    from projects.services import teams

    namesake = UserFactory(username="AnonymousUser")
    owner = world["a"].people[Role.BUSINESS_OWNER]
    teams.project_share(actor=owner, project=world["a"].project, role=Role.VIEWER, user=namesake)
    api.force_authenticate(namesake)
    assert api.get("/api/v1/projects/a-project/").status_code == 200
    api.force_authenticate(None)
    assert api.get("/api/v1/projects/").status_code == 401
    assert api.get("/api/v1/projects/a-project/").status_code == 401
    assert client.get("/projects/a-project/").status_code == 302
