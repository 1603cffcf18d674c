"""Superusers and staff administer through the Django admin; through the API, the web pages
and sign-offs they hold exactly the rights of their memberships and shares."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from portal.exceptions import ApplicationError
from projects.models import Project, Role, SignOff
from projects.services import teams, tokens
from projects.services.criteria import criteria_save
from tests.factories import PASSWORD, WORLD_CRITERIA

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture(params=["superuser", "staff"])
def admin_person(request, db):
    """A superuser, or a staff member holding every global right on teams and projects."""
    if request.param == "superuser":
        return get_user_model().objects.create_superuser("root", password=PASSWORD)
    staff = get_user_model().objects.create_user("staffer", password=PASSWORD, is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__model__in=[Project._meta.model_name, "team"])
    )
    return staff


def _v2(w):
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["target"] = 0.65
    return criteria_save(actor=w.people[Role.ML_ENGINEER], project=w.project, criteria=criteria)


def test_it_shows_an_admin_in_no_team_nothing_through_the_api(api, world, admin_person):
    api.force_authenticate(admin_person)
    assert api.get("/api/v1/projects/").json()["results"] == []
    assert api.get("/api/v1/teams/").json()["results"] == []
    assert api.get("/api/v1/audits/inbox/").json()["results"] == []
    assert api.get("/api/v1/projects/a-project/").status_code == 404
    assert api.get("/api/v1/teams/a-team/").status_code == 404
    assert api.get(f"/api/v1/criteria-versions/{world['a'].criteria.pk}/").status_code == 404
    response = api.post(
        "/api/v1/projects/", {"team": "a-team", "slug": "root-made", "name": "Root made"}
    )
    assert response.status_code in (403, 404)
    assert api.patch("/api/v1/projects/a-project/", {"name": "x"}).status_code == 404
    share = {"username": "root", "role": "viewer"}
    assert api.post("/api/v1/projects/a-project/shares/", share).status_code == 404
    assert not Project.objects.filter(slug="root-made").exists()


def test_it_gives_a_superuser_token_no_more_than_its_memberships(api, world, root):
    _, key = tokens.token_create(user=root, name="all", scopes=["read", "write", "transition"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/projects/").json()["results"] == []
    assert api.get("/api/v1/projects/b-project/").status_code == 404
    response = api.post("/api/v1/projects/", {"team": "b-team", "slug": "via-token", "name": "X"})
    assert response.status_code in (403, 404)
    response = api.post(
        "/api/v1/projects/b-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 404
    assert not Project.objects.filter(slug="via-token").exists()
    # Nor can a superuser bind a token to a project they do not see.
    with pytest.raises(ApplicationError, match="no access to that project"):
        tokens.token_create(user=root, name="ci", scopes=["read"], project=world["b"].project)


def test_it_shows_an_admin_in_no_team_nothing_in_the_web(client, world, admin_person):
    client.force_login(admin_person)
    home = client.get("/").content.decode()
    assert "a-project" not in home and "b-project" not in home
    assert client.get("/projects/a-project/").status_code == 404
    assert client.get("/teams/a-team/").status_code == 404
    assert client.get(f"/criteria-versions/{world['a'].criteria.pk}/").status_code == 404
    assert client.get("/projects/new/").status_code == 403


def test_it_refuses_an_admin_in_no_team_signing_as_business_owner(api, client, world, admin_person):
    v2 = _v2(world["a"])
    before = SignOff.objects.count()
    body = {"role": "business_owner", "decision": "approve"}
    client.force_login(admin_person)
    assert client.post(f"/criteria-versions/{v2.pk}/signoffs/", body).status_code == 404
    api.force_authenticate(admin_person)
    response = api.post(f"/api/v1/criteria-versions/{v2.pk}/signoffs/", body, format="json")
    assert response.status_code == 404
    assert SignOff.objects.count() == before


def test_it_gives_a_superuser_viewer_a_viewers_rights(api, client, world, root):
    w = world["a"]
    teams.membership_add(actor=None, team=w.team, user=root, role=Role.VIEWER)
    v2 = _v2(w)
    body = {"role": "business_owner", "decision": "approve"}
    before = SignOff.objects.count()

    client.force_login(root)
    page = client.get("/projects/a-project/").content.decode()
    assert 'action="/projects/a-project/share/"' not in page
    assert 'href="/projects/a-project/edit/"' not in page
    assert client.post(f"/criteria-versions/{v2.pk}/signoffs/", body).status_code == 403
    assert client.post("/projects/a-project/edit/", {"name": "Renamed"}).status_code == 403

    api.force_authenticate(root)
    assert [p["slug"] for p in api.get("/api/v1/projects/").json()["results"]] == ["a-project"]
    assert api.get("/api/v1/projects/b-project/").status_code == 404
    response = api.post(f"/api/v1/criteria-versions/{v2.pk}/signoffs/", body, format="json")
    assert response.status_code == 403
    assert api.patch("/api/v1/projects/a-project/", {"name": "x"}).status_code == 403
    response = api.post("/api/v1/projects/", {"team": "a-team", "slug": "root-made", "name": "X"})
    assert response.status_code == 403
    response = api.post("/api/v1/teams/a-team/memberships/", {"username": "b_viewer"})
    assert response.status_code == 403
    assert SignOff.objects.count() == before
    assert not Project.objects.filter(slug="root-made").exists()


def test_it_gives_a_superuser_engineer_an_engineers_rights(api, world, root):
    w = world["a"]
    teams.membership_add(actor=None, team=w.team, user=root, role=Role.ML_ENGINEER)
    v2 = _v2(w)
    api.force_authenticate(root)
    assert api.patch("/api/v1/projects/a-project/", {"name": "Renamed"}).status_code == 200
    response = api.post(
        f"/api/v1/criteria-versions/{v2.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
        format="json",
    )
    assert response.status_code == 403
    response = api.post("/api/v1/projects/a-project/shares/", {"username": "b_viewer"})
    assert response.status_code == 403


def test_the_admin_still_works_for_a_superuser(client, world, root):
    client.force_login(root)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/projects/team/").status_code == 200
    project = Project.objects.get(slug="a-project")
    assert client.get(f"/admin/projects/project/{project.pk}/change/").status_code == 200
