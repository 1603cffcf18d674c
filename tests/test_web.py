"""The web pages, through HTTP as a browser would call them."""

from __future__ import annotations

import re

import pytest
from django.http import HttpRequest
from django.urls import reverse

from projects.models import EventExport, Membership, Project, Role
from projects.services.exports import event_export_run
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, user):
    # Login protection (axes) checks every authentication against a request.
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
    return client


def test_it_logs_in_with_a_password_and_lands_on_the_projects(client, world):
    response = client.post(
        reverse("login"), {"username": "a_viewer", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert b"A Project" in response.content
    assert b"B Project" not in response.content


def test_a_wrong_password_shows_an_error(client, world):
    response = client.post(reverse("login"), {"username": "a_viewer", "password": "nope"})
    assert response.status_code == 200
    assert b"errorlist" in response.content


def test_the_project_page_shows_stepper_checklist_and_history(client, world):
    response = login(client, world["a"].people[Role.VIEWER]).get("/projects/a-project/")
    html = response.content.decode()
    assert 'class="stepper"' in html
    assert "Gate into deployment" in html
    assert "Business owner named" in html
    assert "created the project" in html
    assert "Move project" not in html  # a viewer cannot move it


def test_an_engineer_moves_the_project_from_the_page(client, packed_world):
    login(client, packed_world["a"].people[Role.ML_ENGINEER])
    response = client.post(
        "/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
        follow=True,
    )
    assert b"Moved to deployment" in response.content
    assert Project.objects.get(slug="a-project").stage == "deployment"


def test_a_failing_gate_is_explained_on_the_page(client, world):
    login(client, world["a"].people[Role.ML_ENGINEER])
    Project.objects.filter(slug="a-project").update(description="")
    response = client.post(
        "/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
        follow=True,
    )
    assert b"has not passed" in response.content
    assert b"Failing: Project described" in response.content


def test_the_create_form_shows_field_errors(client, world):
    login(client, world["a"].people[Role.BUSINESS_OWNER])
    team = world["a"].team
    response = client.post(
        "/projects/new/", {"team": team.pk, "name": "", "slug": "b-project", "task_type": "x"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="errorlist"') >= 2
    response = client.post(
        "/projects/new/",
        {"team": team.pk, "name": "Dup", "slug": "b-project", "task_type": "classification"},
    )
    assert "exists already" in response.content.decode()


def test_a_team_admin_manages_members_from_the_web(client, world):
    login(client, world["a"].people[Role.BUSINESS_OWNER])
    viewer = world["a"].memberships[Role.VIEWER]
    client.post(f"/memberships/{viewer.pk}/", {"role": "auditor"})
    assert Membership.objects.get(pk=viewer.pk).role == "auditor"
    response = client.post(
        "/teams/a-team/members/", {"username": "a_viewer", "role": "viewer"}, follow=True
    )
    assert b"already a member" in response.content
    response = client.post(
        "/teams/a-team/members/", {"username": "ghost", "role": "viewer"}, follow=True
    )
    assert b"No active user" in response.content


def test_a_role_change_takes_effect_at_once(client, world):
    a = world["a"]
    login(client, a.people[Role.VIEWER])
    assert client.get("/projects/a-project/edit/").status_code == 403
    from projects.services.teams import membership_change

    membership_change(
        actor=None, membership=a.memberships[Role.VIEWER], role="ml_engineer", is_admin=False
    )
    assert client.get("/projects/a-project/edit/").status_code == 200


def test_the_token_page_shows_a_new_key_once(client, world):
    login(client, world["a"].people[Role.ML_ENGINEER])
    response = client.post("/tokens/", {"name": "CI", "scopes": ["read"], "days": 30})
    html = response.content.decode()
    assert 'id="new-key"' in html
    key = re.search(r"sg_[0-9a-f]{8}_[\w-]+", html).group(0)
    assert "no-store" in response["Cache-Control"]
    again = client.get("/tokens/").content.decode()
    assert key not in again and key[:11] in again  # the prefix only


def test_the_export_fragment_tracks_the_job(client, world):
    login(client, world["a"].people[Role.AUDITOR])
    client.post("/projects/a-project/exports/")
    export = EventExport.objects.filter(requested_by__username="a_auditor").get()
    fragment = client.get(f"/exports/{export.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    event_export_run(export_id=export.pk)
    fragment = client.get(f"/exports/{export.pk}/").content.decode()
    assert "hx-trigger" not in fragment and "Download CSV" in fragment
    download = client.get(f"/exports/{export.pk}/download/")
    assert download["Content-Type"] == "text/csv"


def test_staff_add_members_in_the_admin_with_grants_and_an_event(client, world):
    from django.contrib.auth import get_user_model

    from projects.models import Event

    staff = get_user_model().objects.create_superuser("root", password=PASSWORD)
    newcomer = get_user_model().objects.create_user("newcomer", password=PASSWORD)
    login(client, staff)
    before = Event.objects.count()
    response = client.post(
        "/admin/projects/membership/add/",
        {"team": world["a"].team.pk, "user": newcomer.pk, "role": "auditor"},
    )
    assert response.status_code == 302, re.findall(r"errorlist.{0,120}", response.content.decode())
    assert Event.objects.count() == before + 1
    assert Event.objects.last().verb == "membership.added"
    client.logout()
    login(client, newcomer)
    assert client.get("/projects/a-project/").status_code == 200
    assert client.get("/projects/a-project/edit/").status_code == 403
    # Adding the same person twice is a form error, not a crash.
    login(client, staff)
    response = client.post(
        "/admin/projects/membership/add/",
        {"team": world["a"].team.pk, "user": newcomer.pk, "role": "viewer"},
    )
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_staff_create_teams_in_the_admin(client, db):
    from django.contrib.auth import get_user_model

    from projects.models import Event, Team

    login(client, get_user_model().objects.create_superuser("root", password=PASSWORD))
    response = client.post(
        "/admin/projects/team/add/",
        {
            "name": "Pricing",
            "slug": "pricing",
            "description": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, re.findall(r"errorlist.{0,120}", response.content.decode())
    assert Team.objects.filter(slug="pricing").count() == 1
    assert Event.objects.get(verb="team.created").payload["slug"] == "pricing"


def test_a_stale_copy_of_a_membership_leaves_no_old_role_behind(world):
    from portal import access
    from projects.services.teams import membership_change

    a = world["a"]
    first = Membership.objects.get(pk=a.memberships[Role.VIEWER].pk)
    second = Membership.objects.get(pk=first.pk)
    membership_change(actor=None, membership=first, role="business_owner", is_admin=False)
    membership_change(actor=None, membership=second, role="viewer", is_admin=False)
    viewer = a.people[Role.VIEWER]
    viewer = type(viewer).objects.get(pk=viewer.pk)  # fresh permission cache
    assert not access.has_project_perm(viewer, a.project, access.SHARE)
    assert [g.name for g in viewer.groups.all()] == [f"team-{a.team.pk}-viewer"]


def test_staff_rename_a_team_in_the_admin_with_an_event(client, world):
    from django.contrib.auth import get_user_model

    from projects.models import Event

    login(client, get_user_model().objects.create_superuser("root", password=PASSWORD))
    team = world["a"].team
    response = client.post(
        f"/admin/projects/team/{team.pk}/change/",
        {
            "name": "Renamed",
            "slug": team.slug,
            "description": "New purpose",
            "memberships-TOTAL_FORMS": "4",
            "memberships-INITIAL_FORMS": "4",
            **{f"memberships-{i}-id": m.pk for i, m in enumerate(team.memberships.all())},
            **{f"memberships-{i}-team": team.pk for i in range(4)},
        },
    )
    assert response.status_code == 302, re.findall(r"errorlist.{0,120}", response.content.decode())
    event = Event.objects.filter(verb="team.updated").get()
    assert event.payload["after"]["name"] == "Renamed"


def test_staff_open_a_teams_change_page_in_the_admin(client, world):
    from django.contrib.auth import get_user_model

    login(client, get_user_model().objects.create_superuser("root", password=PASSWORD))
    team = world["a"].team
    response = client.get(f"/admin/projects/team/{team.pk}/change/")
    assert response.status_code == 200
    assert team.slug in response.content.decode()
    assert client.get("/admin/projects/team/add/").status_code == 200


def test_pages_carry_a_favicon_and_favicon_ico_leads_to_it(client, world):
    from django.contrib.staticfiles import finders

    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg"), "the icon is in the static files"
    login(client, world["a"].people[Role.VIEWER])
    assert 'rel="icon"' in client.get("/").content.decode()
