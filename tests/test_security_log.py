"""Every refused API call writes exactly one security-log line, and an allowed one none.

The calls are the API rows of the permission matrix (``tests/authz/matrix.py``), made
anonymously, as team A's and team B's viewers, with a read-only CI token of either team
and with a revoked token. A refusal is a 401, a 403, or a 404 for an object that exists
but is another team's; a 404 for something that does not exist is no refusal. The
deployment stage's routes are checked the same way (``assert_one_line_per_refusal``) by
every call of their matrix, ``tests/authz/test_deployment_routes.py``.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from portal.logs import JsonFormatter
from projects.models import Role
from projects.services import tokens
from tests.authz.matrix import CALLER_ROUTES, CI_TOKEN_WRITES, MATRIX
from tests.authz.test_matrix import _body, _call, _expected, _kwargs

SECURITY = "stagegate.security"
PRINCIPALS = ["anonymous", "own viewer", "other viewer", "own token", "other token", "revoked"]
# Lists and the schema belong to no team: another team's token reads them (empty of A).
NO_TEAM = {
    ("api-project-list", "GET"),
    ("api-team-list", "GET"),
    ("api-audit-inbox", "GET"),
    ("api-signoff-inbox", "GET"),
    ("api-schema", "GET"),
    ("api-docs", "GET"),
}


@pytest.fixture
def security_lines(caplog):
    caplog.set_level(logging.INFO, logger=SECURITY)

    def lines() -> list[dict]:
        records = [r for r in caplog.records if r.name == SECURITY]
        return [json.loads(JsonFormatter().format(r)) for r in records]

    return lines


def _principal(who: str, a, b):
    """(client, user id, token prefix, expected status or None for the matrix's) for ``who``."""
    if who == "anonymous":
        return Client(), None, None
    if who in ("own viewer", "other viewer"):
        person = (a if who == "own viewer" else b).people[Role.VIEWER]
        client = Client()
        client.force_login(person)
        return client, person.pk, None
    holder = a if who in ("own token", "revoked") else b
    owner = holder.people[Role.BUSINESS_OWNER]
    token, key = tokens.token_create(user=owner, name="ci", scopes=["read"], project=holder.project)
    if who == "revoked":
        tokens.token_revoke(actor=owner, token=token)
        return Client(HTTP_AUTHORIZATION=f"Token {key}"), None, token.prefix
    return Client(HTTP_AUTHORIZATION=f"Token {key}"), owner.pk, token.prefix


def _wanted(name: str, method: str, who: str) -> int:
    expect = MATRIX[(name, method)]
    if who == "anonymous":
        return expect.anon if expect.anon is not None else 401
    if who == "revoked":
        return 401
    if who == "own viewer":
        return _expected(expect.own, Role.VIEWER)
    if who == "other viewer":
        return _expected(expect.other, Role.VIEWER)
    if who == "own token":
        return 200 if method == "GET" else CI_TOKEN_WRITES.get((name, method), 403)
    if (name, method) in CALLER_ROUTES:
        return CALLER_ROUTES[(name, method)]
    return 200 if (name, method) in NO_TEAM else 404  # another team's token


def _cases():
    rows = [row for row in sorted(MATRIX) if row[0].startswith("api-")]
    for index, (name, method) in enumerate(rows):
        # People on every row; tokens, refused by the same code, on every other one.
        principals = PRINCIPALS if index % 2 == 0 else PRINCIPALS[:3]
        for who in principals:
            yield pytest.param(name, method, who, id=f"{name}-{method}-{who}")


@pytest.mark.parametrize(("name", "method", "who"), list(_cases()))
def test_each_refusal_writes_one_security_line(matrix_world, db, security_lines, name, method, who):
    a, b = matrix_world["a"], matrix_world["b"]
    client, user_id, prefix = _principal(who, a, b)
    url = reverse(name, kwargs=_kwargs(name, a))
    wanted = _wanted(name, method, who)

    response = _call(client, method, url, {} if method == "GET" else _body(name, a), api=True)

    assert response.status_code == wanted, f"{method} {url} as {who}: {response.status_code}"
    # Every 404 here is for team A's object, which exists.
    assert_one_line_per_refusal(
        security_lines(), response, method=method, url=url, user_id=user_id, prefix=prefix
    )


def assert_one_line_per_refusal(
    lines: list[dict], response, *, method: str, url: str, user_id, prefix=None, api=True
) -> None:
    """One security line for a refused call (an API's 401, 403, or 404 for an object that
    exists; a page's 403 or such a 404), saying who, what and why; none for anything else.
    Shared with the deployment routes' matrix (``tests/authz/test_deployment_routes.py``)."""
    status = response.status_code
    if status not in ((401, 403, 404) if api else (403, 404)):
        assert lines == [], f"an allowed call was logged as refused: {lines}"
        return
    assert len(lines) == 1, lines
    (line,) = lines
    if status == 401:
        assert line["reason"] in ("not_authenticated", "authentication_failed"), line
    elif status == 403 and api:
        assert line["reason"] == response.json()["code"], line
    elif status == 403:
        assert line["reason"] != "", line
    else:
        assert line["reason"] == "not_visible", line
    assert line["level"] == "WARNING"
    assert {k: line[k] for k in ("request_id", "method", "path", "status", "user_id")} == {
        "request_id": response["X-Request-ID"],
        "method": method,
        "path": url,
        "status": status,
        "user_id": user_id,
    }
    if api:
        assert line["token_prefix"] == prefix


def test_a_404_for_what_does_not_exist_is_not_a_refusal(matrix_world, db, security_lines):
    client = Client()
    client.force_login(matrix_world["b"].people[Role.VIEWER])
    assert client.get("/api/v1/datasets/999999999/").status_code == 404
    assert client.get("/api/v1/projects/no-such-project/").status_code == 404
    assert client.get("/api/v1/nothing-here/").status_code == 404
    assert security_lines() == []


def test_a_refused_key_is_logged_by_its_prefix_only(matrix_world, db, security_lines):
    key = "sg_0123abcd_" + "x" * 43
    response = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/projects/")
    assert response.status_code == 401
    (line,) = security_lines()
    assert line["token_prefix"] == "sg_0123abcd"
    assert line["reason"] == "authentication_failed"
    assert key not in json.dumps(line)
    assert get_user_model().objects.filter(pk=line["user_id"]).count() == 0


def _web_cases():
    for name, method in sorted(MATRIX):
        if name.startswith("api-") or MATRIX[(name, method)].public:
            continue
        for who in ("own viewer", "other viewer"):
            yield pytest.param(name, method, who, id=f"{name}-{method}-{who}")


@pytest.mark.parametrize(("name", "method", "who"), list(_web_cases()))
def test_each_refused_page_writes_one_security_line(
    matrix_world, db, security_lines, name, method, who
):
    a, b = matrix_world["a"], matrix_world["b"]
    client, user_id, _ = _principal(who, a, b)
    url = reverse(name, kwargs=_kwargs(name, a))
    wanted = _wanted(name, method, who)

    response = _call(client, method, url, {} if method == "GET" else _body(name, a), api=False)

    assert response.status_code == wanted, f"{method} {url} as {who}: {response.status_code}"
    assert_one_line_per_refusal(
        security_lines(), response, method=method, url=url, user_id=user_id, api=False
    )


def test_a_page_that_does_not_exist_is_not_a_refusal(matrix_world, db, security_lines):
    client = Client()
    client.force_login(matrix_world["b"].people[Role.VIEWER])
    assert client.get("/projects/no-such-project/").status_code == 404
    assert client.get("/nothing-here/").status_code == 404
    assert security_lines() == []
