"""The gate as pipelines poll it: each piece read once, the answer kept in the shared cache
until an event says something it reads has changed, and a throttle of its own."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.api.throttling import GateThrottle, UserThrottle
from portal.once import computed_once, once
from projects import selectors
from projects.models import Project, Role, Team
from projects.services import teams

pytestmark = pytest.mark.django_db

GATE = "/api/v1/projects/a-project/gates/?to=deployment"
#: Token, its user, the project and its permission, the chain heads.
CACHED_QUERIES = 6
#: The whole checklist into deployment, each piece read once: 74 here. Reading the
#: candidate, its evaluation and audit again in each check took the demo's project into
#: monitoring to 248.
COMPUTED_QUERIES = 80


def _client(api, key: str):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _failing(response) -> list[str]:
    return [c["name"] for c in response.json()["checks"] if not c["passed"]]


def test_a_repeated_poll_is_answered_from_the_cache(api, packed_world):
    client = _client(api, packed_world["a"].token_key)
    with CaptureQueriesContext(connection) as first:
        computed = client.get(GATE)
    with CaptureQueriesContext(connection) as second:
        cached = client.get(GATE)
    assert computed.status_code == cached.status_code == 200
    assert cached.json() == computed.json() and cached.json()["passed"]
    assert len(first) <= COMPUTED_QUERIES, [q["sql"][:90] for q in first.captured_queries]
    assert len(second) <= CACHED_QUERIES, [q["sql"][:90] for q in second.captured_queries]


def test_a_change_shows_on_the_next_poll(api, packed_world):
    a = packed_world["a"]
    client = _client(api, a.token_key)
    assert client.get(GATE).json()["passed"]
    teams.project_update(actor=a.people[Role.BUSINESS_OWNER], project=a.project, description="")
    assert "Project described" in _failing(client.get(GATE))


def test_a_change_in_the_team_shows_on_the_next_poll(api, packed_world):
    """Memberships are on the team's chain, not the project's."""
    a = packed_world["a"]
    client = _client(api, a.token_key)
    assert client.get(GATE).json()["passed"]
    teams.membership_remove(actor=None, membership=a.memberships[Role.ML_ENGINEER])
    assert "ML engineer named" in _failing(client.get(GATE))


def test_a_change_in_a_sharing_team_shows_on_the_next_poll(api, world):
    """A team the project is shared with lends its members the shared role."""
    a, b = world["a"], world["b"]
    owner = a.people[Role.BUSINESS_OWNER]
    teams.membership_remove(actor=None, membership=a.memberships[Role.ML_ENGINEER])
    client = _client(api, a.token_key)
    assert "ML engineer named" in _failing(client.get(GATE))
    teams.project_share(actor=owner, project=a.project, role=Role.ML_ENGINEER, team=b.team)
    assert "ML engineer named" not in _failing(client.get(GATE))
    for membership in b.memberships.values():
        teams.membership_remove(actor=None, membership=membership)
    assert "ML engineer named" in _failing(client.get(GATE))


def test_a_cache_that_does_not_answer_costs_only_the_computation(api, packed_world, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on the discard port.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = _client(api, packed_world["a"].token_key).get(GATE)
    assert response.status_code == 200 and response.json()["passed"]


def test_the_gate_has_a_throttle_of_its_own(api, world, monkeypatch):
    """A CI user polling hard is stopped at the gate rate, and its other calls are not."""
    monkeypatch.setattr(GateThrottle, "THROTTLE_RATES", {"gate": "3/minute"})
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "5/minute"})
    client = _client(api, world["a"].token_key)
    answers = [client.get(GATE).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert client.get("/api/v1/projects/").status_code == 200
    # The user rate does not count gate reads either way.
    monkeypatch.setattr(GateThrottle, "THROTTLE_RATES", {"gate": "100/minute"})
    assert [client.get("/api/v1/projects/").status_code for _ in range(5)][-1] == 429
    assert client.get(GATE).status_code == 200


def test_the_gate_throttle_counts_per_user(api, world, monkeypatch):
    monkeypatch.setattr(GateThrottle, "THROTTLE_RATES", {"gate": "1/minute"})
    assert _client(api, world["a"].token_key).get(GATE).status_code == 200
    assert _client(api, world["a"].token_key).get(GATE).status_code == 429
    assert _client(api, world["b"].token_key).get("/api/v1/projects/b-project/gates/").status_code
    assert (
        _client(api, world["b"].token_key).get("/api/v1/projects/b-project/gates/").status_code
        == 429
    )


def test_once_reads_each_piece_once_within_its_block_only(world):
    calls = []

    @once
    def team_name(team: Team) -> str:
        calls.append(team.pk)
        return Team.objects.get(pk=team.pk).name

    team = world["a"].team
    with computed_once():
        same = Team.objects.get(pk=team.pk)  # another instance of the same row
        assert team_name(team) == team_name(same) == team.name
        with computed_once():  # nested blocks share the outer memory
            team_name(team)
    assert calls == [team.pk]
    team_name(team)
    team_name(team)
    assert calls == [team.pk] * 3


def test_the_gate_computed_in_one_block_matches_each_check_alone(packed_world):
    """Sharing reads does not change an answer: the checks computed one by one agree."""
    from projects.gates import GateContext, gate_checks

    project = Project.objects.get(pk=packed_world["a"].project.pk)
    together = selectors.project_gate(project, "deployment").checks
    alone = tuple(c for fn in gate_checks("deployment") for c in fn(project, GateContext()))
    assert together == alone


def test_without_a_cache_time_every_poll_computes(api, packed_world, settings):
    settings.GATE_CACHE_SECONDS = 0
    client = _client(api, packed_world["a"].token_key)
    client.get(GATE)
    with CaptureQueriesContext(connection) as again:
        assert client.get(GATE).json()["passed"]
    assert len(again) > CACHED_QUERIES * 3
