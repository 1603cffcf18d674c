"""Projects, gates and transitions through the REST API, as a CI pipeline uses it."""

from __future__ import annotations

import pytest

from projects.models import Event, Project, Role
from projects.services import teams, tokens

pytestmark = pytest.mark.django_db


def auth(api, key: str):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_it_creates_a_project_with_a_token(api, world):
    a = world["a"]
    before = Event.objects.count()
    response = auth(api, a.token_key).post(
        "/api/v1/projects/",
        {"team": "a-team", "slug": "fraud", "name": "Fraud", "description": "Flags fraud."},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["stage"] == "prototyping"
    assert response["Location"].endswith("/api/v1/projects/fraud/")
    assert Event.objects.count() == before + 1
    assert Event.objects.last().verb == "project.created"
    assert Event.objects.last().token_prefix == a.token_key[:11]


def test_it_refuses_a_slug_that_exists(api, world):
    response = auth(api, world["a"].token_key).post(
        "/api/v1/projects/", {"team": "a-team", "slug": "b-project", "name": "Dup"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "slug_taken"


def test_it_validates_input_with_a_clear_message(api, world):
    response = auth(api, world["a"].token_key).post(
        "/api/v1/projects/", {"team": "a-team", "slug": "not a slug!", "name": ""}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"slug", "name"}


def test_it_hides_other_teams_projects(api, world):
    client = auth(api, world["a"].token_key)
    assert client.get("/api/v1/projects/b-project/").status_code == 404
    assert client.get("/api/v1/projects/b-project/gates/").status_code == 404
    assert client.get("/api/v1/projects/no-such-project/").status_code == 404
    slugs = [p["slug"] for p in client.get("/api/v1/projects/").json()["results"]]
    assert slugs == ["a-project"]
    response = client.post(
        "/api/v1/projects/b-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 404


def test_it_reads_the_gate_checklist(api, packed_world):
    response = auth(api, packed_world["a"].token_key).get("/api/v1/projects/a-project/gates/")
    assert response.status_code == 200
    body = response.json()
    assert (body["stage"], body["target"], body["passed"]) == ("prototyping", "deployment", True)
    assert {c["name"] for c in body["checks"]} >= {"Project described", "Business owner named"}


def test_strict_gates_answer_409_when_the_gate_fails(api, packed_world):
    a = packed_world["a"]
    client = auth(api, a.token_key)
    client.patch("/api/v1/projects/a-project/", {"description": "short"})
    response = client.get("/api/v1/projects/a-project/gates/?strict=1")
    assert response.status_code == 409
    failing = [c["name"] for c in response.json()["checks"] if not c["passed"]]
    # The pack was rendered from the old description: it no longer matches.
    assert failing == ["Project described", "Approval pack rendered for exactly this state"]
    assert client.get("/api/v1/projects/a-project/gates/").status_code == 200


def test_it_refuses_a_transition_whose_gate_fails(api, world):
    a = world["a"]
    client = auth(api, a.token_key)
    client.patch("/api/v1/projects/a-project/", {"description": ""})
    before = Event.objects.count()
    response = client.post(
        "/api/v1/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "gate_failed"
    assert any(not c["passed"] for c in body["checks"])
    assert Project.objects.get(slug="a-project").stage == "prototyping"
    assert Event.objects.count() == before


def test_it_transitions_and_records_the_checklist(api, packed_world):
    client = auth(api, packed_world["a"].token_key)
    response = client.post(
        "/api/v1/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "deployment"
    event = Event.objects.filter(verb="project.transitioned").last()
    assert event.payload["from"] == "prototyping"
    assert event.payload["to"] == "deployment"
    assert all(check["passed"] for check in event.payload["checks"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"to": "production"}, 400, "unknown_stage"),
        ({"to": "prototyping"}, 409, "same_stage"),
        ({"to": "monitoring"}, 409, "move_not_allowed"),
        ({"to": "retired"}, 400, "reason_missing"),  # every move needs a reason
        ({"to": "deployment", "reason": "  "}, 400, "reason_missing"),
        ({}, 400, "invalid"),
    ],
)
def test_it_refuses_bad_transitions(api, world, body, status, code):
    response = auth(api, world["a"].token_key).post("/api/v1/projects/a-project/transition/", body)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_it_retires_with_a_reason_and_then_stays_retired(api, world):
    client = auth(api, world["a"].token_key)
    response = client.post(
        "/api/v1/projects/a-project/transition/", {"to": "retired", "reason": "Replaced"}
    )
    assert response.status_code == 200
    response = client.post("/api/v1/projects/a-project/transition/", {"to": "prototyping"})
    assert response.status_code == 409


def test_a_token_without_the_scope_is_refused(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    _, key = tokens.token_create(user=owner, name="read only", scopes=["read"])
    client = auth(api, key)
    assert client.get("/api/v1/projects/a-project/").status_code == 200
    response = client.post(
        "/api/v1/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 403
    assert client.patch("/api/v1/projects/a-project/", {"name": "x"}).status_code == 403


def test_a_project_token_sees_only_its_project(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    other = world["a"].project
    mine = tokens.token_create(user=owner, name="ci", scopes=["read"], project=other)[1]
    from tests.factories import make_project

    make_project(world["a"].team, "a-second", actor=owner)
    client = auth(api, mine)
    assert [p["slug"] for p in client.get("/api/v1/projects/").json()["results"]] == ["a-project"]
    assert client.get("/api/v1/projects/a-second/").status_code == 404
    # A CI token cannot create projects, even in the team it can see.
    response = client.post("/api/v1/projects/", {"team": "a-team", "slug": "x", "name": "X"})
    assert response.status_code == 403


def test_the_auditor_is_read_only(api, world):
    api.force_authenticate(world["a"].people[Role.AUDITOR])
    assert api.get("/api/v1/projects/a-project/").status_code == 200
    assert api.patch("/api/v1/projects/a-project/", {"name": "x"}).status_code == 403
    response = api.post(
        "/api/v1/projects/a-project/transition/",
        {"to": "deployment", "reason": "Ready: the gate passes."},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_the_external_auditor_sees_only_the_shared_project(api, world):
    api.force_authenticate(world["external"])
    slugs = [p["slug"] for p in api.get("/api/v1/projects/").json()["results"]]
    assert slugs == ["a-project"]
    assert api.get("/api/v1/teams/").json()["results"] == []
    assert api.get("/api/v1/projects/b-project/").status_code == 404


def test_clients_cannot_set_stage_or_team(api, world):
    client = auth(api, world["a"].token_key)
    response = client.patch(
        "/api/v1/projects/a-project/", {"stage": "monitoring", "team": "b-team", "name": "New"}
    )
    assert response.status_code == 200
    project = Project.objects.get(slug="a-project")
    assert (project.stage, project.team.slug, project.name) == ("prototyping", "a-team", "New")


def test_events_list_the_project_trail_newest_first(api, world):
    response = auth(api, world["a"].token_key).get("/api/v1/projects/a-project/events/")
    assert response.status_code == 200
    verbs = [e["verb"] for e in response.json()["results"]]
    assert verbs[-1] == "project.created"
    seqs = [e["seq"] for e in response.json()["results"]]
    assert seqs == sorted(seqs, reverse=True)
    assert all(e["project"] == "a-project" for e in response.json()["results"])


def test_an_unexpected_error_is_json_without_a_trace(api, world, monkeypatch):
    from projects import selectors

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /srv/path")

    monkeypatch.setattr(selectors, "project_gate_polled", broken)
    response = auth(api, world["a"].token_key).get("/api/v1/projects/a-project/gates/")
    assert response.status_code == 500
    rid = response["X-Request-ID"]
    assert response.json() == {
        "code": "server_error",
        "detail": f"Internal error; it has been logged as request {rid}.",
        "request_id": rid,
    }


def test_the_gate_answers_a_flagger_webhook_with_the_token_in_its_body(api, packed_world):
    """Flagger POSTs {name, namespace, phase, checksum, metadata} and cannot send headers."""
    a = packed_world["a"]
    _, key = tokens.token_create(
        user=a.people[Role.BUSINESS_OWNER], name="flagger", scopes=["read"], project=a.project
    )
    url = "/api/v1/projects/a-project/gates/?to=deployment"
    hook = {
        "name": "scorer",
        "namespace": "credit",
        "phase": "Promoting",
        "checksum": "abc",
        "metadata": {"token": key},
    }
    assert api.post(url, hook, format="json").status_code == 200
    teams.project_update(
        actor=a.people[Role.BUSINESS_OWNER], project=a.project, description="short"
    )
    before = Event.objects.count()
    held = api.post(url, hook, format="json")
    assert held.status_code == 409 and not held.json()["passed"]
    assert Event.objects.count() == before  # a webhook only reads
    wrong = api.post(url, {**hook, "metadata": {"token": "sg_wrong"}}, format="json")
    assert wrong.status_code == 401
    assert api.post(url, {**hook, "metadata": {}}, format="json").status_code == 401


def test_the_gate_answers_an_argo_web_metric_with_a_json_boolean(api, packed_world):
    client = auth(api, packed_world["a"].token_key)
    body = client.get("/api/v1/projects/a-project/gates/?to=deployment").json()
    assert body["passed"] is True
