"""A refusal says what refused: the person's role, or the token they called with."""

from __future__ import annotations

import pytest

from portal import access
from portal.exceptions import Forbidden
from projects.models import Role
from projects.services import tokens
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _token(api, user, scopes: list[str], project=None) -> None:
    _, key = tokens.token_create(user=user, name="t", scopes=scopes, project=project)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")


def _refusal(response, code: str) -> str:
    assert response.status_code == 403, response.content
    assert response.json()["code"] == code, response.json()
    return response.json()["detail"]


def test_it_blames_the_scope_when_an_auditors_read_token_reviews(api, world):
    w = world["a"]
    _token(api, w.people[Role.AUDITOR], ["read"])
    response = api.post(
        f"/api/v1/audits/{w.audit.pk}/reviews/",
        {"decision": "approve", "rationale": "Gaps are small."},
        format="json",
    )
    detail = _refusal(response, "token_scope")
    assert detail == "This token's scopes (read) do not allow this; it needs the write scope."


def test_it_blames_the_role_when_a_viewer_with_every_scope_writes(api, world):
    w = world["a"]
    _token(api, w.people[Role.VIEWER], ["read", "write", "transition"])
    detail = _refusal(api.patch("/api/v1/projects/a-project/", {"name": "x"}), "permission_denied")
    assert detail == "Your role on this project does not allow this (change_project)."
    response = api.post(f"/api/v1/audits/{w.audit.pk}/reviews/", {"decision": "approve"})
    assert "Your role" in _refusal(response, "permission_denied")


def test_it_blames_the_role_before_the_scope(api, world):
    """Another scope would not help a viewer, so the role is what to fix."""
    _token(api, world["a"].people[Role.VIEWER], ["read"])
    response = api.post(
        "/api/v1/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert "Your role" in _refusal(response, "permission_denied")


def test_it_names_the_missing_scope_for_each_write(api, world):
    w = world["a"]
    owner, engineer = w.people[Role.BUSINESS_OWNER], w.people[Role.ML_ENGINEER]
    _token(api, owner, ["read", "write"])
    detail = _refusal(
        api.post(
            "/api/v1/projects/a-project/transition/",
            {"to": "deployment", "reason": "Ready: the gate passes."},
        ),
        "token_scope",
    )
    assert detail == (
        "This token's scopes (read, write) do not allow this; it needs the transition scope."
    )
    _token(api, engineer, ["read", "transition"])
    # The risk register: either of two rights, both behind the write scope.
    response = api.post(
        "/api/v1/projects/a-project/risks/",
        {"title": "Leak", "category": "leakage", "likelihood": 2, "impact": 3},
    )
    assert "it needs the write scope" in _refusal(response, "token_scope")
    response = api.post("/api/v1/projects/", {"team": "a-team", "slug": "x", "name": "X"})
    assert "it needs the write scope" in _refusal(response, "token_scope")
    response = api.post(f"/api/v1/evaluations/{w.unaudited.pk}/audits/")
    assert "it needs the write scope" in _refusal(response, "token_scope")


def test_it_says_a_person_must_sign_in_for_what_no_token_may_do(api, world):
    w = world["a"]
    _token(api, w.people[Role.BUSINESS_OWNER], ["read", "write", "transition"])
    response = api.post("/api/v1/projects/a-project/shares/", {"username": "b_viewer"})
    assert "signed-in person" in _refusal(response, "token_not_allowed")
    response = api.post("/api/v1/teams/a-team/memberships/", {"username": "b_viewer"})
    assert "signed-in person" in _refusal(response, "token_not_allowed")
    response = api.post(
        f"/api/v1/criteria-versions/{w.criteria.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
        format="json",
    )
    _refusal(response, "token_not_allowed")


def test_it_says_a_project_token_cannot_act_on_a_team(api, world):
    w = world["a"]
    _token(api, w.people[Role.BUSINESS_OWNER], ["read", "write"], project=w.project)
    response = api.post("/api/v1/projects/", {"team": "a-team", "slug": "x", "name": "X"})
    assert "bound to one project" in _refusal(response, "token_project")


def test_it_says_a_token_is_bound_to_another_project(world):
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    # Not reachable through HTTP (the token does not see the project), so asked directly.
    second = make_project(w.team, "a-second", actor=owner)
    token, _ = tokens.token_create(user=owner, name="ci", scopes=["read", "write"], project=second)
    with pytest.raises(Forbidden) as refused:
        access.require_project_perm(owner, w.project, access.CHANGE, token)
    assert refused.value.code == "token_project"
    assert refused.value.detail == "This token is bound to another project."
