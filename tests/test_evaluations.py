"""Baselines (recorded and trained), model versions and evaluations, through HTTP."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes

from audits.analysis.baselines import run_baselines
from audits.models import BaselineRun
from audits.services.baselines import baseline_run
from projects.models import Evaluation, Event, Project, Role
from projects.services import datasets, evaluations
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_csv, sample_frame, sklearn_binary_metrics
from tests.factories import make_dataset, make_version


@pytest.fixture
def engineer_api(api, world):
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    return api


def _predict(api, model, version, content: bytes, name: str = "p.csv", **mapping):
    mapping = {"y_true": "label", "y_pred": "prediction", **mapping}
    data = {"file": SimpleUploadedFile(name, content), "dataset_version": version.pk, **mapping}
    return api.post(f"/api/v1/models/{model.pk}/evaluations/", data, format="multipart")


def _evaluate_now(response) -> Evaluation:
    assert response.status_code == 202, response.json()
    evaluations.evaluation_run(evaluation_id=response.json()["id"])
    return Evaluation.objects.get(pk=response.json()["id"])


# --- Recorded baselines ----------------------------------------------------------------
def test_it_records_baselines_with_their_evidence(engineer_api, world):
    url = f"/api/v1/projects/{world['a'].project.slug}/baselines/"
    human = {
        "kind": "human_level",
        "name": "Credit analysts",
        "metric": "accuracy",
        "value": 0.81,
        "evidence": "Blind review of 500 files, March.",
    }
    paper = {
        "kind": "literature",
        "name": "Smith et al.",
        "metric": "roc_auc",
        "value": 0.86,
        "citation": "Smith, J. (2024). Credit scoring. JMLR 25.",
    }
    for body in (human, paper):
        response = engineer_api.post(url, body, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["recorded_by"] == "a_ml_engineer"
    listed = engineer_api.get(url).json()["results"]
    # "Rules" is the world's own baseline.
    assert {b["name"] for b in listed} == {"Credit analysts", "Smith et al.", "Rules"}
    recorded = Event.objects.filter(verb="baseline.recorded", project=world["a"].project)
    assert recorded.count() == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "literature", "name": "x", "metric": "f1", "value": 0.5}, "citation_missing"),
        ({"kind": "human_level", "name": "x", "metric": "fun", "value": 0.5}, "invalid"),
        ({"kind": "human_level", "name": "x", "metric": "f1", "value": "high"}, "invalid"),
    ],
)
def test_it_refuses_a_baseline_without_what_it_needs(engineer_api, world, body, code):
    url = f"/api/v1/projects/{world['a'].project.slug}/baselines/"
    response = engineer_api.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code


# --- Trained baselines -------------------------------------------------------------------
def _run_now(api, version, **body) -> BaselineRun:
    response = api.post(
        f"/api/v1/dataset-versions/{version.pk}/baseline-runs/", body, format="json"
    )
    assert response.status_code == 202, response.json()
    baseline_run(run_id=response.json()["id"])
    return BaselineRun.objects.get(pk=response.json()["id"])


def test_it_trains_baselines_that_match_the_pure_pipeline(engineer_api, world):
    data = load_breast_cancer(as_frame=True)
    frame = data.frame
    engineer = world["a"].people[Role.ML_ENGINEER]
    dataset = make_dataset(
        world["a"].project,
        engineer,
        "cancer",
        label_column="target",
        sensitive_columns=[],
        personal_data_columns=[],
    )
    version = make_version(dataset, engineer, frame.to_csv(index=False).encode(), "bc.csv")
    run = _run_now(engineer_api, version)
    assert run.status == "succeeded", run.error
    assert run.task == "classification"
    assert run.rows_used == 569 and not run.sampled
    reference = run_baselines(frame, "target", row_cap=run.row_cap).to_dict()
    assert [m["model"] for m in run.result["models"]] == ["dummy", "linear", "gradient_boosting"]
    for ours, theirs in zip(run.result["models"], reference["models"], strict=True):
        for name, summary in theirs["metrics"].items():
            assert ours["metrics"][name]["mean"] == pytest.approx(summary["mean"], rel=1e-9)
    dummy = run.result["models"][0]["metrics"]["accuracy"]["mean"]
    assert dummy == pytest.approx(frame["target"].value_counts(normalize=True).max(), abs=1e-3)


def test_it_samples_over_the_row_cap_and_says_so(engineer_api, world, settings):
    settings.BASELINE_ROW_CAP = 60
    run = _run_now(engineer_api, world["a"].version)
    assert run.status == "succeeded", run.error
    assert run.sampled and run.rows_used == 60
    assert run.result["rows_total"] == 120
    # Reading only the sampled rows gives what a run on the whole table gives.
    whole = sample_frame().drop(columns=["email"])
    reference = run_baselines(whole, "defaulted", row_cap=60).to_dict()
    for ours, theirs in zip(run.result["models"], reference["models"], strict=True):
        for name, summary in theirs["metrics"].items():
            assert ours["metrics"][name]["mean"] == pytest.approx(summary["mean"], rel=1e-9)
    assert run.result["class_counts"] == reference["class_counts"]


def test_it_excludes_personal_data_from_the_features(engineer_api, world):
    run = _run_now(engineer_api, world["a"].version)
    assert run.status == "succeeded", run.error
    assert "email" not in run.result["features"]


def test_it_detects_regression_and_reports_its_metrics(engineer_api, world):
    frame = load_diabetes(as_frame=True).frame
    engineer = world["a"].people[Role.ML_ENGINEER]
    dataset = make_dataset(
        world["a"].project, engineer, "diabetes", label_column="", sensitive_columns=[]
    )
    version = make_version(dataset, engineer, frame.to_csv(index=False).encode(), "d.csv")
    run = _run_now(engineer_api, version, target="target")
    assert run.status == "succeeded", run.error
    assert run.task == "regression"
    assert set(run.result["models"][0]["metrics"]) == {"mae", "rmse", "r2"}


def test_it_refuses_a_target_that_is_not_a_column(engineer_api, world):
    response = engineer_api.post(
        f"/api/v1/dataset-versions/{world['a'].version.pk}/baseline-runs/",
        {"target": "nope"},
        format="json",
    )
    assert response.status_code == 400
    assert "nope" in response.json()["detail"] and "defaulted" in response.json()["detail"]


def test_it_fails_a_run_on_a_single_class_with_a_message(engineer_api, world):
    frame = sample_frame(rows=60)
    frame["defaulted"] = 1
    engineer = world["a"].people[Role.ML_ENGINEER]
    version = make_version(world["a"].dataset, engineer, frame.to_csv(index=False).encode())
    run = _run_now(engineer_api, version)
    assert run.status == "failed"
    assert "class" in run.error.lower()
    assert Event.objects.filter(verb="baseline_run.failed", target_id=str(run.pk)).count() == 1


# --- Models and evaluations ------------------------------------------------------------
def test_it_registers_a_model_once(engineer_api, world):
    url = f"/api/v1/projects/{world['a'].project.slug}/models/"
    body = {
        "name": "gbm",
        "version": "2.1.0",
        "artifact_uri": "s3://models/gbm/2.1.0",
        "code_commit": "9f8e7d6",
        "framework": "lightgbm 4.5",
        "parameters": {"num_leaves": 31, "learning_rate": 0.05},
    }
    assert engineer_api.post(url, body, format="json").status_code == 201
    again = engineer_api.post(url, body, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "version_taken"


def test_it_computes_evaluation_metrics_like_scikit_learn(engineer_api, world):
    a = world["a"]
    content = predictions_csv(sample_frame(), seed=7)
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, content, y_score="score"))
    assert evaluation.status == "succeeded", evaluation.error
    frame = pd.read_csv(io.BytesIO(content))
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    expected = sklearn_binary_metrics(y, p, s)
    for name, value in expected.items():
        assert evaluation.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    detail = engineer_api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert detail["metrics"]["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-9)


def test_it_compares_a_model_with_every_baseline(engineer_api, world):
    a = world["a"]
    evaluations.baseline_record(
        actor=a.people[Role.ML_ENGINEER],
        project=a.project,
        kind="previous_system",
        name="Rules engine",
        metric="accuracy",
        value=0.7,
    )
    baseline_run(run_id=a.run.pk)
    detail = engineer_api.get(f"/api/v1/evaluations/{a.evaluation.pk}/").json()
    accuracy = next(row for row in detail["comparison"] if row["metric"] == "accuracy")
    kinds = {e["kind"] for e in accuracy["entries"]}
    assert kinds == {"model", "baseline", "trained"}
    labels = [e["label"] for e in accuracy["entries"]]
    assert any("Rules engine" in label for label in labels)
    assert sum(e["kind"] == "trained" for e in accuracy["entries"]) == 3
    # Baselines trained on other data are not compared with this evaluation.
    engineer = a.people[Role.ML_ENGINEER]
    other = make_version(a.dataset, engineer, sample_csv(seed=40))
    run = engineer_api.post(f"/api/v1/dataset-versions/{other.pk}/baseline-runs/", {})
    baseline_run(run_id=run.json()["id"])
    detail = engineer_api.get(f"/api/v1/evaluations/{a.evaluation.pk}/").json()
    accuracy = next(row for row in detail["comparison"] if row["metric"] == "accuracy")
    assert sum(e["kind"] == "trained" for e in accuracy["entries"]) == 3


def test_it_fails_predictions_whose_rows_do_not_match_the_dataset(engineer_api, world):
    a = world["a"]
    short = predictions_csv(sample_frame().head(100))
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, short))
    assert evaluation.status == "failed"
    assert "100 rows" in evaluation.error and "120" in evaluation.error
    shuffled = predictions_csv(sample_frame().sample(frac=1, random_state=3))
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, shuffled))
    assert evaluation.status == "failed"
    assert "same order" in evaluation.error
    assert "np." not in evaluation.error
    # Also when the predictions name their truth column as the dataset does.
    renamed = shuffled.replace(b"label,", b"defaulted,", 1)
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, renamed, y_true="defaulted")
    )
    assert evaluation.status == "failed"
    assert "same order" in evaluation.error


def test_it_pairs_predictions_by_row_id_in_any_order(engineer_api, world):
    a = world["a"]
    shuffled = predictions_csv(sample_frame().sample(frac=1, random_state=3))
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, shuffled, row_id="customer_id")
    )
    assert evaluation.status == "succeeded", evaluation.error


def test_it_fails_predictions_whose_row_ids_are_not_in_the_dataset(engineer_api, world):
    a = world["a"]
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    frame.loc[[5, 50, 90], "customer_id"] = ["x1", "x2", "x3"]
    content = frame.to_csv(index=False).encode()
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, content, row_id="customer_id")
    )
    assert evaluation.status == "failed"
    assert evaluation.error == (
        "3 of 120 row ids are not in loans v1's id column 'customer_id' "
        "(first: 'x1', 'x2', 'x3'). Predict the rows of the dataset version, with its ids."
    )
    failed = Event.objects.get(verb="evaluation.failed", target_id=str(evaluation.pk))
    assert failed.payload == {"error": evaluation.error}


def test_it_fails_predictions_whose_row_id_column_the_dataset_lacks(engineer_api, world):
    a = world["a"]
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    frame["ticket"] = range(len(frame))
    content = frame.to_csv(index=False).encode()
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, content, row_id="ticket"))
    assert evaluation.status == "failed"
    assert "'ticket'" in evaluation.error and "loans v1" in evaluation.error


def test_it_fails_predictions_with_rows_without_a_row_id(engineer_api, world):
    a = world["a"]
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    frame.loc[[7, 8], "customer_id"] = None
    content = frame.to_csv(index=False).encode()
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, content, row_id="customer_id")
    )
    assert evaluation.status == "failed"
    assert evaluation.error.startswith("2 rows have no row id"), evaluation.error


def test_it_fails_a_predictions_gzip_bomb_at_the_expansion_limit(engineer_api, world, settings):
    a = world["a"]
    settings.UPLOAD_MAX_EXPANDED_BYTES = 64 << 10
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b"customer_id,label,prediction\n")]
    parts += [packer.compress(b"c00001,1,1\n" * 6000) for _ in range(200)]
    bomb = b"".join([*parts, packer.flush()])
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, bomb, name="p.csv.gz"))
    assert evaluation.status == "failed"
    assert "expands to more than 64 KiB when decompressed" in evaluation.error
    assert evaluation.deliveries == 1


def test_it_fails_predictions_with_a_missing_column(engineer_api, world):
    a = world["a"]
    content = predictions_csv(sample_frame())
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, content, y_pred="predicted")
    )
    assert evaluation.status == "failed"
    assert "predicted" in evaluation.error
    failed = Event.objects.get(verb="evaluation.failed", target_id=str(evaluation.pk))
    assert failed.payload == {"error": evaluation.error}


def test_it_fails_predictions_with_missing_labels(engineer_api, world):
    a = world["a"]
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    frame["prediction"] = frame["prediction"].astype("float")
    frame.loc[3, "prediction"] = np.nan
    content = frame.to_csv(index=False).encode()
    evaluation = _evaluate_now(_predict(engineer_api, a.model, a.version, content))
    assert evaluation.status == "failed"
    assert "missing" in evaluation.error.lower()


def test_it_refuses_predictions_for_another_projects_data(engineer_api, world):
    a, b = world["a"], world["b"]
    content = predictions_csv(sample_frame())
    response = _predict(engineer_api, a.model, b.version, content)
    assert response.status_code == 404


def test_it_needs_the_dataset_version_profiled_first(engineer_api, world):
    a = world["a"]
    pending, _ = datasets.version_upload(
        actor=a.people[Role.ML_ENGINEER],
        dataset=a.dataset,
        upload=upload_from_bytes("new.csv", sample_csv(seed=30)),
    )
    response = _predict(engineer_api, a.model, pending, predictions_csv(sample_frame()))
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"


def test_it_uses_the_project_task_for_regression(engineer_api, world):
    a = world["a"]
    Project.objects.filter(pk=a.project.pk).update(task_type="regression")
    frame = sample_frame()
    preds = pd.DataFrame({"label": frame["defaulted"], "prediction": frame["defaulted"] * 0.9})
    evaluation = _evaluate_now(
        _predict(engineer_api, a.model, a.version, preds.to_csv(index=False).encode())
    )
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.metrics["mae"] == pytest.approx(
        skm.mean_absolute_error(preds["label"], preds["prediction"]), rel=1e-9
    )


# --- Pages --------------------------------------------------------------------------------
def test_it_shows_the_comparison_chart_on_the_baselines_page(client, world):
    a = world["a"]
    baseline_run(run_id=a.run.pk)
    client.force_login(a.people[Role.VIEWER])
    page = client.get(f"/projects/{a.project.slug}/baselines/").content.decode()
    assert page.count("<svg") >= 5  # a chart per metric the model and baselines share
    assert "Gradient-boosted trees" in page
    assert "scorer 1" in page


def test_it_shows_the_evaluation_beside_the_baselines(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    page = client.get(f"/evaluations/{a.evaluation.pk}/").content.decode()
    assert "Against the baselines" in page and "<svg" in page


@pytest.mark.parametrize(
    ("metric", "value"), [("accuracy", 5), ("roc_auc", -0.1), ("rmse", -1), ("r2", 1.5)]
)
def test_it_refuses_a_baseline_value_the_metric_cannot_take(engineer_api, world, metric, value):
    url = f"/api/v1/projects/{world['a'].project.slug}/baselines/"
    body = {"kind": "human_level", "name": "x", "metric": metric, "value": value}
    response = engineer_api.post(url, body, format="json")
    assert response.status_code == 400
    assert "between" in response.json()["detail"]
