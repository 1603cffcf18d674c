"""Every deployment-stage route x caller, through HTTP.

The callers: each role of team A signed in, the outside auditor team A's project is
shared with, each role of team B, nobody; and tokens of team A's people with each scope,
bound to team A's project or to another of its projects, of team B, and revoked. The
rules live in ``deployment_matrix.py``; the routes come from the URL configuration, so a
deployment route without a rule fails here and in ``test_matrix.py``.

Each call also checks what it left: a refusal changes no row, and writes one security-log
line when it is a refusal of access; an allowed write goes on the trail.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from deployments.services.tokens import deployment_token_create
from portal.logs import JsonFormatter
from projects.services import tokens
from tests.authz.deployment_matrix import (
    API_CALLERS,
    BO,
    EXTERNAL,
    RULES,
    TOKEN_IN_BODY,
    WEB_CALLERS,
    Caller,
    Rule,
    body,
    deployment_state,
    deployments_build,
    expected,
    url_kwargs,
)
from tests.authz.matrix import MATRIX
from tests.authz.test_matrix import _call, _route_params
from tests.factories import make_project
from tests.test_security_log import SECURITY, assert_one_line_per_refusal

#: The deployments app's views, and the monitoring reports (audits) of a deployment.
APPS = ("deployments.", "audits.views.monitoring_reports", "audits.api.monitoring_reports")

# 1,237 calls: CI's PostgreSQL stage runs them (make test-slow here).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment_world(matrix_world, django_db_blocker):
    """The matrix world (built for this module) with each team's deployments, and a second
    project of team A for a token bound elsewhere."""
    a, b = matrix_world["a"], matrix_world["b"]
    with django_db_blocker.unblock():
        return {
            "a": a,
            "b": b,
            "deployments": deployments_build(a, rendered=True),
            "b_deployments": deployments_build(b, rendered=True),
            "second": make_project(a.team, "a-second", actor=a.people[BO]),
        }


def deployment_routes() -> dict[str, set[str]]:
    """Route name -> declared methods (DRF viewsets; empty for pages), for every route
    whose view lives in the deployments app."""
    found: dict[str, set[str]] = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                view = getattr(pattern.callback, "cls", pattern.callback)
                if not view.__module__.startswith(APPS):
                    continue
                actions = getattr(pattern.callback, "actions", None) or {}
                methods = {m.upper() for m in actions} - {"HEAD", "OPTIONS"}
                found.setdefault(pattern.name, set()).update(methods)

    walk(get_resolver().url_patterns)
    return found


def test_every_deployment_route_has_a_rule_and_every_rule_a_route():
    routes = deployment_routes()
    ruled = {name for name, _ in RULES}
    assert sorted(set(routes) - ruled) == [], "deployment routes with no rule"
    assert sorted(ruled - set(routes)) == [], "rules that match no deployment route"
    for name, methods in routes.items():
        if methods:  # a viewset says which methods it answers: each needs its rule
            assert {m for n, m in RULES if n == name} == methods, name
    assert not set(RULES) & set(MATRIX), "a route ruled twice"


def _person(caller: Caller, world: dict):
    w = world[caller.team]
    return w.share.user if caller.role == EXTERNAL else w.people[caller.role]


@dataclass
class Calling:
    """A client calling as a caller; the user id and token prefix the log should name."""

    client: Client
    user_id: int | None = None
    prefix: str | None = None
    #: A key the caller sends in the body's ``metadata.token``.
    key_in_body: str = ""


def _calling(caller: Caller, world: dict) -> Calling:
    if caller.team is None:
        return Calling(Client())
    person = _person(caller, world)
    if not caller.token:
        client = Client()
        client.force_login(person)
        return Calling(client, person.pk)
    if "metrics" in caller.scopes:
        deployment = getattr(world["deployments"], caller.bound)
        token, key = deployment_token_create(actor=person, deployment=deployment)
    else:
        project = {"": None, "here": world["a"].project, "elsewhere": world["second"]}[caller.bound]
        token, key = tokens.token_create(
            user=person, name="ci", scopes=list(caller.scopes), project=project
        )
    if caller.in_body:
        return Calling(Client(), person.pk, token.prefix, key_in_body=key)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    if caller.revoked:
        tokens.token_revoke(actor=person, token=token)
        return Calling(client, None, token.prefix)
    return Calling(client, person.pk, token.prefix)


def _variants(rule: Rule) -> list[str]:
    """ "" for the call on the rule's object, "busy" for it on the busy one, or each hook."""
    if rule.hooks:
        return [hook for hook, _ in rule.hooks]
    return ["", "busy"] if rule.busy else [""]


def _cases():
    for (name, method), rule in sorted(RULES.items()):
        api = name.startswith("api-")
        for variant in _variants(rule):
            for caller in API_CALLERS if api else WEB_CALLERS:
                label = "-".join(filter(None, (name, method, variant, caller.key)))
                yield pytest.param(name, method, variant, caller, id=label)


@pytest.mark.parametrize(("name", "method", "variant", "caller"), list(_cases()))
def test_deployment_route_permissions(deployment_world, db, caplog, name, method, variant, caller):
    a, d = deployment_world["a"], deployment_world["deployments"]
    rule = RULES[(name, method)]
    api = name.startswith("api-")
    busy, hook = variant == "busy", variant if rule.hooks else ""
    wanted = expected(rule, caller, name=name, busy=busy, hook=hook)
    target = rule.busy if busy else rule.target
    url = reverse(name, kwargs=url_kwargs(_route_params(name), target, d, hook))
    calling = _calling(caller, deployment_world)
    sent = body(name, d, a, caller, hook)
    if calling.key_in_body and method != "GET":
        sent["metadata"] = {"token": calling.key_in_body}
    if rule.prepare is not None and not busy:
        rule.prepare(d, a)
    before = deployment_state()
    caplog.set_level(logging.INFO, logger=SECURITY)
    caplog.clear()

    response = _call(calling.client, method, url, sent, api)

    got = response.status_code
    assert got == wanted.status, (
        f"{method} {url} as {caller.key}: {got} "
        f"{response.content[:300].decode(errors='replace')}, wanted {wanted.status}"
    )
    if api and wanted.code:
        assert response.json()["code"] == wanted.code, response.json()
    if got == 302:
        to_login = response["Location"].startswith(reverse("login"))
        assert to_login != wanted.allowed, response["Location"]
    after = deployment_state()
    if not wanted.allowed or method == "GET":
        assert after == before, "a refused call or a read changed the deployment's rows"
    elif rule.trail:
        assert after["events"] > before["events"], "an allowed write left no event"
    else:
        assert after["batches"] == before["batches"] + 1, "pushed points were not stored"
    if caller.team == "b" or caller.bound == "elsewhere":
        content = response.content.decode()
        assert a.project.slug not in content and a.team.slug not in content, "team A leaked"
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == SECURITY]
    # A line names the token that authenticated, or one sent in the header.
    read_token = not caller.in_body or name in TOKEN_IN_BODY
    assert_one_line_per_refusal(
        lines,
        response,
        method=method,
        url=url,
        user_id=calling.user_id if read_token else None,
        prefix=calling.prefix if read_token else None,
        api=api,
    )
    if not api and got == 403:
        assert lines[0]["reason"] == wanted.code, lines
