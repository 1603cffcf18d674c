"""Predictions without y_true: the true value is the dataset version's label column, paired
by position or by row id, in the evaluation, its audits and the performance reference."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from deployments.services.performance import reference_data
from projects.models import Dataset, Evaluation, Event, Role
from projects.services import evaluations
from tests.data import predictions_csv, sample_frame, sklearn_binary_metrics
from tests.factories import make_audit, make_dataset, make_deployment, make_evaluation, make_version


@pytest.fixture
def engineer_api(api, world):
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    return api


def _frame(*, shuffled: bool = False) -> pd.DataFrame:
    """The world's predictions, their rows shuffled when asked."""
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    return frame.sample(frac=1, random_state=3) if shuffled else frame


def _predictions(*, shuffled: bool = False, drop_label: bool = True) -> bytes:
    """The world's predictions, without the true value unless asked."""
    frame = _frame(shuffled=shuffled)
    if drop_label:
        frame = frame.drop(columns=["label"])
    return frame.to_csv(index=False).encode()


def _post(api, model, version, content: bytes, **mapping):
    data = {"file": SimpleUploadedFile("p.csv", content), "dataset_version": version.pk}
    data.update({"y_pred": "prediction", "y_score": "score", **mapping})
    return api.post(f"/api/v1/models/{model.pk}/evaluations/", data, format="multipart")


def _evaluate_now(response) -> Evaluation:
    assert response.status_code == 202, response.json()
    evaluations.evaluation_run(evaluation_id=response.json()["id"])
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def _upload(world, content: bytes, **mapping) -> Evaluation:
    w = world["a"]
    mapping = {"y_true": None, **mapping}
    evaluation = make_evaluation(w.model, w.version, w.people[Role.ML_ENGINEER], content, **mapping)
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def _unlabelled_version(world):
    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    dataset = make_dataset(w.project, engineer, "unlabelled", label_column="")
    return make_version(dataset, engineer, sample_frame().to_csv(index=False).encode(), "u.csv")


# --- Metrics -----------------------------------------------------------------------------
def test_it_takes_the_true_value_from_the_dataset_version(engineer_api, world):
    a = world["a"]
    content = _predictions()
    evaluation = _evaluate_now(_post(engineer_api, a.model, a.version, content))
    assert evaluation.mapping == {
        "y_pred": "prediction",
        "y_score": "score",
        "label_column": "defaulted",
        "sensitive": [],
    }
    y = sample_frame()["defaulted"]
    frame = pd.read_csv(io.BytesIO(content))
    p, s = frame["prediction"], frame["score"]
    expected = sklearn_binary_metrics(y, p, s)
    for name, value in expected.items():
        assert evaluation.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    body = engineer_api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert "y_true" not in body["mapping"] and body["mapping"]["label_column"] == "defaulted"
    uploaded = Event.objects.get(verb="evaluation.uploaded", target_id=str(evaluation.pk))
    assert uploaded.payload["mapping"]["label_column"] == "defaulted"


def test_it_pairs_the_version_label_by_row_id_in_any_order(engineer_api, world):
    a = world["a"]
    ordered = _evaluate_now(_post(engineer_api, a.model, a.version, _predictions()))
    shuffled = _evaluate_now(
        _post(
            engineer_api,
            a.model,
            a.version,
            _predictions(shuffled=True),
            row_id="customer_id",
        )
    )
    assert set(shuffled.metrics) == set(ordered.metrics)
    for name, value in ordered.metrics.items():
        assert shuffled.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    # The same file with its truth mapped says the same.
    mapped = _evaluate_now(
        _post(
            engineer_api,
            a.model,
            a.version,
            _predictions(shuffled=True, drop_label=False),
            row_id="customer_id",
            y_true="label",
        )
    )
    for name, value in mapped.metrics.items():
        assert shuffled.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_a_blank_true_value_is_taken_from_the_version_too(engineer_api, world):
    a = world["a"]
    evaluation = _evaluate_now(_post(engineer_api, a.model, a.version, _predictions(), y_true=""))
    assert "y_true" not in evaluation.mapping
    assert evaluation.mapping["label_column"] == "defaulted"


def test_it_keeps_the_label_column_named_at_upload(engineer_api, world):
    a = world["a"]
    evaluation = _evaluate_now(_post(engineer_api, a.model, a.version, _predictions()))
    Dataset.objects.filter(pk=a.dataset.pk).update(label_column="sex")
    evaluation.refresh_from_db()
    assert evaluations.truth_column(evaluation) == "defaulted"


# --- Refusals ------------------------------------------------------------------------------
def _nothing_stored(before: int, events: int) -> None:
    assert Evaluation.objects.count() == before
    assert Event.objects.filter(verb="evaluation.uploaded").count() == events


def test_it_refuses_at_once_when_the_version_has_no_label(engineer_api, world):
    a = world["a"]
    version = _unlabelled_version(world)
    before = Evaluation.objects.count()
    events = Event.objects.filter(verb="evaluation.uploaded").count()
    response = _post(engineer_api, a.model, version, _predictions())
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_mapping",
        "detail": "Name the column that holds y_true: unlabelled has no label column to take "
        "the true value from.",
    }
    _nothing_stored(before, events)
    # A label column the version lacks is no label either.
    Dataset.objects.filter(pk=version.dataset_id).update(label_column="outcome")
    response = _post(engineer_api, a.model, version, _predictions())
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_mapping"
    assert "lacks its dataset's label column 'outcome'" in response.json()["detail"]
    _nothing_stored(before, events)


def test_it_still_needs_the_prediction(engineer_api, world):
    a = world["a"]
    response = _post(engineer_api, a.model, a.version, _predictions(), y_pred="")
    assert response.status_code == 400
    assert "y_pred" in str(response.json())


# --- The form and the pages ----------------------------------------------------------------
def _form_post(client, world, version, content: bytes):
    a = world["a"]
    client.force_login(a.people[Role.ML_ENGINEER])
    data = {
        "file": SimpleUploadedFile("p.csv", content),
        "dataset_version": version.pk,
        "y_true": "",
        "y_pred": "prediction",
        "y_score": "score",
        "row_id": "",
        "sensitive": "",
    }
    return client.post(reverse("evaluation-create", args=[a.model.pk]), data, follow=True)


def test_the_form_uploads_predictions_without_the_true_value(client, world):
    a = world["a"]
    client.force_login(a.people[Role.ML_ENGINEER])
    html = client.get(reverse("model-detail", args=[a.model.pk])).content.decode()
    tag = html[html.index('name="y_true"') :].split(">", 1)[0]
    assert 'id="id_y_true"' in tag and "required" not in tag
    assert "Leave the true value blank to take it from <code>defaulted</code>" in html
    response = _form_post(client, world, a.version, _predictions())
    evaluation = Evaluation.objects.latest("pk")
    assert response.redirect_chain[-1][0] == evaluation.get_absolute_url()
    assert evaluation.mapping["label_column"] == "defaulted"
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    html = client.get(evaluation.get_absolute_url()).content.decode()
    assert 'y_true <span class="mono">defaulted</span> from loans v1' in html
    # An evaluation with its truth in the file names the file's column, as before.
    html = client.get(a.evaluation.get_absolute_url()).content.decode()
    assert 'y_true <span class="mono">label</span>,' in html


def test_the_form_refuses_a_version_without_a_label(client, world):
    version = _unlabelled_version(world)
    before = Evaluation.objects.count()
    events = Event.objects.filter(verb="evaluation.uploaded").count()
    response = _form_post(client, world, version, _predictions())
    assert "unlabelled has no label column to take the true value from" in (
        response.content.decode()
    )
    _nothing_stored(before, events)
    html = client.get(reverse("model-detail", args=[world["a"].model.pk])).content.decode()
    assert "No label column here to take the true value from" in html


# --- Audits and the performance reference --------------------------------------------------
def _report(audit) -> dict:
    """What an audit found, without what names the evaluation it read."""
    return {k: v for k, v in audit.result.items() if k != "evaluation"}


def test_an_audit_reads_the_same_truth_from_the_version(world):
    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    with_truth = _upload(world, _predictions(drop_label=False), y_true="label")
    without = _upload(world, _predictions())
    shuffled = _upload(world, _predictions(shuffled=True), row_id="customer_id")
    reports = [make_audit(e, engineer) for e in (with_truth, without, shuffled)]
    for audit in reports:
        assert audit.status == "succeeded", audit.error
    assert _report(reports[1]) == _report(reports[0])
    # Shuffled rows give the same groups; sums in another order may differ in the last bit.
    assert reports[2].verdict == reports[0].verdict
    first, last = reports[0].result["features"], reports[2].result["features"]
    for ours, theirs in zip(first, last, strict=True):
        for a, b in zip(ours["groups"], theirs["groups"], strict=True):
            assert a["name"] == b["name"]
            for metric, value in a["metrics"].items():
                assert b["metrics"][metric]["value"] == pytest.approx(value["value"], abs=1e-12)


def test_a_sensitive_column_of_the_version_pairs_by_row_id(api, world):
    w = world["a"]
    api.force_authenticate(w.people[Role.ML_ENGINEER])
    url = f"/api/v1/projects/{w.project.slug}/audit-configs/"
    assert api.post(url, {"sensitive_features": ["region"]}, format="json").status_code == 201
    engineer = w.people[Role.ML_ENGINEER]
    ordered = make_audit(_upload(world, _predictions()), engineer)
    shuffled = make_audit(
        _upload(world, _predictions(shuffled=True), row_id="customer_id"), engineer
    )
    assert shuffled.status == "succeeded", shuffled.error
    assert shuffled.result["sensitive_sources"] == {"region": "dataset version"}
    groups = {g["name"]: g for g in ordered.result["features"][0]["groups"]}
    for group in shuffled.result["features"][0]["groups"]:
        theirs = groups[group["name"]]
        for metric, value in group["metrics"].items():
            assert theirs["metrics"][metric]["value"] == pytest.approx(value["value"], abs=1e-12)


def test_the_performance_reference_reads_the_truth_from_the_version(world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    evaluation = _upload(world, _predictions(shuffled=True), row_id="customer_id")
    reference = reference_data(deployment)
    assert reference.evaluation == evaluation
    frame = _frame(shuffled=True)  # the truth left out of the file, in its order
    np.testing.assert_array_equal(reference.labels, frame["label"].to_numpy())
    np.testing.assert_array_equal(reference.scores, frame["score"].to_numpy())
    assert reference.classes == ("0", "1") and reference.positive == "1"
