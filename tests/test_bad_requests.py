"""Requests that are malformed, oversized or unstorable answer 4xx, never 500.

Each runs on SQLite and PostgreSQL alike: PostgreSQL cannot store a NUL character in
text or jsonb, and neither database nor the audit trail's hashing takes a lone surrogate.
"""

from __future__ import annotations

import json

import pytest
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import Client
from rest_framework import serializers

from audits import forms as audit_forms
from audits.api import fairness as audit_fairness_api
from audits.api import monitoring_reports as monitoring_reports_api
from audits.api import packs as audit_packs_api
from audits.api import review_workflow as review_workflow_api
from audits.api import views as audit_api
from audits.models import AuditReview, RiskItem
from deployments import forms as deployment_forms
from deployments.api import production as production_api
from deployments.api import release_tools as release_tools_api
from deployments.api import reviews as reviews_api
from deployments.api import serializers as deployments_api
from portal.inputs import JSON_MAX_BYTES, LONG_TEXT_MAX, validate_json_value
from projects import forms as project_forms
from projects.api import criteria as criteria_api
from projects.api import datasets as datasets_api
from projects.api import evaluations as evaluations_api
from projects.api import serializers as projects_api
from projects.api import signoffs as signoffs_api
from projects.api import views as project_views
from projects.models import (
    BusinessMeasurement,
    CriteriaVersion,
    Dataset,
    Event,
    ModelVersion,
    Project,
    Role,
    SignOff,
)
from projects.selectors import events_verify
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LONG = "x" * (LONG_TEXT_MAX + 1)
#: One more byte than a request body may hold in memory.
OVER = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1


def _as(api, user):
    api.force_authenticate(user)
    return api


def _login(client, user) -> Client:
    # Login protection (axes) checks every authentication against a request.
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
    return client


def _post_json(api, url: str, text: str, method: str = "post"):
    """Send ``text`` as it is: JSON escapes such as \\ud800 reach the server unchanged."""
    return getattr(api, method)(url, text, content_type="application/json")


def _trail_intact() -> bool:
    return all(report.ok for report in events_verify().values())


@pytest.fixture
def engineer(api, world):
    return _as(api, world["a"].people[Role.ML_ENGINEER])


# --- Bodies over the size limit ----------------------------------------------------


def test_it_answers_413_for_a_json_body_over_the_limit(engineer, world):
    body = json.dumps({"name": "big", "description": "x" * OVER})
    response = _post_json(engineer, "/api/v1/projects/a-project/datasets/", body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert "2.5 MiB" in response.json()["detail"]
    assert not Dataset.objects.filter(name="big").exists()


def test_it_answers_413_for_multipart_text_fields_over_the_limit(engineer, world):
    response = engineer.post(
        f"/api/v1/datasets/{world['a'].dataset.pk}/versions/",
        {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"), "transformation": "x" * OVER},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_it_answers_413_for_a_form_body_over_the_limit_on_the_api(engineer, world):
    response = engineer.post(
        "/api/v1/projects/a-project/datasets/",
        "name=big&description=" + "x" * OVER,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_it_answers_400_for_a_form_with_too_many_fields(engineer, world):
    fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    response = engineer.post(
        "/api/v1/projects/a-project/datasets/",
        "&".join(f"f{i}=x" for i in range(fields)),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_fields"


def test_it_shows_a_413_page_for_a_web_form_over_the_limit(client, world):
    _login(client, world["a"].people[Role.ML_ENGINEER])
    response = client.post(
        "/projects/a-project/edit/",
        {"name": "Big", "task_type": "classification", "description": "x" * OVER},
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "too large" in response.content.decode()
    assert Project.objects.get(slug="a-project").name != "Big"


# --- Malformed JSON ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 100_000, "[" * 5000 + "]" * 5000])
def test_it_answers_400_for_json_nested_too_deeply(engineer, world, text):
    response = _post_json(engineer, "/api/v1/projects/a-project/datasets/", text)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "deep" in response.json()["detail"]


def test_it_refuses_parameters_nested_too_deeply(engineer, world):
    parameters = "{}"
    for _ in range(200):
        parameters = '{"a": ' + parameters + "}"
    text = '{"name": "deep", "version": "1", "parameters": ' + parameters + "}"
    response = _post_json(engineer, "/api/v1/projects/a-project/models/", text)
    assert response.status_code == 400
    assert "deeper than" in response.json()["detail"]
    assert not ModelVersion.objects.filter(name="deep").exists()


@pytest.mark.parametrize(
    "parameters", ["[" * 100_000, "1" * 5000, '{"a": NaN}', '{"a": "\\u0000"}', '{"a": "\\ud800"}']
)
def test_it_refuses_model_parameters_it_cannot_store_on_the_page(client, world, parameters):
    _login(client, world["a"].people[Role.ML_ENGINEER])
    response = client.post(
        "/projects/a-project/models/", {"name": "odd", "version": "9", "parameters": parameters}
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not ModelVersion.objects.filter(name="odd").exists()


# --- Lone surrogates and NUL characters ----------------------------------------------------

#: (path, JSON text with an escape the database or the trail's hashing cannot take)
UNSTORABLE = [
    ("/api/v1/projects/a-project/datasets/", '{"name": "odd", "metadata": {"k": "%s"}}'),
    ("/api/v1/projects/a-project/datasets/", '{"name": "odd", "metadata": {"%s": "v"}}'),
    (
        "/api/v1/projects/a-project/models/",
        '{"name": "odd", "version": "1", "parameters": {"a": ["%s"]}}',
    ),
    (
        "/api/v1/projects/a-project/criteria/",
        '{"criteria": [{"metric": "f1", "comparator": ">=", "target": 0.7, '
        '"rationale": "odd %s"}]}',
    ),
    (
        "/api/v1/projects/a-project/audit-configs/",
        '{"thresholds": {"min_recall": {"limit": 0.5, "rationale": "odd %s"}}}',
    ),
]


@pytest.mark.parametrize(("path", "template"), UNSTORABLE)
def test_it_refuses_a_lone_surrogate_as_invalid_unicode(engineer, world, path, template):
    before = Event.objects.count()
    response = _post_json(engineer, path, template % "\\ud800")
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["detail"]
    assert Event.objects.count() == before
    assert _trail_intact()


@pytest.mark.parametrize(("path", "template"), UNSTORABLE)
def test_it_refuses_a_nul_character(engineer, world, path, template):
    before = Event.objects.count()
    response = _post_json(engineer, path, template % "a\\u0000b")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert Event.objects.count() == before


def test_it_answers_400_for_a_bad_key_above_a_bad_value(engineer, world):
    # The answer names where the problem is; it must not quote the key it cannot encode.
    text = '{"name": "odd", "metadata": {"\\ud800": "a\\u0000b"}}'
    response = _post_json(engineer, "/api/v1/projects/a-project/datasets/", text)
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["detail"]


def test_it_refuses_a_lone_surrogate_in_an_edit(engineer, world):
    response = _post_json(
        engineer,
        f"/api/v1/datasets/{world['a'].dataset.pk}/",
        '{"metadata": {"k": "\\udfff"}}',
        method="patch",
    )
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["detail"]
    assert _trail_intact()


def test_it_refuses_a_nul_character_in_multipart_metadata(engineer, world):
    response = engineer.post(
        "/api/v1/projects/a-project/datasets/",
        {"name": "odd", "metadata.k": "a\x00b"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not Dataset.objects.filter(name="odd").exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"metadata": "region = E\x00U", "sensitive_columns": "sex"},
        {"sensitive_columns": "s\x00ex"},
    ],
    ids=["metadata", "column-name"],
)
def test_it_refuses_a_nul_character_in_the_dataset_form(client, world, fields):
    _login(client, world["a"].people[Role.ML_ENGINEER])
    response = client.post(
        "/projects/a-project/datasets/new/",
        {
            "name": "odd",
            "purpose": "training",
            "status": "needed",
            "labeling_strategy": "programmatic",
            **fields,
        },
    )
    assert response.status_code == 200
    assert "NUL" in response.content.decode()
    assert not Dataset.objects.filter(name="odd").exists()


def _criteria_editor_post(client, world, **fields):
    """One criterion posted from the web editor by the ML engineer, with ``fields`` over it."""
    _login(client, world["a"].people[Role.ML_ENGINEER])
    row = {
        "rows": "1",
        "metric-0": "f1",
        "comparator-0": ">=",
        "target-0": "0.7",
        "rationale-0": "Alerts worth reading.",
    }
    return client.post("/projects/a-project/criteria/edit/", {**row, **fields})


def test_it_refuses_a_nul_character_in_the_criteria_editor(client, world):
    before = CriteriaVersion.objects.count()
    response = _criteria_editor_post(client, world, **{"rationale-0": "odd \x00"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    assert CriteriaVersion.objects.count() == before


def test_it_refuses_a_nul_character_in_a_sign_off_on_the_page(client, world):
    w = world["a"]
    w.signoff.delete()  # the owner signs again
    _login(client, w.people[Role.BUSINESS_OWNER])
    response = client.post(
        f"/criteria-versions/{w.criteria.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve", "comment": "fine \x00"},
    )
    assert response.status_code == 400
    assert not SignOff.objects.filter(comment__startswith="fine").exists()


# --- URLs that match nothing, and errors outside the API's views ------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/audits/null,null/", "/api/v1/nothing/", "/api/v2/", "/api/v1/projects/a/b/c"]
)
def test_it_answers_json_404_for_an_unknown_api_url(engineer, world, path):
    response = engineer.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_it_answers_json_404_for_an_unknown_api_url_without_credentials(api):
    response = api.get("/api/v1/audits/null,null/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_keeps_the_html_404_for_an_unknown_page(client, world):
    _login(client, world["a"].people[Role.VIEWER])
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Not found" in response.content.decode()


def test_it_answers_json_500_for_an_error_outside_the_api_views(world, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(project_views.ProjectViewSet, "dispatch", boom)
    client = Client(raise_request_exception=False)
    _login(client, world["a"].people[Role.VIEWER])
    response = client.get("/api/v1/projects/")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "secret" not in response.content.decode()


def test_it_answers_json_403_for_a_refusal_outside_the_api_views(world, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionDenied

    monkeypatch.setattr(project_views.ProjectViewSet, "dispatch", refuse)
    response = _login(Client(), world["a"].people[Role.VIEWER]).get("/api/v1/projects/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_it_answers_json_400_for_a_bad_host_on_the_api(api):
    response = api.get("/api/v1/projects/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


# --- Sizes of free text and JSON -------------------------------------------------------------


def _cases():
    """(who, method, path, body, the field named, the limit named)"""
    owner, engineer, auditor = Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR
    long_text = f"no more than {LONG_TEXT_MAX} characters"
    kb = f"at most {JSON_MAX_BYTES // 1024} KB"
    project = {"team": "a-team", "slug": "long", "name": "Long"}
    datasets = "/api/v1/projects/a-project/datasets/"
    dataset = {"name": "long"}
    risks = "/api/v1/projects/a-project/risks/"
    risk = {"title": "Long", "category": "leakage", "likelihood": 2, "impact": 2}
    configs = "/api/v1/projects/a-project/audit-configs/"
    big_json = {"k": "x" * JSON_MAX_BYTES}
    many_keys = {f"k{i}": "x" * 1000 for i in range(70)}
    return [
        (
            owner,
            "post",
            "/api/v1/projects/",
            {**project, "description": LONG},
            "description",
            long_text,
        ),
        (
            engineer,
            "patch",
            "/api/v1/projects/a-project/",
            {"description": LONG},
            "description",
            long_text,
        ),
        (engineer, "post", datasets, {**dataset, "description": LONG}, "description", long_text),
        (
            engineer,
            "post",
            datasets,
            {**dataset, "labeling_notes": LONG},
            "labeling_notes",
            long_text,
        ),
        (engineer, "post", datasets, {**dataset, "metadata": big_json}, "metadata", kb),
        (engineer, "post", datasets, {**dataset, "metadata": many_keys}, "metadata", kb),
        (
            engineer,
            "post",
            datasets,
            {**dataset, "metadata": {"k": LONG}},
            "metadata",
            f"at most {LONG_TEXT_MAX:,} characters",
        ),
        (
            engineer,
            "post",
            "/api/v1/projects/a-project/models/",
            {"name": "long", "version": "1", "parameters": big_json},
            "parameters",
            kb,
        ),
        (
            engineer,
            "post",
            "/api/v1/projects/a-project/baselines/",
            {
                "kind": "previous_system",
                "name": "Long",
                "metric": "f1",
                "value": 0.5,
                "evidence": LONG,
            },
            "evidence",
            long_text,
        ),
        *[
            (engineer, "post", risks, {**risk, field: LONG}, field, long_text)
            for field in ("description", "mitigation", "rationale")
        ],
        (
            engineer,
            "post",
            configs,
            {"thresholds": {"min_recall": {"limit": 0.5, "rationale": LONG}}},
            "thresholds",
            f"at most {LONG_TEXT_MAX:,} characters",
        ),
        (
            engineer,
            "post",
            configs,
            {"sensitive_features": ["x" * 201]},
            "sensitive_features",
            "no more than 200 characters",
        ),
        (
            auditor,
            "post",
            "/api/v1/audits/{audit}/reviews/",
            {"decision": "approve", "rationale": LONG},
            "rationale",
            long_text,
        ),
    ]


@pytest.mark.parametrize(("role", "method", "path", "body", "field", "limit"), _cases())
def test_it_refuses_text_over_its_limit_naming_field_and_limit(
    api, world, role, method, path, body, field, limit
):
    _as(api, world["a"].people[role])
    path = path.format(audit=world["a"].audit.pk)
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 400, response.json()
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}:")
    assert limit in detail
    assert not RiskItem.objects.filter(title="Long").exists()
    assert not Project.objects.filter(slug="long").exists()


def test_it_refuses_a_two_megabyte_description(api, world):
    _as(api, world["a"].people[Role.BUSINESS_OWNER])
    body = {"team": "a-team", "slug": "huge", "name": "Huge", "description": "x" * 2_000_000}
    response = api.post("/api/v1/projects/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"description: Ensure this field has no more than {LONG_TEXT_MAX} characters."
    )


def test_it_accepts_text_at_its_limit(api, world):
    _as(api, world["a"].people[Role.BUSINESS_OWNER])
    body = {"team": "a-team", "slug": "full", "name": "Full", "description": "x" * LONG_TEXT_MAX}
    assert api.post("/api/v1/projects/", body, format="json").status_code == 201


def test_it_refuses_multipart_text_over_its_limit(engineer, world):
    for field in ("transformation", "command"):
        response = engineer.post(
            f"/api/v1/datasets/{world['a'].dataset.pk}/versions/",
            {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"), field: LONG},
            format="multipart",
        )
        assert response.status_code == 400
        assert response.json()["detail"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/projects/a-project/edit/", {"name": "Long", "task_type": "classification"}),
        ("/projects/a-project/risks/", {"title": "Long", "category": "leakage"}),
    ],
)
def test_it_refuses_text_over_its_limit_in_web_forms(client, world, path, data):
    _login(client, world["a"].people[Role.ML_ENGINEER])
    data = {**data, "description": LONG, "likelihood": 2, "impact": 2, "status": "open"}
    response = client.post(path, data)
    assert response.status_code == 200
    assert f"at most {LONG_TEXT_MAX} characters" in response.content.decode()
    assert not Project.objects.filter(name="Long").exists()
    assert not RiskItem.objects.filter(title="Long").exists()


def test_it_refuses_a_review_rationale_over_its_limit_on_the_page(client, world):
    w = world["a"]
    _login(client, w.people[Role.AUDITOR])
    before = AuditReview.objects.count()
    client.post(f"/audits/{w.audit.pk}/reviews/", {"decision": "approve", "rationale": LONG})
    assert AuditReview.objects.count() == before


def test_it_refuses_measurement_text_over_its_limit_on_the_page(client, world):
    _login(client, world["a"].people[Role.BUSINESS_OWNER])
    before = BusinessMeasurement.objects.count()
    for data in (
        {"metric": "manual_review_rate", "value": "0.2", "evidence": LONG},
        {"metric": "manual_review_rate", "value": "0.2", "evidence": "Tool.", "period": LONG},
    ):
        response = client.post("/projects/a-project/measurements/", data, follow=True)
        assert "characters" in response.content.decode()
    assert BusinessMeasurement.objects.count() == before


def test_it_refuses_a_long_note_in_the_criteria_editor(client, world):
    before = CriteriaVersion.objects.count()
    response = _criteria_editor_post(client, world, note="x" * 501)
    assert response.status_code == 400
    assert CriteriaVersion.objects.count() == before


# --- Every field that takes text has a limit ---------------------------------------------

API_MODULES = [
    projects_api,
    project_views,
    datasets_api,
    evaluations_api,
    criteria_api,
    signoffs_api,
    audit_api,
    audit_fairness_api,
    audit_packs_api,
    review_workflow_api,
    monitoring_reports_api,
    deployments_api,
    production_api,
    release_tools_api,
    reviews_api,
]


def _unbounded(field: serializers.Field, name: str) -> list[str]:
    if field.read_only:
        return []
    if isinstance(field, serializers.ListField):
        return _unbounded(field.child, f"{name}[]")
    if isinstance(field, serializers.DictField | serializers.JSONField):
        return [] if validate_json_value in field.validators else [name]
    if isinstance(field, serializers.CharField):
        return [] if field.max_length is not None else [name]
    return []


def _request_serializers() -> set[type[serializers.Serializer]]:
    """The serializers the API reads request bodies with, found in its OpenAPI schema
    (``...Request`` components), so a new endpoint cannot slip past the check below."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    names = {
        name.removeprefix("Patched").removesuffix("Request")
        for name in schema["components"]["schemas"]
        if name.endswith("Request")
    }
    classes = {
        cls.__name__.removesuffix("Serializer"): cls
        for module in API_MODULES
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, serializers.Serializer)
        and cls.__module__ == module.__name__
    }
    assert names <= set(classes), f"add the modules of {names - set(classes)} to API_MODULES"
    return {classes[name] for name in names}


def test_it_bounds_every_text_field_the_api_reads():
    found = _request_serializers()
    assert len(found) > 15
    unbounded = [
        f"{cls.__name__}.{name}"
        for cls in found
        for field_name, field in cls().fields.items()
        for name in _unbounded(field, field_name)
    ]
    assert unbounded == []


def test_it_bounds_every_text_field_of_the_web_forms():
    unbounded = []
    for module in (project_forms, audit_forms, deployment_forms):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, forms.Form)):
                continue
            for name, field in cls().fields.items():
                if validate_json_value in field.validators:
                    continue
                if isinstance(field, forms.CharField) and field.max_length is None:
                    unbounded.append(f"{cls.__name__}.{name}")
    assert unbounded == []
