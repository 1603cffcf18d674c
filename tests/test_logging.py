"""Logs: one JSON object a line, tagged with the request; no forged lines, no secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings

from portal.logs import JsonFormatter, RequestIdFilter
from projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """What the root logger writes during the test, formatted as production does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_it_keeps_each_event_on_one_line_whatever_the_text():
    hostile = "alice\n2026-01-01 INFO forged: all good\r\x1b[2Jcleared"
    record = logging.LogRecord("portal", logging.WARNING, __file__, 1, "user %s", (hostile,), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert json.loads(line)["message"] == f"user {hostile}"


def test_it_tags_a_requests_log_lines_and_answers_with_the_id(api, world, log_lines):
    viewer = world["a"].people[Role.VIEWER]
    api.force_authenticate(viewer)
    response = api.patch(
        "/api/v1/projects/a-project/", {"name": "x"}, HTTP_X_REQUEST_ID="trace-123"
    )
    assert response.status_code == 403
    assert response["X-Request-ID"] == "trace-123"
    denied = [line for line in log_lines() if line["message"].startswith("Forbidden: /api/")]
    assert denied and denied[0]["request_id"] == "trace-123"
    assert denied[0]["level"] == "WARNING"


def test_it_makes_its_own_id_when_the_given_one_is_not_sane(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="x\r\ninjected: 1")
    rid = response["X-Request-ID"]
    assert rid != "x\r\ninjected: 1" and len(rid) == 32


def test_a_server_error_names_its_request_without_the_trace(api, world, monkeypatch, log_lines):
    from projects.api import views

    def explode(*args, **kwargs):
        raise RuntimeError("secret path /srv/stagegate and SQL inside")

    monkeypatch.setattr(views.selectors, "project_events", explode)
    api.force_authenticate(world["a"].people[Role.VIEWER])
    response = api.get("/api/v1/projects/a-project/events/")
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == response["X-Request-ID"]
    assert "secret" not in response.content.decode()
    logged = [line for line in log_lines() if line.get("request_id") == body["request_id"]]
    assert any("secret path" in line.get("exception", "") for line in logged)


def test_a_token_never_reaches_the_log(api, world, log_lines):
    secrets = [world["a"].token_key, world["a"].token_key[:-4] + "abcd"]  # valid, and wrong
    for secret in secrets:
        api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        api.get("/api/v1/projects/a-project/")
        api.patch("/api/v1/projects/b-project/", {"name": "x"})
        api.get("/api/v1/nothing-here/")
    written = json.dumps(log_lines())
    assert all(secret not in written for secret in secrets)


def test_production_logs_are_json_by_default():
    if settings.DEBUG:
        pytest.skip("DEBUG runs log plain text for a terminal; production (DEBUG off) is JSON")
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
