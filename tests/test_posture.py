"""The portal's security posture through HTTP: a Content-Security-Policy with no inline
script, a Permissions-Policy, a health check that tells strangers only up or down, the
API's schema and docs behind a login, and a 503 page when the database is away."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections
from django.urls import reverse

from projects.models import Role

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
#: Rendered only into PDFs by WeasyPrint, never served to a browser: its inline
#: styles meet no Content-Security-Policy.
PDF_ONLY_TEMPLATES = {"packs/pack.html", "packs/_memo.html", "packs/monitoring_report.html"}


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@contextmanager
def database_down() -> Iterator[None]:
    """Every query fails as it does when the database server is unreachable."""
    error = OperationalError("could not connect to server: Connection refused")
    with mock.patch.object(connections["default"], "_cursor", side_effect=error):
        yield


# --- Content-Security-Policy and Permissions-Policy ---------------------------------------


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/projects/a-project/"])
def test_it_sends_a_content_security_policy_without_inline_scripts(client, world, path):
    client.force_login(world["a"].people[Role.VIEWER])
    policy = _policy(client.get(path)["Content-Security-Policy"])

    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_it_sends_a_permissions_policy_that_denies_powerful_features(client, api, world):
    client.force_login(world["a"].people[Role.VIEWER])
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    for response in (client.get("/"), api.get("/api/v1/projects/"), client.get("/healthz")):
        header = response["Permissions-Policy"]
        features = dict(item.strip().split("=", 1) for item in header.split(","))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()", feature


# --- No inline script or style in the templates -----------------------------------------

INLINE_PATTERNS = {
    "an inline <script>": re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I),
    "an event-handler attribute": re.compile(r"<[a-z][^<>]*?\s(?:on[a-z]+|hx-on\S*)\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
    "a <style> block": re.compile(r"<style\b", re.I),
    "a style attribute": re.compile(r"<[a-z][^<>]*?\sstyle\s*=", re.I),
}


def inline_code(text: str) -> list[str]:
    return [name for name, pattern in INLINE_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ("<script>alert(1)</script>", "an inline <script>"),
        ('<script type="module">go()</script>', "an inline <script>"),
        ('<button type="button" onclick="go()">', "an event-handler attribute"),
        ('<form\n  method="post" onsubmit="return check()">', "an event-handler attribute"),
        ('<div hx-on:click="go()">', "an event-handler attribute"),
        ('<a href="javascript:history.back()">', "a javascript: URL"),
        ("<style>p { color: red }</style>", "a <style> block"),
        ('<p class="x" style="color: red">', "a style attribute"),
    ],
)
def test_it_catches_inline_code_in_a_template(snippet, found):
    assert inline_code(snippet) == [found]


def test_it_lets_scripts_from_files_and_ordinary_attributes_through():
    html = (
        '<script src="/static/js/upload.js" defer></script>'
        '<form action="/x" method="post"><button class="secondary">Go</button></form>'
        '<svg role="img"><text font-style="italic">x</text></svg>'
    )
    assert inline_code(html) == []


def test_it_finds_no_inline_script_or_style_in_the_templates():
    found = {
        str(path.relative_to(TEMPLATES)): kinds
        for path in sorted(TEMPLATES.rglob("*.html"))
        if (kinds := inline_code(path.read_text()))
        and str(path.relative_to(TEMPLATES)) not in PDF_ONLY_TEMPLATES
    }
    assert found == {}, "move these into static/js or static/css: the CSP refuses them"


# --- /healthz ----------------------------------------------------------------------------


@pytest.fixture
def worker_answers(monkeypatch):
    # A ping needs a running worker; the checks of the database and the broker are real.
    monkeypatch.setattr("portal.health.workers_check", lambda: {"ok": True, "workers": ["w@test"]})


def test_it_tells_anonymous_callers_only_that_the_portal_is_up(client, worker_answers):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "up"}


def test_it_tells_anonymous_callers_only_that_the_portal_is_down(client, monkeypatch):
    monkeypatch.setattr("portal.health.workers_check", lambda: {"ok": False, "workers": []})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}


def test_it_tells_a_member_without_staff_status_only_up_or_down(client, world, worker_answers):
    client.force_login(world["a"].people[Role.BUSINESS_OWNER])
    assert client.get("/healthz").json() == {"status": "up"}


def test_it_gives_staff_the_details(client, db, worker_answers):
    staff = get_user_model().objects.create_user("ops", password="pw-123456789", is_staff=True)
    client.force_login(staff)
    body = client.get("/healthz").json()
    assert body["status"] == "up"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True}
    assert body["worker"] == {"ok": True, "workers": ["w@test"]}


def test_it_gives_an_api_token_the_details(client, world, worker_answers):
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    assert response.status_code == 200
    assert set(response.json()) == {"status", "database", "broker", "worker"}


def test_it_gives_an_unknown_token_only_up_or_down(client, world, worker_answers):
    response = client.get("/healthz", HTTP_AUTHORIZATION="Token sg_0000_not-a-real-key")
    assert response.json() == {"status": "up"}


def test_it_answers_down_without_details_when_the_database_is_away(client, world):
    # The caller cannot be checked without the database, so even a token gets the short form.
    with database_down():
        response = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}


# --- The API's schema and docs ------------------------------------------------------------


def test_it_answers_401_to_an_anonymous_request_for_the_schema(api, db):
    response = api.get(reverse("api-schema"))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert set(response.json()) == {"code", "detail"}


def test_it_serves_the_schema_to_a_token_and_to_a_session(client, api, world):
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    assert api.get(reverse("api-schema")).status_code == 200
    client.force_login(world["a"].people[Role.VIEWER])
    assert client.get(reverse("api-schema")).status_code == 200


def test_it_sends_an_anonymous_visitor_of_the_docs_to_log_in(client, db):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('api-docs')}"


def test_it_serves_the_docs_with_their_script_in_a_file(client, world):
    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(reverse("api-docs")).content.decode()
    assert inline_code(page) == []
    script_url = re.search(r'<script src="([^"]*\?script=[^"]*)"', page).group(1)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


# --- The database away ------------------------------------------------------------------


def test_it_answers_a_page_with_503_when_the_database_is_away(client, world):
    client.force_login(world["a"].people[Role.VIEWER])
    with database_down():
        response = client.get("/projects/a-project/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"database" in response.content


def test_it_answers_the_api_with_503_when_the_database_is_away(api, world):
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    with database_down():
        response = api.get("/api/v1/projects/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
