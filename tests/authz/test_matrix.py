"""Every route x role x own team / other team / anonymous, through HTTP.

The expectations live in ``matrix.py``; the routes come from the URL
configuration, so a new route without a row makes this test fail.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audits.forms import AuditConfigForm
from audits.models import AuditRun, PolicyException
from audits.services.mitigation import mitigation_request, mitigation_run
from projects.models import Event, Role
from projects.services import tokens
from tests.authz.deployment_matrix import RULES as DEPLOYMENT_RULES
from tests.authz.matrix import CALLER_ROUTES, CI_TOKEN_WRITES, MATRIX, NOT_IN_MATRIX, Expect
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import grant_exception, make_failing_audit

ROLES = [Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER]
TEAM_ROUTES = {"api-team-detail", "team-detail", "membership-add", "team-exception-list"}


def _exception(a) -> PolicyException:
    audit = grant_exception(a, a.people[Role.AUDITOR])
    return PolicyException.objects.get(review__audit=audit)


def _mitigated(a) -> AuditRun:
    """A failing audit of team A's candidate, with its mitigation options computed."""
    audit = make_failing_audit(a)
    mitigation, _ = mitigation_request(actor=a.people[Role.ML_ENGINEER], audit=audit)
    mitigation_run(mitigation_id=mitigation.pk)
    return audit


#: Routes whose pk names an object built for the call (in the test's savepoint).
BUILT = {
    "api-exception-detail": _exception,
    "api-audit-mitigation": _mitigated,
    # Asked for here: the world's own audit passes, so it has no options to offer.
    "mitigation-create": make_failing_audit,
    "mitigation-status": _mitigated,
    # The world's own audit is approved: a review is asked for on one still undecided.
    "api-audit-review-request-list": make_failing_audit,
    "audit-review-request-create": make_failing_audit,
}


def url_routes() -> dict[str, set[str]]:
    """Route name -> the methods it declares (DRF viewsets) or an empty set (plain views)."""
    found: dict[str, set[str]] = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace in NOT_IN_MATRIX:
                    continue
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                actions = getattr(pattern.callback, "actions", None) or {}
                methods = {m.upper() for m in actions} - {"HEAD", "OPTIONS"}
                found.setdefault(pattern.name, set()).update(methods)

    walk(get_resolver().url_patterns)
    return found


def test_every_route_has_a_row_and_every_row_a_route():
    # The deployment stage's routes have their rules in deployment_matrix.py.
    rows = set(MATRIX) | set(DEPLOYMENT_RULES)
    routes = url_routes()
    declared = {name for name, _ in rows}
    assert sorted(set(routes) - declared) == [], (
        "routes with no row in matrix.py or deployment_matrix.py"
    )
    assert sorted(declared - set(routes)) == [], "matrix rows that match no route"
    for name, methods in routes.items():
        for method in methods:
            assert (name, method) in rows, (
                f"{name} {method} has no row in matrix.py or deployment_matrix.py"
            )


def _kwargs(name: str, a) -> dict:
    owner = a.people[Role.BUSINESS_OWNER]
    by_param = {"team_slug": a.team.slug, "project_slug": a.project.slug}
    pattern_kwargs = _route_params(name)
    kwargs = {}
    for param in pattern_kwargs:
        if param in by_param:
            kwargs[param] = by_param[param]
        elif param == "slug":
            kwargs[param] = a.team.slug if name in TEAM_ROUTES else a.project.slug
        elif param == "pk":
            if name in PK_OF:
                kwargs[param] = getattr(a, PK_OF[name]).pk
            elif name in BUILT:
                kwargs[param] = BUILT[name](a).pk
            elif "membership" in name:
                kwargs[param] = a.memberships[Role.VIEWER].pk
            elif "share" in name:
                kwargs[param] = a.share.pk
            elif "export" in name:
                kwargs[param] = a.export.pk
            elif name == "token-revoke":
                kwargs[param] = owner.api_tokens.get().pk
        elif param in ("uidb64", "token"):
            kwargs[param] = "not-valid"  # a password reset link: the page says it expired
    return kwargs


# Routes whose pk names an object of the team world, by attribute.
PK_OF = {
    "api-dataset-detail": "dataset",
    "api-version-list": "dataset",
    "dataset-detail": "dataset",
    "dataset-edit": "dataset",
    "version-upload": "dataset",
    "api-version-detail": "version",
    "api-baseline-run-list": "version",
    "version-detail": "version",
    "version-status": "version",
    "baseline-run-create": "version",
    "api-baseline-run-detail": "run",
    "baseline-run-detail": "run",
    # The spare model was registered without its training data, which may be recorded.
    "api-model-detail": "spare_model",
    "model-training-data": "spare_model",
    "api-model-candidate": "spare_model",
    "model-candidate": "spare_model",
    "api-evaluation-list": "model",
    "model-detail": "model",
    "evaluation-create": "model",
    "api-evaluation-detail": "evaluation",
    "evaluation-detail": "evaluation",
    "evaluation-status": "evaluation",
    "api-risk-detail": "risk",
    "risk-edit": "risk",
    "api-audit-list": "unaudited",
    "audit-create": "unaudited",
    "api-audit-detail": "audit",
    "api-audit-csv": "audit",
    "api-audit-review-list": "audit",
    "audit-detail": "audit",
    "audit-status": "audit",
    "audit-json": "audit",
    "audit-csv": "audit",
    "audit-review-create": "audit",
    "api-audit-comment-list": "audit",
    "audit-comment-create": "audit",
    "api-criteria-version-detail": "criteria",
    "criteria-version": "criteria",
    "api-signoff-list": "criteria",
    "signoff-create": "criteria",
    "api-criterion-exception": "criteria",
    "criterion-exception-create": "criteria",
    "api-signoff-detail": "signoff",
    "api-signoff-revoke": "signoff",
    "signoff-revoke": "signoff",
    "measurement-attachment": "measurement",
    "api-pack-detail": "pack",
    "api-pack-pdf": "pack",
    "pack-detail": "pack",
    "pack-status": "pack",
    "pack-pdf": "pack",
}
#: Asking for a pack of a state that has one reuses it: nothing new is written.
#: Allowed posts that may write nothing: a pack of the same state is reused; the world's
#: criteria are all met, so there is no unmet one to accept (the page says so).
REUSES = {("pack-create", "POST"), ("criterion-exception-create", "POST")}


def _route_params(name: str) -> list[str]:
    possibilities = get_resolver().reverse_dict.getlist(name)
    return list(possibilities[0][0][0][1]) if possibilities else []


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def _audit_settings_form(a) -> dict:
    """The configuration form as the page fills it, with one threshold changed."""
    config = a.audit.config.as_dict()
    form = AuditConfigForm.initial_from(config)
    form.update({"min_recall__limit": "0.4", "min_recall__rationale": "Missed defaults cost."})
    return form


def _body(name: str, a) -> dict:
    dataset_form = {
        "name": "loans",
        "purpose": "training",
        "status": "available",
        "labeling_strategy": "programmatic",
        "description": "Edited",
    }
    baseline = {"kind": "human_level", "name": "Analysts", "metric": "accuracy", "value": 0.8}
    predictions = {
        "dataset_version": a.version.pk,
        "y_true": "label",
        "y_pred": "prediction",
        "file": _upload("predictions.csv", predictions_csv(sample_frame())),
    }
    return {
        "api-dataset-list": {"name": "new-data", "purpose": "test"},
        "api-dataset-detail": {"description": "Changed"},
        "api-version-list": {"file": _upload("more.csv", sample_csv(seed=5))},
        "api-baseline-list": baseline,
        "api-model-list": {"name": "scorer", "version": "2"},
        "api-evaluation-list": predictions,
        "dataset-create": {**dataset_form, "name": "new-data"},
        "dataset-edit": dataset_form,
        "version-upload": {"file": _upload("more.csv", sample_csv(seed=5)), "encoding": "utf-8"},
        "baseline-run-create": {"target": "defaulted", "task": ""},
        "baseline-list": baseline,
        "model-list": {"name": "scorer", "version": "2", "parameters": "{}"},
        "evaluation-create": predictions,
        "api-risk-list": {"title": "Leak", "category": "leakage", "likelihood": 2, "impact": 3},
        "api-risk-detail": {"status": "mitigated"},
        "api-audit-config-list": {
            "thresholds": {"min_recall": {"limit": 0.4, "rationale": "Missed defaults cost."}}
        },
        "api-audit-review-list": {"decision": "approve", "rationale": "Gaps are small."},
        "audit-review-create": {"decision": "request_changes", "rationale": "Bin the ages."},
        "api-model-detail": {"training_data": a.training.pk},
        "model-training-data": {"training_data": a.training.pk},
        "api-audit-review-request-list": {"note": "Group F first."},
        "audit-review-request-create": {"note": "Group F first."},
        "api-audit-comment-list": {"body": "Group F looks thin."},
        "audit-comment-create": {"body": "Group F looks thin."},
        "audit-settings": _audit_settings_form(a),
        "api-criteria-list": {"template": "credit_scoring"},
        "criteria": {"template": "credit_scoring"},
        "risk-list": {
            "title": "Leak",
            "category": "leakage",
            "likelihood": 2,
            "impact": 3,
            "status": "open",
        },
        "risk-edit": {
            "title": "Leak",
            "category": "leakage",
            "likelihood": 2,
            "impact": 4,
            "status": "mitigated",
        },
        "api-membership-list": {"username": "newcomer", "role": "viewer"},
        "api-membership-detail": {"role": "auditor"},
        "api-project-list": {"team": a.team.slug, "slug": "new-project", "name": "New"},
        "api-project-detail": {"name": "Renamed"},
        "api-project-transition": {"to": "deployment", "reason": "Criteria met."},
        # Only business owners may sign in this role; the world's owner has signed already.
        "api-signoff-list": {"role": "business_owner", "decision": "approve"},
        "signoff-create": {"role": "business_owner", "decision": "approve"},
        "criteria-edit": {
            "rows": "1",
            "metric-0": "accuracy",
            "target-0": "0.5",
            "rationale-0": "x",
        },
        "api-signoff-revoke": {"reason": "Signed too early."},
        "signoff-revoke": {"reason": "Signed too early."},
        "api-measurement-list": {"metric": "revenue", "value": 1200, "evidence": "Ledger."},
        "measurement-create": {"metric": "revenue", "value": "1200", "evidence": "Ledger."},
        "api-share-list": {"username": "newcomer", "role": "viewer"},
        "project-create": {
            "team": a.team.pk,
            "name": "New",
            "slug": "new-project",
            "task_type": "classification",
            "description": "",
        },
        "project-edit": {"name": "Renamed", "task_type": "regression", "description": "x" * 30},
        "project-transition": {"to": "deployment", "reason": "Criteria met."},
        "project-share": {"username": "newcomer", "role": "viewer"},
        "membership-add": {"username": "newcomer", "role": "viewer"},
        "membership-change": {"role": "auditor"},
        "token-list": {"name": "t", "scopes": ["read"], "days": 30},
        "profile": {"first_name": "Ada", "last_name": "Lovelace", "job_title": "Analyst"},
        "api-profile": {"job_title": "Analyst"},
    }.get(name, {})


def _expected(value: int | dict[str, int], role: str) -> int:
    return value if isinstance(value, int) else value[role]


def _cases():
    for (name, method), expect in sorted(MATRIX.items()):
        if expect.public:
            yield pytest.param(name, method, "anonymous", "anon", id=f"{name}-{method}-anon")
            continue
        for role in ROLES:
            for scope in ("own", "other"):
                yield pytest.param(name, method, role, scope, id=f"{name}-{method}-{role}-{scope}")
        yield pytest.param(name, method, "anonymous", "anon", id=f"{name}-{method}-anon")


def _call(client: Client, method: str, url: str, body: dict, api: bool):
    if method == "GET":
        return client.get(url)
    if any(hasattr(value, "read") for value in body.values()):
        return client.post(url, body)  # multipart, as a browser or curl -F sends it
    if api:
        return client.generic(method, url, data=json.dumps(body), content_type="application/json")
    return client.post(url, body)


# Every route for every role: CI's PostgreSQL stage runs it (make test-slow here).
@pytest.mark.slow
@pytest.mark.parametrize(("name", "method", "role", "scope"), list(_cases()))
def test_route_permissions(matrix_world, db, name, method, role, scope):
    a, b = matrix_world["a"], matrix_world["b"]
    expect: Expect = MATRIX[(name, method)]
    api = name.startswith("api-")
    url = reverse(name, kwargs=_kwargs(name, a))
    client = Client()
    if scope == "anon":
        wanted = expect.anon if expect.anon is not None else (401 if api else 302)
    else:
        person = (a if scope == "own" else b).people[role]
        client.force_login(person)
        wanted = _expected(expect.own if scope == "own" else expect.other, role)
    events_before = Event.objects.count()

    response = _call(client, method, url, _body(name, a), api)

    assert response.status_code == wanted, (
        f"{method} {url} as {role} ({scope}): {response.status_code}, wanted {wanted}"
    )
    if "Location" in response.headers:
        # wsgiref and gunicorn refuse header values that are str subclasses.
        assert type(response.headers["Location"]) is str
    if scope == "anon" and not api and not expect.public:
        assert response["Location"].startswith(reverse("login"))
    if response.status_code >= 400 and method != "GET":
        assert Event.objects.count() == events_before, "a refused write changed the trail"
    done = response.status_code in (201, 202, 204) or (
        response.status_code == 302
        and scope != "anon"
        and not expect.public
        and (name, method) not in REUSES
    )
    if method != "GET" and done:
        assert Event.objects.count() > events_before, "an allowed write left no event"
    if scope == "other" and method == "GET" and response.status_code == 200:
        body = response.content.decode()
        assert a.project.slug not in body and a.team.slug not in body, "team A leaked to team B"


def test_the_admin_is_for_staff_only(db, client):
    user = get_user_model().objects.create_user("plain", password="pw-123456789")
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    staff = get_user_model().objects.create_user(
        "staffer", password="pw-123456789", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/projects/team/").status_code == 200


def _token_cases():
    for (name, method), expect in sorted(MATRIX.items()):
        if name.startswith("api-") and not expect.public:
            for scope in ("own", "other"):
                yield pytest.param(name, method, scope, id=f"{name}-{method}-{scope}")


@pytest.mark.parametrize(("name", "method", "scope"), list(_token_cases()))
def test_route_permissions_for_a_read_only_ci_token(matrix_world, db, name, method, scope):
    """Team A's (or B's) business owner's read-only token bound to their team's project."""
    a = matrix_world["a"]
    holder = matrix_world["a" if scope == "own" else "b"]
    _, key = tokens.token_create(
        user=holder.people[Role.BUSINESS_OWNER], name="ci", scopes=["read"], project=holder.project
    )
    if scope == "own":
        wanted = 200 if method == "GET" else CI_TOKEN_WRITES.get((name, method), 403)
    else:
        lists = {
            ("api-project-list", "GET"),
            ("api-team-list", "GET"),
            ("api-audit-inbox", "GET"),
            ("api-signoff-inbox", "GET"),
            # The schema and its docs belong to no team.
            ("api-schema", "GET"),
            ("api-docs", "GET"),
        }
        wanted = 200 if (name, method) in lists else 404
        wanted = CALLER_ROUTES.get((name, method), wanted)
        if (name, method) == ("api-project-list", "POST"):
            wanted = 404  # team A is not visible to team B's token
    url = reverse(name, kwargs=_kwargs(name, a))
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    events_before = Event.objects.count()

    response = _call(client, method, url, _body(name, a), api=True)

    assert response.status_code == wanted, (
        f"{method} {url} with {scope} CI token: {response.status_code}, wanted {wanted}"
    )
    if response.status_code >= 400:
        assert Event.objects.count() == events_before
    if scope == "other" and response.status_code == 200:
        body = response.content.decode()
        assert a.project.slug not in body and a.team.slug not in body
