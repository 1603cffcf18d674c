"""Drift checks through HTTP: a production period compared with the reference as a job,
its result equal to the drift core's on the same files, every refusal with its reason."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from deployments.analysis.drift import CATEGORICAL, NUMERIC, dataset_drift
from deployments.models import DriftCheck
from deployments.services.drift import drift_check_run
from projects.models import Event, Role
from tests.data import sample_frame
from tests.factories import make_dataset, make_deployment, make_version, plan_content

COMPARED = ["income", "age", "region", "sex"]


def as_token(api, w):
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    return api


def production(w, frame=None, name: str = "production.csv"):
    """A production period of team ``w``'s project, uploaded and profiled."""
    engineer = w.people[Role.ML_ENGINEER]
    dataset = w.extra.get("production")
    if dataset is None:
        dataset = w.extra["production"] = make_dataset(
            w.project, engineer, name="production", purpose="production_sample"
        )
    if frame is None:
        frame = sample_frame(400, seed=5)
        frame["income"] = frame["income"] * 1.3  # incomes moved up
    return make_version(dataset, engineer, frame.to_csv(index=False).encode(), name=name)


def ask(api, deployment, **body):
    return api.post(f"/api/v1/deployments/{deployment.pk}/drift-checks/", body, format="json")


def test_it_compares_a_production_period_with_the_reference_as_the_core_does(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    current = production(w)
    as_token(api, w)

    asked = ask(api, deployment, reference=w.version.pk, current=current.pk)

    assert asked.status_code == 202, asked.content
    body = asked.json()
    assert asked["Location"] == body["url"] and body["status"] == "queued"
    # The label, personal data (email) and identifiers (customer_id) are left out by default.
    assert [c["name"] for c in body["columns"]] == COMPARED
    drift_check_run(check_id=body["id"])
    done = api.get(body["url"]).json()
    assert done["status"] == "succeeded", done
    kinds = {c["name"]: c["kind"] for c in body["columns"]}
    assert kinds["income"] == NUMERIC and kinds["region"] == CATEGORICAL
    read = [pq.read_table(v.parquet.path, columns=COMPARED) for v in (w.version, current)]
    expected = dataset_drift(
        {n: read[0].column(n) for n in COMPARED},
        {n: read[1].column(n) for n in COMPARED},
        kinds=kinds,
    )
    got = {c["column"]: c for c in done["result"]["columns"]}
    for column in expected.columns:
        mine = got[column.column]
        assert (mine["method"], mine["drifted"]) == (column.method, column.drifted)
        assert mine["statistic"] == pytest.approx(column.statistic, rel=1e-12)
    assert got["income"]["method"] == "ks" and got["income"]["drifted"]
    assert done["share"] == expected.share and done["drifted"] == expected.drifted
    assert len(done["result_sha256"]) == 64
    verbs = Event.objects.filter(project=w.project, verb__startswith="drift_check.")
    finished = verbs.get(verb="drift_check.finished")
    assert finished.payload["result_sha256"] == done["result_sha256"]
    assert "income" in finished.payload["drifted_columns"]
    listed = api.get(f"/api/v1/deployments/{deployment.pk}/drift-checks/").json()["results"]
    assert [c["id"] for c in listed] == [body["id"]]


def test_the_monitoring_spec_sets_a_columns_test(api, world):
    w = world["a"]
    content = plan_content()
    content["monitoring"]["drift"] = [
        {"column": "income", "test": "psi", "threshold": 0.2},
        {"column": "region", "test": "chi2", "threshold": 0.01},
    ]
    deployment, _ = make_deployment(w, content=content, stage=False)
    as_token(api, w)
    asked = ask(api, deployment, reference=w.version.pk, current=production(w).pk)
    assert asked.json()["rules"] == {
        "income": {"method": "psi", "threshold": 0.2},
        "region": {"method": "chisquare", "threshold": 0.01},
    }
    drift_check_run(check_id=asked.json()["id"])
    got = {c["column"]: c for c in DriftCheck.objects.get().result["columns"]}
    assert (got["income"]["method"], got["income"]["threshold"]) == ("psi", 0.2)
    assert got["income"]["statistic"] == got["income"]["psi"]
    assert got["region"]["method"] == "chisquare" and got["region"]["ruled"]


def _frame_without_region():
    return sample_frame(200, seed=3).drop(columns=["region"])


def _frame_with_empty_income():
    frame = sample_frame(200, seed=3)
    frame["income"] = np.nan
    return frame


def _frame_with_text_age():
    frame = sample_frame(200, seed=3)
    frame["age"] = "unknown"
    return frame


@pytest.mark.parametrize(
    ("frame", "body", "code", "words"),
    [
        (_frame_without_region, {}, "columns_mismatch", "no column 'region' of the reference"),
        (_frame_with_text_age, {}, "column_type_changed", "'age' changed (numeric in the"),
        (_frame_with_empty_income, {}, "empty_column", "column 'income' has no values (all"),
        (None, {"columns": ["income", "colour"]}, "unknown_column", "no column 'colour'"),
        (None, {"columns": ["email", "opened_at"]}, "unknown_column", "no column 'opened_at'"),
        (None, {"drift_share": 1.5}, "invalid", "drift_share is the share of drifted columns"),
    ],
)
def test_it_refuses_periods_it_cannot_compare_naming_why(api, world, frame, body, code, words):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    current = production(w, frame() if frame else None)
    as_token(api, w)
    refused = ask(api, deployment, reference=w.version.pk, current=current.pk, **body)
    assert refused.status_code == 400, refused.content
    assert refused.json()["code"] == code and words in refused.json()["detail"]
    assert not DriftCheck.objects.exists()


def test_it_refuses_the_same_version_and_another_projects(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    as_token(api, w)
    same = ask(api, deployment, reference=w.version.pk, current=w.version.pk)
    assert same.status_code == 400 and same.json()["code"] == "same_version"
    # Team B's version is not even seen.
    other = ask(api, deployment, reference=w.version.pk, current=world["b"].version.pk)
    assert other.status_code == 404
    assert not DriftCheck.objects.exists()


def test_a_spec_test_that_does_not_fit_its_column_is_refused(api, world):
    w = world["a"]
    content = plan_content()
    content["monitoring"]["drift"] = [{"column": "region", "test": "ks", "threshold": 0.05}]
    deployment, _ = make_deployment(w, content=content, stage=False)
    as_token(api, w)
    refused = ask(api, deployment, reference=w.version.pk, current=production(w).pk)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_rule"
    assert "Column 'region' is categorical: its test is one of" in refused.json()["detail"]


def test_a_period_whose_column_is_all_infinite_fails_the_job_visibly(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    frame = sample_frame(200, seed=3)
    frame["income"] = np.inf
    as_token(api, w)
    asked = ask(api, deployment, reference=w.version.pk, current=production(w, frame).pk)
    assert asked.status_code == 202, asked.content
    drift_check_run(check_id=asked.json()["id"])
    failed = api.get(asked.json()["url"]).json()
    assert failed["status"] == "failed"
    assert "Column 'income' has no values in the current period" in failed["error"]
    assert Event.objects.filter(verb="drift_check.failed").exists()


# --- The web pages ------------------------------------------------------------------------


def test_an_engineer_starts_a_drift_check_on_the_page_and_reads_its_columns(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    current = production(w)
    client.force_login(w.people[Role.ML_ENGINEER])
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Check for drift" in page and "No drift check yet." in page

    started = client.post(
        f"/deployments/{deployment.pk}/drift-checks/",
        {"reference": w.version.pk, "current": current.pk},
    )

    check = DriftCheck.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/drift-checks/{check.pk}/"
    queued = client.get(started["Location"]).content.decode()
    assert "Queued" in queued and f"/drift-checks/{check.pk}/status/" in queued
    drift_check_run(check_id=check.pk)
    shown = client.get(started["Location"]).content.decode()
    assert shown.count("<svg") == len(COMPARED)
    assert "income" in shown and "Drifted" in shown and "p = " in shown
    status = client.get(f"/drift-checks/{check.pk}/status/")
    # Done: no more polling; the fragment swaps the page's result in once.
    assert status.status_code == 200 and 'hx-trigger="every' not in status.content.decode()
    assert f'hx-get="/drift-checks/{check.pk}/"' in status.content.decode()
    listed = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert f'href="/drift-checks/{check.pk}/"' in listed


def test_a_refused_drift_check_shows_its_reason_on_the_deployment_page(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    current = production(w, _frame_without_region())
    client.force_login(w.people[Role.ML_ENGINEER])
    refused = client.post(
        f"/deployments/{deployment.pk}/drift-checks/",
        {"reference": w.version.pk, "current": current.pk},
    )
    assert refused.status_code == 400
    assert "no column &#x27;region&#x27; of the reference" in refused.content.decode()
    assert not DriftCheck.objects.exists()


@pytest.mark.parametrize("who", [Role.AUDITOR, Role.VIEWER])
def test_only_who_may_change_the_deployment_starts_a_drift_check(client, world, who):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    current = production(w)
    client.force_login(w.people[who])
    assert "Check for drift" not in client.get(f"/deployments/{deployment.pk}/").content.decode()
    refused = client.post(
        f"/deployments/{deployment.pk}/drift-checks/",
        {"reference": w.version.pk, "current": current.pk},
    )
    assert refused.status_code == 403 and not DriftCheck.objects.exists()
