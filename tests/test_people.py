"""People: full name and job title on each user (profile page, admin, API), shown in packs,
trails and the decision memo; staff sign only in roles they hold. And the project's
statements of use (intended, out of scope, limitations), in the pack and the model card."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audits.analysis.memo import decision_memo
from audits.models import ApprovalPack
from audits.snapshot import pack_state
from projects import selectors
from projects.models import Event, Profile, Role, SignOff
from projects.services import teams, tokens
from tests.factories import PASSWORD, grant_exception, make_pack

pytestmark = pytest.mark.django_db

USE = {
    "intended_use": "Ranks applications for manual review by underwriters.",
    "out_of_scope_use": "Automatic refusals.",
    "limitations": "Islands region under-represented.",
}


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_person_sets_their_name_and_title_on_the_profile_page(world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    client = _logged_in(owner)
    page = client.get("/accounts/profile/")
    assert page.status_code == 200
    assert "Others see you as" in page.content.decode()
    saved = client.post(
        "/accounts/profile/",
        {"first_name": "Maria", "last_name": "Okafor", "job_title": "Head of Underwriting"},
    )
    assert saved.status_code == 302
    owner.refresh_from_db()
    assert owner.get_full_name() == "Maria Okafor"
    assert selectors.job_title(owner) == "Head of Underwriting"
    assert selectors.person_label(owner) == (
        f"Maria Okafor ({owner.username}), Head of Underwriting"
    )
    event = Event.objects.get(verb="user.profile_updated")
    assert event.actor == owner and event.project is None
    assert event.payload["after"] == {
        "first_name": "Maria",
        "last_name": "Okafor",
        "job_title": "Head of Underwriting",
    }
    page = client.get("/accounts/profile/").content.decode()
    assert "Maria Okafor" in page and "Head of Underwriting" in page
    # Saving the same again records nothing.
    client.post(
        "/accounts/profile/",
        {"first_name": "Maria", "last_name": "Okafor", "job_title": "Head of Underwriting"},
    )
    assert Event.objects.filter(verb="user.profile_updated").count() == 1
    call_command("verify_events")


def test_a_title_too_long_is_refused_with_its_field_named(world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    client = _logged_in(owner)
    page = client.post("/accounts/profile/", {"job_title": "x" * 121})
    assert page.status_code == 200
    assert "at most 120 characters" in page.content.decode()
    assert not Event.objects.filter(verb="user.profile_updated").exists()


def test_the_api_reads_and_changes_the_callers_own_profile(api, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    api.force_authenticate(engineer)
    before = api.get("/api/v1/me/").json()
    assert before == {
        "username": engineer.username,
        "first_name": "",
        "last_name": "",
        "full_name": "",
        "job_title": "",
    }
    changed = api.patch("/api/v1/me/", {"first_name": "Tomás", "job_title": "ML Engineer"})
    assert changed.status_code == 200
    assert changed.json()["full_name"] == "Tomás" and changed.json()["job_title"] == "ML Engineer"
    # A field left out keeps its value.
    kept = api.patch("/api/v1/me/", {"last_name": "Lindqvist"}, format="json").json()
    assert kept["full_name"] == "Tomás Lindqvist" and kept["job_title"] == "ML Engineer"
    too_long = api.patch("/api/v1/me/", {"job_title": "x" * 121}, format="json")
    assert too_long.status_code == 400
    assert "job_title" in str(too_long.json())

    members = api.get(f"/api/v1/teams/{world['a'].team.slug}/memberships/").json()["results"]
    shown = next(m for m in members if m["username"] == engineer.username)
    assert shown["full_name"] == "Tomás Lindqvist" and shown["job_title"] == "ML Engineer"


def test_a_token_cannot_change_its_owners_profile(api, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    _token, key = tokens.token_create(user=engineer, name="ci", scopes=["read", "write"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").status_code == 200
    refused = api.patch("/api/v1/me/", {"job_title": "Chief"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "token_not_allowed"
    assert selectors.job_title(engineer) == ""


def test_staff_edit_a_title_in_the_admin(world):
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    owner = world["a"].people[Role.BUSINESS_OWNER]
    client = _logged_in(admin)
    page = client.get(f"/admin/auth/user/{owner.pk}/change/")
    assert page.status_code == 200
    assert "Job title" in page.content.decode()
    listing = client.get("/admin/auth/user/").content.decode()
    assert "Job title" in listing

    # An edit there is on the trail as the profile page's are, by the staff member.
    joined = timezone.localtime(owner.date_joined)
    form = {
        "username": owner.username,
        "first_name": "Maria",
        "last_name": owner.last_name,
        "email": owner.email,
        "is_active": "on",
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "1" if Profile.objects.filter(user=owner).exists() else "0",
        "profile-MIN_NUM_FORMS": "0",
        "profile-MAX_NUM_FORMS": "1",
        "profile-0-job_title": "Head of Underwriting",
        "profile-0-user": str(owner.pk),
    }
    profile = Profile.objects.filter(user=owner).first()
    if profile is not None:
        form["profile-0-id"] = str(profile.pk)
    saved = client.post(f"/admin/auth/user/{owner.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert selectors.job_title(owner) == "Head of Underwriting"
    event = Event.objects.filter(verb="user.profile_updated").latest("seq")
    assert event.actor == admin
    assert event.payload["after"] == {"first_name": "Maria", "job_title": "Head of Underwriting"}
    # Saving it again unchanged records nothing.
    client.post(
        f"/admin/auth/user/{owner.pk}/change/",
        {
            **form,
            "profile-INITIAL_FORMS": "1",
            "profile-0-id": str(Profile.objects.get(user=owner).pk),
        },
    )
    assert Event.objects.filter(verb="user.profile_updated").count() == 1


def test_a_superuser_cannot_sign_in_a_role_they_do_not_hold(api, world):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    api.force_authenticate(root)
    response = api.post(
        f"/api/v1/criteria-versions/{world['a'].criteria.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
        format="json",
    )
    # They are no member of the team: the criteria are not even visible to them.
    assert response.status_code == 404
    assert not SignOff.objects.filter(signed_by=root).exists()


def test_the_memo_names_signers_and_reviewers_with_their_titles(world):
    a = world["a"]
    auditor = a.people[Role.AUDITOR]
    teams.profile_update(
        actor=auditor, first_name="Priya", last_name="Raman", job_title="Model Risk Validator"
    )
    owner = a.people[Role.BUSINESS_OWNER]
    teams.profile_update(actor=owner, first_name="Maria", last_name="Okafor", job_title="Head")
    grant_exception(a, auditor)
    state = pack_state(a.project)
    assert state["people"][auditor.username] == {
        "name": "Priya Raman",
        "title": "Model Risk Validator",
    }
    memo = decision_memo(state)
    review = memo["opinion"]["review"]
    assert review["who"]["name"] == "Priya Raman"
    assert review["decided"] == "approved"
    exception = memo["exceptions"][0]
    assert exception["owner_who"] == {
        "name": "Maria Okafor",
        "title": "Head",
        "username": owner.username,
    }
    signature = next(r for r in memo["signatures"] if r["username"] == auditor.username)
    assert signature["title"] == "Model Risk Validator"
    assert signature["decision"] == "approved as an exception"


def test_a_state_whose_people_have_no_names_carries_no_people_map(world):
    assert "people" not in pack_state(world["a"].project)


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_statements_of_use_reach_the_api_the_pack_and_the_model_card(api, world):
    a = world["a"]
    api.force_authenticate(a.people[Role.ML_ENGINEER])
    assert "intended_use" not in pack_state(a.project)["project"]
    patched = api.patch(f"/api/v1/projects/{a.project.slug}/", USE, format="json")
    assert patched.status_code == 200
    assert {k: patched.json()[k] for k in USE} == USE
    event = Event.objects.filter(verb="project.updated").latest("pk")
    assert event.payload["after"] == USE

    a.project.refresh_from_db()
    state = pack_state(a.project)
    assert {k: state["project"][k] for k in USE} == USE
    assert decision_memo(state)["use"] == {
        "intended": USE["intended_use"],
        "out_of_scope": USE["out_of_scope_use"],
        "limitations": USE["limitations"],
    }
    card = api.get(f"/api/v1/projects/{a.project.slug}/model-card/").json()
    considerations = card["considerations"]
    assert considerations["use_cases"] == [{"description": USE["intended_use"]}]
    limitations = [item["description"] for item in considerations["limitations"]]
    assert limitations[:2] == [USE["limitations"], f"Out of scope: {USE['out_of_scope_use']}"]

    pack = make_pack(a)
    assert pack.status == ApprovalPack.Status.SUCCEEDED, pack.error
    for text in USE.values():
        assert text in pack.html


def test_statements_of_use_are_edited_on_the_project_page(world):
    a = world["a"]
    client = _logged_in(a.people[Role.BUSINESS_OWNER])
    form = client.get(f"/projects/{a.project.slug}/edit/").content.decode()
    assert "Intended use" in form and "Out-of-scope use" in form and "Known limitations" in form
    saved = client.post(
        f"/projects/{a.project.slug}/edit/",
        {"name": a.project.name, "task_type": a.project.task_type, **USE},
    )
    assert saved.status_code == 302
    page = client.get(f"/projects/{a.project.slug}/").content.decode()
    for text in USE.values():
        assert text in page


def test_the_signoff_trail_shows_names_and_titles_beside_usernames(world):
    a = world["a"]
    owner = a.people[Role.BUSINESS_OWNER]
    teams.profile_update(actor=owner, first_name="Maria", last_name="Okafor", job_title="Head")
    client = _logged_in(a.people[Role.VIEWER])
    page = client.get(f"/criteria-versions/{a.criteria.pk}/").content.decode()
    assert f"Maria Okafor ({owner.username}), Head" in page
