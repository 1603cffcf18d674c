"""Success criteria through HTTP: versions, measurement against the candidate, history."""

from __future__ import annotations

import pytest

from projects import selectors
from projects.models import CriteriaVersion, Event, Role
from projects.services import evaluations


def _as(api, user):
    api.force_authenticate(user)
    return api


def _criterion(**fields) -> dict:
    base = {
        "metric": "accuracy",
        "comparator": ">=",
        "target": 0.5,
        "rationale": "Better than a coin on this balanced sample.",
    }
    return {**base, **fields}


def test_an_engineer_saves_a_version_and_sees_each_criterion_measured(api, world):
    w = world["a"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    evaluations.baseline_record(
        actor=w.people[Role.ML_ENGINEER],
        project=w.project,
        kind="human_level",
        name="Analysts",
        metric="accuracy",
        value=0.6,
    )
    body = {
        "criteria": [
            _criterion(),
            _criterion(source="baseline", target=0.01, rationale="Beat the analysts."),
            _criterion(
                metric="demographic_parity_difference",
                comparator="<=",
                target=0.5,
                rationale="Approval gap.",
            ),
            _criterion(
                metric="p95_latency_ms", comparator="<=", target=250, rationale="Checkout page."
            ),
        ],
        "note": "First agreed set",
    }
    response = engineer.post(f"/api/v1/projects/{w.project.slug}/criteria/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response["Location"] == response.json()["url"]
    created = response.json()
    assert created["version"] == 2  # the world has its first version
    rows = {(r["criterion"]["metric"], r["criterion"]["source"]): r for r in created["assessment"]}
    accuracy = w.evaluation.metrics["accuracy"]
    measured = rows[("accuracy", "evaluation")]["outcome"]
    assert measured["value"] == accuracy
    assert measured["status"] == ("met" if accuracy >= 0.5 else "not_met")
    assert rows[("accuracy", "evaluation")]["evidence_url"] == f"/evaluations/{w.evaluation.pk}/"
    relative = rows[("accuracy", "baseline")]
    assert relative["baseline"] == "Analysts"
    assert relative["outcome"]["status"] == ("met" if accuracy >= 0.61 else "not_met")
    gaps = [
        f["summary"]["demographic_parity_difference"]["value"] for f in w.audit.result["features"]
    ]
    assert rows[("demographic_parity_difference", "audit")]["outcome"]["value"] == max(gaps)
    latency = rows[("p95_latency_ms", "deployment")]["outcome"]
    assert latency["status"] == "not_measured" and latency["value"] is None
    event = Event.objects.filter(verb="criteria.saved").latest("seq")
    assert event.payload["sha256"] == created["content_sha256"]
    assert {c["kind"] for c in event.payload["changes"]} >= {"added", "removed"}

    again = engineer.post(f"/api/v1/projects/{w.project.slug}/criteria/", body, format="json")
    assert again.status_code == 409 and again.json()["code"] == "unchanged"


def test_a_new_version_shows_what_changed(api, world):
    w = world["a"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    url = f"/api/v1/projects/{w.project.slug}/criteria/"
    engineer.post(url, {"criteria": [_criterion()]}, format="json")
    response = engineer.post(url, {"criteria": [_criterion(target=0.7)]}, format="json")
    changes = response.json()["changes"]
    assert changes == [
        {
            "kind": "changed",
            "metric": "accuracy",
            "source": "evaluation",
            "fields": {"target": [0.5, 0.7]},
        }
    ]
    versions = engineer.get(url).json()["results"]
    assert [v["version"] for v in versions] == [3, 2, 1]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"criteria": [_criterion(target="high")]}, "not a number"),
        ({"criteria": [_criterion(comparator="<=")]}, "better when higher"),
        ({"criteria": [_criterion(source="crystal_ball")]}, "crystal_ball"),
        ({"criteria": [_criterion(target=80)]}, "0.8"),
        ({"criteria": []}, "at least one"),
        ({"template": "moonshot"}, "Unknown template"),
        ({"template": "credit_scoring", "criteria": [_criterion()]}, "either criteria or"),
    ],
)
def test_bad_criteria_are_refused_with_the_reason(api, world, body, fragment):
    w = world["a"]
    before = CriteriaVersion.objects.filter(project=w.project).count()
    response = _as(api, w.people[Role.BUSINESS_OWNER]).post(
        f"/api/v1/projects/{w.project.slug}/criteria/", body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert fragment in response.json()["detail"]
    assert CriteriaVersion.objects.filter(project=w.project).count() == before


def test_the_page_shows_the_current_version_and_saves_a_template(client, world):
    w = world["a"]
    client.force_login(w.people[Role.BUSINESS_OWNER])
    page = client.get(f"/projects/{w.project.slug}/criteria/").content.decode()
    assert "Success criteria v1" in page
    assert "criterion-" in page and w.criteria.content_sha256 in page
    response = client.post(f"/projects/{w.project.slug}/criteria/", {"template": "regression"})
    assert response.status_code == 302
    page = client.get(f"/projects/{w.project.slug}/criteria/").content.decode()
    assert "Success criteria v2" in page and "What changed" in page
    old = client.get(f"/criteria-versions/{w.criteria.pk}/").content.decode()
    assert "superseded by v2" in old


def test_versions_are_never_edited(world):
    version = world["a"].criteria
    version.note = "rewritten"
    with pytest.raises(ValueError, match="cannot be changed"):
        version.save()


def _editor_rows(version, **changes) -> dict:
    """The editor's form as the page fills it from ``version``, with ``changes`` applied."""
    form = {"rows": str(len(version.criteria) + 1), "note": "After the pilot review."}
    for i, criterion in enumerate(version.criteria):
        for field in ("metric", "category", "source", "comparator", "unit", "rationale"):
            form[f"{field}-{i}"] = criterion[field] or ""
        form[f"target-{i}"] = f"{criterion['target']:g}"
    form.update(changes)
    return form


def test_the_editor_saves_the_edited_set_as_a_new_version(client, world):
    w = world["a"]
    client.force_login(w.people[Role.ML_ENGINEER])
    page = client.get(f"/projects/{w.project.slug}/criteria/edit/").content.decode()
    assert 'name="metric-0" value="f1"' in page and "Saving makes version 2" in page
    form = _editor_rows(
        w.criteria,
        **{
            "target-0": "0.75",
            "remove-3": "on",
            "metric-5": "recall",
            "target-5": "0.7",
            "rationale-5": "Catch most defaults.",
        },
    )
    response = client.post(f"/projects/{w.project.slug}/criteria/edit/", form)
    assert response.status_code == 302
    version = CriteriaVersion.objects.get(project=w.project, version=2)
    assert response["Location"] == version.get_absolute_url()
    assert [c["metric"] for c in version.criteria] == [
        "f1",
        "f1",
        "demographic_parity_difference",
        "manual_review_rate",
        "recall",
    ]
    assert version.criteria[0]["target"] == 0.75 and version.note == "After the pilot review."
    changes = {(c.kind, c.metric) for c in selectors.criteria_changes(version)}
    assert changes == {("changed", "f1"), ("removed", "error_rate"), ("added", "recall")}


@pytest.mark.parametrize(
    ("changes", "fragment", "kept"),
    [
        ({"target-0": "high"}, "not a number", 'name="target-0" value="high"'),
        ({"comparator-0": "<="}, "better when higher", 'value="&lt;=" selected'),
        ({"source-0": "audit"}, "not from audit", 'value="audit" selected'),
        ({"rationale-0": ""}, "write why", 'name="rationale-0" rows="2"></textarea>'),
    ],
)
def test_the_editor_refuses_bad_rows_and_keeps_what_was_typed(
    client, world, changes, fragment, kept
):
    w = world["a"]
    client.force_login(w.people[Role.BUSINESS_OWNER])
    response = client.post(
        f"/projects/{w.project.slug}/criteria/edit/", _editor_rows(w.criteria, **changes)
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert fragment in page and kept in page
    assert CriteriaVersion.objects.filter(project=w.project).count() == 1


def test_the_page_names_a_business_figures_attachment_by_its_file_name(client, world):
    w = world["a"]
    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/projects/{w.project.slug}/criteria/").content.decode()
    link = f'href="/measurements/{w.measurement.pk}/attachment/">pilot.csv</a>'
    assert link in page
