"""API tokens: hashed at rest, shown once, scoped, expiring and revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from projects.models import ApiToken, Role
from projects.services import tokens

pytestmark = pytest.mark.django_db


def get(api, key: str, path: str = "/api/v1/projects/"):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get(path)


def test_it_stores_only_a_digest(world):
    key = world["a"].token_key
    token = ApiToken.objects.get(prefix=key[:11])
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    stored = [str(v) for v in ApiToken.objects.values_list(flat=False)]
    assert all(key not in row for row in stored)


def test_a_valid_token_authenticates_and_touches_last_used(api, world):
    assert get(api, world["a"].token_key).status_code == 200
    assert ApiToken.objects.get(prefix=world["a"].token_key[:11]).last_used_at is not None


@pytest.mark.parametrize("header", ["Token sg_nothing_here", "Token", "Token a b", "Bearer x"])
def test_bad_keys_answer_401(api, world, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}


def test_anonymous_calls_answer_401_with_a_challenge(api, world):
    response = api.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_revoked_tokens_stop_working(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    token, key = tokens.token_create(user=owner, name="x", scopes=["read"])
    tokens.token_revoke(actor=owner, token=token)
    assert get(api, key).status_code == 401
    with pytest.raises(Exception, match="revoked already"):
        tokens.token_revoke(actor=owner, token=token)


def test_expired_tokens_stop_working(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    token, key = tokens.token_create(user=owner, name="x", scopes=["read"], days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert get(api, key).status_code == 401


def test_tokens_of_inactive_users_stop_working(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    owner.is_active = False
    owner.save()
    assert get(api, world["a"].token_key).status_code == 401


def test_a_token_in_the_url_is_refused(api, world):
    response = api.get(f"/api/v1/projects/?token={world['a'].token_key}")
    assert response.status_code == 401
    assert "Authorization header" in response.json()["detail"]


@pytest.mark.parametrize(
    ("scopes", "days", "code"),
    [
        ([], None, "invalid_scope"),
        (["admin"], None, "invalid_scope"),
        (["read"], 0, "invalid_expiry"),
    ],
)
def test_it_refuses_bad_token_requests(world, scopes, days, code):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    with pytest.raises(Exception) as info:
        tokens.token_create(user=owner, name="x", scopes=scopes, days=days)
    assert info.value.code == code


def test_a_project_token_needs_access_to_the_project(world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    with pytest.raises(Exception, match="no access"):
        tokens.token_create(user=owner, name="x", scopes=["read"], project=world["b"].project)


def test_create_token_prints_the_key_alone_on_the_last_line(api, world, capsys):
    call_command("create_token", "a_ml_engineer", "--project", "a-project", "--scope", "read")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("sg_") and " " not in key
    assert get(api, key, "/api/v1/projects/a-project/gates/").status_code == 200
    assert get(api, key, "/api/v1/projects/b-project/").status_code == 404


def test_create_token_without_scopes_can_read_write_and_move(world, capsys):
    call_command("create_token", "a_business_owner")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(prefix="_".join(key.split("_")[:2]))
    assert sorted(token.scopes) == ["read", "transition", "write"]


@pytest.mark.parametrize(
    "args",
    [["nobody"], ["a_viewer", "--project", "missing"], ["a_viewer", "--project", "b-project"]],
)
def test_create_token_explains_what_is_wrong(world, args):
    with pytest.raises(CommandError):
        call_command("create_token", *args)


def test_a_project_token_of_a_shared_user_does_not_open_the_owning_team(api, world):
    external = world["external"]
    _, key = tokens.token_create(
        user=external, name="x", scopes=["read"], project=world["a"].project
    )
    assert get(api, key, "/api/v1/projects/a-project/").status_code == 200
    assert get(api, key, "/api/v1/teams/").json()["results"] == []
    assert get(api, key, "/api/v1/teams/a-team/").status_code == 404
    assert get(api, key, "/api/v1/teams/a-team/memberships/").status_code == 404


def test_a_project_token_sees_its_own_team(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    _, key = tokens.token_create(user=owner, name="x", scopes=["read"], project=world["a"].project)
    assert [t["slug"] for t in get(api, key, "/api/v1/teams/").json()["results"]] == ["a-team"]
    assert get(api, key, "/api/v1/teams/b-team/").status_code == 404


def test_every_token_can_read(api, packed_world):
    owner = packed_world["a"].people[Role.BUSINESS_OWNER]
    token, key = tokens.token_create(user=owner, name="mover", scopes=["transition"])
    assert token.scopes == ["read", "transition"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert (
        api.post(
            "/api/v1/projects/a-project/transition/",
            {"to": "deployment", "reason": "Ready: the gate passes."},
        ).status_code
        == 200
    )
