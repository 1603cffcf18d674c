"""The OpenAPI schema describes every answer the API gives.

Schemathesis generates requests for each operation of the schema (valid ones on the
world's objects, valid ones on generated ids, invalid ones) and sends them, with a few
written requests that create, change and delete, to the WSGI application in-process as
an ML engineer with a full-scope token, the business owner's CI token, a viewer with a
read-only token, an outside auditor, the business owner signed in, and nobody. Each
answer must be no server error, and its status code, content type and body must be ones
the schema declares; and an operation that succeeds with credentials must refuse the same
request without them and with invalid ones (schemathesis's ``ignored_auth``). Every request
runs in a savepoint that is rolled back, so each one sees the same world; examples are
derandomized, so a run is reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone
from django.utils.crypto import get_random_string
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from audits.models import PolicyException
from audits.services.baselines import baseline_run, baseline_run_request
from audits.services.fairness import audit_request
from audits.services.mitigation import mitigation_request, mitigation_run
from projects.models import Role
from projects.services import exports, tokens
from tests.authz.deployment_matrix import (
    NEXT_PERIOD,
    deployments_build,
    healthy_window,
    in_monitoring,
)
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import (
    QUICK_STEPS,
    WORLD_CRITERIA,
    grant_exception,
    make_audit,
    make_evaluation,
    make_pack,
    plan_content,
)

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation: valid requests on the world's objects, valid requests on
#: generated ids (mostly not found), invalid requests.
ON_THE_WORLD, ON_GENERATED_IDS, INVALID = 30, 10, 10
MULTIPART = {"Content-Type": MULTIPART_CONTENT}


def schema_document() -> dict:
    """The schema as /api/schema/ serves it, built here: the test does not depend on who
    may read /api/schema/."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


@pytest.fixture
def wsgi_app():
    """The WSGI application, keeping the test's connection (and its transaction) open
    between requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_world(world) -> dict:
    """Team A's world with a rendered pack, a finished and a queued baseline run, a queued
    audit and a queued export, and its deployments (one with a rollout under way); the ids
    of its objects and the callers' credentials."""
    a = world["a"]
    engineer, owner = a.people[Role.ML_ENGINEER], a.people[Role.BUSINESS_OWNER]
    a.pack = make_pack(a)
    deployments = deployments_build(a)
    exception = PolicyException.objects.get(review__audit=grant_exception(a, world["external"]))
    # The failing audit's mitigation options, computed.
    mitigated = exception.review.audit
    mitigation, _ = mitigation_request(actor=engineer, audit=mitigated)
    mitigation_run(mitigation_id=mitigation.pk)
    # An audit nobody has decided yet: one whose review may be asked for.
    undecided = make_audit(make_evaluation(a.spare_model, a.version, engineer), engineer)
    finished = baseline_run_request(actor=engineer, version=a.version, task="classification")
    baseline_run(run_id=finished.pk)
    queued_audit, _ = audit_request(actor=engineer, evaluation=a.unaudited)
    queued_export = exports.event_export_request(actor=engineer, project=a.project)
    _, engineer_key = tokens.token_create(
        user=engineer, name="ci", scopes=["read", "write", "transition"]
    )
    _, viewer_key = tokens.token_create(user=a.people[Role.VIEWER], name="board", scopes=["read"])
    _, auditor_key = tokens.token_create(user=world["external"], name="audit", scopes=["write"])
    # Teams, shares and sign-offs are managed by people signed in, never through tokens.
    browser = Client()
    browser.force_login(owner)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = get_random_string(32)
    return {
        "a": a,
        "deployments": deployments,
        "queued": {"run": a.run.pk, "audit": queued_audit.pk, "export": queued_export.pk},
        "mitigated": mitigated.pk,
        "undecided": undecided.pk,
        "callers": {
            "engineer": {"headers": {"Authorization": f"Token {engineer_key}"}},
            "owner": {"headers": {"Authorization": f"Token {a.token_key}"}},
            "viewer": {"headers": {"Authorization": f"Token {viewer_key}"}},
            "auditor": {"headers": {"Authorization": f"Token {auditor_key}"}},
            "person": {
                "headers": {"X-CSRFToken": csrf},
                "cookies": {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
            },
            "nobody": {},
        },
        "ids": {
            "approval-packs": {"id": a.pack.pk},
            "audits": {"id": a.audit.pk},
            "baseline-runs": {"id": finished.pk},
            "criteria-versions": {"id": a.criteria.pk},
            "dataset-versions": {"id": a.version.pk},
            "datasets": {"id": a.dataset.pk},
            "evaluations": {"id": a.evaluation.pk},
            "event-exports": {"id": a.export.pk},
            "memberships": {"id": a.memberships[Role.VIEWER].pk},
            "models": {"id": a.spare_model.pk},
            "projects": {"project_slug": a.project.slug, "slug": a.project.slug},
            "risks": {"id": a.risk.pk},
            "shares": {"id": a.share.pk},
            "signoffs": {"id": a.signoff.pk},
            "teams": {"slug": a.team.slug, "team_slug": a.team.slug},
            "deployments": {"id": deployments.live.pk, "hook": "rollout"},
            "deployment-plans": {"id": deployments.live_plan.pk},
            "plan-signoffs": {"id": deployments.signoff.pk},
            "rollouts": {"id": deployments.rollout.pk},
            "analyses": {"id": deployments.analysis.pk},
            "drift-checks": {"id": deployments.drift_check.pk},
            "production-periods": {"id": deployments.period.pk},
            "label-batches": {"id": deployments.label_batch.pk},
            "alerts": {"id": deployments.alert.pk},
            "monitoring-reports": {"id": deployments.report.pk},
            "reviews": {"id": deployments.review.pk},
            "exceptions": {"id": exception.pk},
        },
    }


def _multipart(**fields) -> dict:
    """A multipart body as a browser sends it (files with their names)."""
    body = encode_multipart(BOUNDARY, fields)
    return {"body": body, "media_type": "multipart/form-data", "headers": MULTIPART}


def _written_requests(api_world: dict) -> list[tuple[str, str, dict]]:
    """(caller, operation, case fields): writes that succeed, which generated data seldom
    reaches, and the answers about jobs that have not run."""
    a, queued = api_world["a"], api_world["queued"]
    project, slug = {"project_slug": a.project.slug}, {"slug": a.project.slug}
    d = api_world["deployments"]
    live, ready, draft = ({"id": x.pk} for x in (d.live, d.ready, d.draft))
    now = timezone.now().isoformat()
    slower = plan_content(kind="canary", steps=[{**s, "window_minutes": 2} for s in QUICK_STEPS])
    membership = {"id": a.memberships[Role.VIEWER].pk}
    new_version = SimpleUploadedFile("loans-v2.csv", sample_csv(seed=7))
    predictions = SimpleUploadedFile("predictions.csv", predictions_csv(sample_frame(), seed=2))
    new_project = {"team": a.team.slug, "slug": "fresh", "name": "Fresh"}
    return [
        # First, while the live rollout's window holds the healthy metrics just pushed.
        (
            "engineer",
            "POST /api/v1/deployments/{id}/promote/",
            {"path_parameters": live, "body": {"step": 1, "reason": "Healthy."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/analysis/",
            {"path_parameters": live, "body": {"step": "1"}},
        ),
        (
            "engineer",
            "POST /api/v1/projects/{project_slug}/deployments/",
            {"path_parameters": project, "body": {"model_version": a.model.pk}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/plans/",
            {"path_parameters": draft, "body": {"content": slower, "note": "Slower."}},
        ),
        (
            "person",
            "POST /api/v1/deployment-plans/{id}/signoffs/",
            {
                "path_parameters": {"id": d.draft_plan.pk},
                "body": {"role": "business_owner", "decision": "approve"},
            },
        ),
        (
            "person",
            "POST /api/v1/plan-signoffs/{id}/revoke/",
            {"path_parameters": {"id": d.signoff.pk}, "body": {"reason": "Too early."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/rollouts/",
            {"path_parameters": ready, "body": {"reason": "Go."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/rollback/",
            {"path_parameters": live, "body": {"reason": "Errors went up."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/abort/",
            {"path_parameters": live, "body": {"reason": "Stopped."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/metrics/",
            {
                "path_parameters": live,
                "body": {
                    "idempotency_key": "conformance",
                    "points": [{"name": "latency_ms", "value": 41.5, "timestamp": now}],
                },
            },
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/alertmanager/",
            {
                "path_parameters": live,
                "body": {
                    "version": "4",
                    "status": "firing",
                    "alerts": [{"status": "firing", "labels": {"alertname": "Slow"}}],
                },
            },
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/alert-webhooks/",
            {"path_parameters": live, "body": {"url": "https://1.1.1.1/stagegate"}},
        ),
        (
            "engineer",
            "POST /api/v1/alerts/{id}/acknowledge/",
            {"path_parameters": {"id": d.alert.pk}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/drift-checks/",
            {
                "path_parameters": live,
                "body": {"reference": a.version.pk, "current": d.production.pk},
            },
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/monitoring-reports/",
            {
                "path_parameters": live,
                "body": {
                    "period_start": (timezone.now() - timedelta(hours=2)).isoformat(),
                    "period_end": timezone.now().isoformat(),
                },
            },
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/production-periods/",
            {
                "path_parameters": live,
                "body": {
                    "dataset_version": d.next_production.pk,
                    **{key: moment.isoformat() for key, moment in NEXT_PERIOD.items()},
                },
            },
        ),
        # The world's project moves into monitoring first (prepared below), so it lands.
        (
            "engineer",
            "POST /api/v1/deployments/{id}/reviews/",
            {"path_parameters": live, "body": {"outcome": "actions", "notes": "Pool resized."}},
        ),
        (
            "engineer",
            "POST /api/v1/deployments/{id}/flagger/{hook}/",
            {
                "path_parameters": {**live, "hook": "confirm-rollout"},
                "body": {"name": "scorer", "namespace": "credit", "checksum": "5d8f7c"},
            },
        ),
        (
            "engineer",
            "POST /api/v1/audits/{id}/review-requests/",
            {"path_parameters": {"id": api_world["undecided"]}, "body": {"note": "Region first."}},
        ),
        ("owner", "POST /api/v1/projects/", {"body": new_project}),
        (
            "person",
            "POST /api/v1/projects/{project_slug}/shares/",
            {"path_parameters": project, "body": {"team": "b-team", "role": Role.VIEWER}},
        ),
        ("person", "DELETE /api/v1/shares/{id}/", {"path_parameters": {"id": a.share.pk}}),
        (
            "person",
            "POST /api/v1/teams/{team_slug}/memberships/",
            {
                "path_parameters": {"team_slug": a.team.slug},
                "body": {"username": "b_viewer", "role": Role.VIEWER},
            },
        ),
        (
            "person",
            "PATCH /api/v1/memberships/{id}/",
            {"path_parameters": membership, "body": {"role": Role.AUDITOR}},
        ),
        ("person", "DELETE /api/v1/memberships/{id}/", {"path_parameters": membership}),
        (
            "engineer",
            "POST /api/v1/projects/{project_slug}/criteria/",
            {"path_parameters": project, "body": {"criteria": WORLD_CRITERIA[:2]}},
        ),
        (
            "person",
            "POST /api/v1/signoffs/{id}/revoke/",
            {"path_parameters": {"id": a.signoff.pk}, "body": {"reason": "Figures changed."}},
        ),
        (
            "engineer",
            "POST /api/v1/projects/{project_slug}/audit-configs/",
            {"path_parameters": project, "body": {"sensitive_features": ["sex", "region"]}},
        ),
        (
            "auditor",
            "POST /api/v1/audits/{id}/reviews/",
            {
                "path_parameters": {"id": a.audit.pk},
                "body": {"decision": "request_changes", "rationale": "Show the regions."},
            },
        ),
        (
            "engineer",
            "POST /api/v1/projects/{project_slug}/risks/",
            {
                "path_parameters": project,
                "body": {"title": "Drift", "category": "leakage", "likelihood": 3, "impact": 2},
            },
        ),
        (
            "owner",
            "POST /api/v1/projects/{project_slug}/measurements/",
            {
                "path_parameters": project,
                "body": {"metric": "manual_review_rate", "value": 0.2, "evidence": "Case tool."},
            },
        ),
        # The project is in deployment already (its rollout is under way); retiring needs
        # no gate.
        (
            "owner",
            "POST /api/v1/projects/{slug}/transition/",
            {"path_parameters": slug, "body": {"to": "retired", "reason": "Replaced."}},
        ),
        (
            "engineer",
            "GET /api/v1/projects/{slug}/gates/",
            {"path_parameters": slug, "query": {"to": "monitoring", "strict": True}},
        ),
        (
            "engineer",
            "POST /api/v1/datasets/{id}/versions/",
            {
                "path_parameters": {"id": a.dataset.pk},
                **_multipart(file=new_version, parents=[a.version.pk]),
            },
        ),
        (
            "engineer",
            "POST /api/v1/models/{id}/evaluations/",
            {
                "path_parameters": {"id": a.model.pk},
                **_multipart(
                    file=predictions,
                    dataset_version=a.version.pk,
                    y_true="label",
                    y_pred="prediction",
                ),
            },
        ),
        (
            "engineer",
            "GET /api/v1/audits/{id}/mitigation/",
            {"path_parameters": {"id": api_world["mitigated"]}},
        ),
        # Asked for again: the same options (200).
        (
            "engineer",
            "POST /api/v1/audits/{id}/mitigation/",
            {"path_parameters": {"id": api_world["mitigated"]}},
        ),
        ("engineer", "GET /api/v1/baseline-runs/{id}/", {"path_parameters": {"id": queued["run"]}}),
        ("engineer", "GET /api/v1/audits/{id}/", {"path_parameters": {"id": queued["audit"]}}),
        ("engineer", "GET /api/v1/audits/{id}/csv/", {"path_parameters": {"id": queued["audit"]}}),
        (
            "engineer",
            "GET /api/v1/event-exports/{id}/download/",
            {"path_parameters": {"id": queued["export"]}},
        ),
    ]


def _sign(case, caller: dict[str, dict]) -> None:
    """Put the caller's credentials into ``case`` as schemathesis's own auth providers do,
    so that ``ignored_auth`` knows them for valid and can send the same request without
    them and with invalid ones."""
    if not caller:
        return
    for container, values in (
        ("headers", caller.get("headers", {})),
        ("cookies", caller.get("cookies", {})),
    ):
        generated = getattr(case, container)
        setattr(
            case, container, {**(generated if isinstance(generated, Mapping) else {}), **values}
        )
    case._has_explicit_auth = True


class Conformance:
    """Sends cases, each in a savepoint rolled back afterwards, and keeps what the checks
    find and which statuses came back."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.statuses: dict[str, set[int]] = {}
        # (operation, kind of credential) whose refusal without and with bad credentials
        # ignored_auth has confirmed: as in schemathesis's own runner, once is enough.
        self.auth_enforced: set[tuple[str, str]] = set()

    def check(self, case, caller: dict[str, dict], prepare=None) -> None:
        """Send ``case`` as ``caller``, after ``prepare()`` (in the same savepoint) if given."""
        cache.clear()  # throttle counters: thousands of calls are not an attack here
        with transaction.atomic():
            try:
                if prepare is not None:
                    prepare()
                _sign(case, caller)
                response = case.call()
                label = case.operation.label
                self.statuses.setdefault(label, set()).add(response.status_code)
                probed = (label, "cookie" if caller.get("cookies") else "token")
                checks = CHECKS if probed in self.auth_enforced else [*CHECKS, ignored_auth]
                case.validate_response(response, checks=checks)
                if response.status_code < 300 and caller:
                    self.auth_enforced.add(probed)
            except FailureGroup as group:
                self.failures.extend(group.exceptions)
            except Failure as failure:
                self.failures.append(failure)
            finally:
                transaction.set_rollback(True)

    def explore(self, strategy, callers: list[dict], examples: int) -> None:
        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy, caller=st.sampled_from(callers))
        def send(case, caller: dict[str, dict]) -> None:
            self.check(case, caller)

        # Unsatisfiable: no invalid request exists (nothing in the path, the query or a body).
        with suppress(Unsatisfiable):
            send()

    def report(self) -> str:
        seen = sorted({(f.operation, f.title, f.message.split("\n")[0]) for f in self.failures})
        return "\n".join(" | ".join(parts) for parts in seen)


# Every operation with generated requests: CI's PostgreSQL stage runs it (make test-slow here),
# in two halves so that its two processes share the work.
@pytest.mark.slow
@pytest.mark.parametrize("half", [0, 1])
def test_it_answers_as_the_schema_declares(api_world, wsgi_app, half):
    schema = schemathesis.openapi.from_dict(schema_document())
    schema.app = wsgi_app
    callers = list(api_world["callers"].values())
    run = Conformance()
    every = [result.ok() for result in schema.get_all_operations()]
    operations = every[half::2]
    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        if names:
            ids = api_world["ids"][operation.path.removeprefix("/api/v1/").split("/")[0]]
            on_the_world = operation.as_strategy(path_parameters={n: ids[n] for n in names})
            run.explore(on_the_world, callers, ON_THE_WORLD)
            run.explore(operation.as_strategy(), callers, ON_GENERATED_IDS)
        else:
            run.explore(operation.as_strategy(), callers, ON_THE_WORLD + ON_GENERATED_IDS)
        run.explore(operation.as_strategy(GenerationMode.NEGATIVE), callers, INVALID)
    healthy_window(api_world["deployments"].live, api_world["a"].people[Role.ML_ENGINEER])
    # Written requests that need the world in another state, set up in their savepoint.
    prepared = {
        "POST /api/v1/deployments/{id}/reviews/": lambda: in_monitoring(api_world["deployments"])
    }
    for caller, label, fields in _written_requests(api_world):
        method, path = label.split(" ")
        if "body" in fields:
            fields.setdefault("media_type", "application/json")
        case = schema[path][method].Case(**fields)
        run.check(case, api_world["callers"][caller], prepare=prepared.get(label))

    assert not run.failures, f"{len(run.failures)} answers off the schema:\n{run.report()}"
    # Every operation was called, and nearly every one also succeeded: the answers checked
    # are not only refusals.
    assert len(every) >= 110
    labels = [operation.label for operation in operations]
    assert set(labels) <= set(run.statuses)
    unsuccessful = [label for label in labels if min(run.statuses[label]) >= 300]
    assert len(unsuccessful) <= 3, unsuccessful


def test_it_validates_the_schema():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
