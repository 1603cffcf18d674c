"""Fairness audits through HTTP: configuration versions, runs, reports, reviews, the gate."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, selection_rate
from sklearn.metrics import recall_score

from audits.analysis.audit_job import content_sha256
from audits.models import AuditConfig, AuditReview, AuditRun
from audits.services.fairness import audit_run
from projects.models import Event, Role
from projects.services import evaluations
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_frame
from tests.factories import WORLD_AUDIT, make_audit


def _as(api, user):
    api.force_authenticate(user)
    return api


def _upload(world, content: bytes, name: str = "predictions.csv", **mapping):
    """A finished evaluation of team A's model on its dataset version."""
    w = world["a"]
    mapping = {"y_true": "label", "y_pred": "prediction", **mapping}
    evaluation = evaluations.evaluation_upload(
        actor=w.people[Role.ML_ENGINEER],
        model=w.model,
        dataset_version=w.version,
        upload=upload_from_bytes(name, content),
        mapping=mapping,
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def _frame(**columns) -> bytes:
    base = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    for name, values in columns.items():
        base[name] = values
    return base.to_csv(index=False).encode()


def _run(world, evaluation) -> AuditRun:
    return make_audit(evaluation, world["a"].people[Role.ML_ENGINEER])


# --- Running ---------------------------------------------------------------------------
def test_an_engineer_runs_an_audit_and_polls_it(api, world):
    w = world["a"]
    evaluation = _upload(world, _frame())
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    # The world's audit used the default configuration; a new one makes this one new.
    response = engineer.post(f"/api/v1/evaluations/{evaluation.pk}/audits/")
    assert response.status_code == 202, response.json()
    assert response["Location"] == response.json()["url"]
    assert response.json()["status"] == "queued"
    again = engineer.post(f"/api/v1/evaluations/{evaluation.pk}/audits/")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    audit_run(run_id=response.json()["id"])
    body = engineer.get(response["Location"]).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["verdict"] in {"pass", "fail", "insufficient_evidence"}
    assert body["result_sha256"] == content_sha256(body["result"])
    assert body["result"]["evaluation"] == {"id": evaluation.pk, "sha256": evaluation.sha256}
    verbs = set(Event.objects.filter(project=w.project).values_list("verb", flat=True))
    assert {"audit.requested", "audit.finished"} <= verbs


def test_the_numbers_match_fairlearn_on_the_stored_result(api, world):
    w = world["a"]
    audit = w.audit
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    by_sex = next(f for f in audit.result["features"] if f["feature"] == "sex")
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate, "recall": recall_score},
        y_true=frame["label"],
        y_pred=frame["prediction"],
        sensitive_features=frame["sex"],
    )
    for group in by_sex["groups"]:
        for metric in ("selection_rate", "recall"):
            expected = mf.by_group.loc[group["name"], metric]
            assert group["metrics"][metric]["value"] == pytest.approx(expected, abs=1e-9)
    dpd = demographic_parity_difference(
        frame["label"], frame["prediction"], sensitive_features=frame["sex"]
    )
    assert by_sex["summary"]["demographic_parity_difference"]["value"] == pytest.approx(
        dpd, abs=1e-9
    )


def test_string_labels_and_a_configured_positive_label(api, world):
    w = world["a"]
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    words = {0: "no", 1: "yes"}
    content = _frame(label=frame["label"].map(words), prediction=frame["prediction"].map(words))
    # Without row ids the labels must agree with the dataset's, so pair by id.
    evaluation = _upload(world, content, row_id="customer_id", sensitive=["sex"])
    auditor = _as(api, w.people[Role.AUDITOR])
    url = f"/api/v1/projects/{w.project.slug}/audit-configs/"
    body = {"positive_label": "yes", "note": "labels are words"}
    assert auditor.post(url, body, format="json").status_code == 201
    audit = _run(world, evaluation)
    assert audit.status == "succeeded", audit.error
    assert audit.result["positive_label"] == "yes"
    truth, pred = frame["label"], frame["prediction"]
    female = (frame["sex"] == "F").to_numpy()
    by_sex = next(f for f in audit.result["features"] if f["feature"] == "sex")
    group = next(g for g in by_sex["groups"] if g["name"] == "F")
    assert group["metrics"]["recall"]["value"] == pytest.approx(
        recall_score(truth[female], pred[female]), abs=1e-12
    )


def test_a_multiclass_evaluation_is_audited_one_against_the_rest(world):
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    rng = np.random.default_rng(3)
    classes = np.where(frame["label"] == 1, "default", rng.choice(["paid", "late"], len(frame)))
    evaluation = _upload(world, _frame(label=classes, prediction=classes), row_id="customer_id")
    AuditConfig.objects.filter(project=world["a"].project).update(positive_label="default")
    audit = _run(world, evaluation)
    assert audit.status == "succeeded", audit.error
    assert "compares 'default' with the rest" in audit.result["notes"][0]
    report = {c["label"]: c for c in audit.result["class_report"]["classes"]}
    assert set(report) == {"default", "paid", "late"}


def test_a_sensitive_feature_can_come_from_the_dataset_version(api, world):
    w = world["a"]
    url = f"/api/v1/projects/{w.project.slug}/audit-configs/"
    body = {"sensitive_features": ["sex", "region"], "intersections": [["sex", "region"]]}
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    assert engineer.post(url, body, format="json").status_code == 201
    audit = _run(world, w.evaluation)
    assert audit.status == "succeeded", audit.error
    assert audit.result["sensitive_sources"] == {"sex": "predictions", "region": "dataset version"}
    names = [f["feature"] for f in audit.result["features"]]
    assert names == ["sex", "region", "sex \u00d7 region"]


# --- Bad input -------------------------------------------------------------------------
def _configure(world, **config):
    AuditConfig.objects.filter(project=world["a"].project).update(**config)


@pytest.mark.parametrize(
    ("content", "mapping", "config", "message"),
    [
        (None, {}, {"sensitive_features": ["religion"]}, "is in neither the predictions file"),
        ({"sex": "F"}, {}, {}, "has only one group"),
        ({"prediction": 2}, {}, {}, "y_pred has values other than the two labels"),
        (None, {}, {"positive_label": "7"}, "The positive label '7' never occurs"),
        ({"score": 1.5}, {"y_score": "score"}, {}, "y_score must be probabilities"),
        ({"sex": [f"s{i}" for i in range(120)]}, {}, {"sensitive_features": ["sex"]}, None),
    ],
    ids=["column-missing", "one-group", "not-binary", "label-absent", "score>1", "ids"],
)
def test_bad_audit_input_fails_with_a_clear_message(world, content, mapping, config, message):
    evaluation = _upload(world, _frame(**(content or {})), **mapping)
    _configure(world, **config)
    if message is None:  # 120 distinct groups: allowed, but every one too small to judge
        audit = _run(world, evaluation)
        assert audit.verdict == "insufficient_evidence"
        return
    audit = _run(world, evaluation)
    assert audit.status == "failed"
    assert message in audit.error
    assert audit.result == {} and audit.result_sha256 == ""
    assert Event.objects.filter(verb="audit.failed", target_id=str(audit.pk)).exists()


def test_more_than_a_thousand_groups_is_refused(world, settings):
    frame = sample_frame(1500)
    content = frame.to_csv(index=False).encode()
    from tests.factories import make_version

    w = world["a"]
    version = make_version(w.dataset, w.people[Role.ML_ENGINEER], content, name="big.csv")
    predictions = (
        pd.DataFrame(
            {
                "label": frame["defaulted"],
                "prediction": frame["defaulted"],
                "who": frame["customer_id"],
            }
        )
        .to_csv(index=False)
        .encode()
    )
    evaluation = evaluations.evaluation_upload(
        actor=w.people[Role.ML_ENGINEER],
        model=w.model,
        dataset_version=version,
        upload=upload_from_bytes("p.csv", predictions),
        mapping={"y_true": "label", "y_pred": "prediction"},
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    _configure(world, sensitive_features=["who"])
    audit = _run(world, evaluation)
    assert audit.status == "failed"
    assert "1500 distinct groups, more than the limit of 1000" in audit.error


def test_an_unfinished_evaluation_cannot_be_audited(api, world):
    w = world["a"]
    evaluation = evaluations.evaluation_upload(
        actor=w.people[Role.ML_ENGINEER],
        model=w.model,
        dataset_version=w.version,
        upload=upload_from_bytes("p.csv", predictions_csv(sample_frame())),
        mapping={"y_true": "label", "y_pred": "prediction"},
    )
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    response = engineer.post(f"/api/v1/evaluations/{evaluation.pk}/audits/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"
    assert not AuditRun.objects.filter(evaluation=evaluation).exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"sensitive_features": []}, "at least one sensitive feature"),
        ({"intersections": [["sex"]]}, "must join two or more"),
        (
            {"thresholds": {"demographic_parity_difference": {"limit": 0.2, "rationale": " "}}},
            "write why this limit suits the project",
        ),
        (
            {"thresholds": {"demographic_parity_difference": {"limit": 2, "rationale": "x"}}},
            "between 0 and 1",
        ),
        (
            {"thresholds": {"min_group_size": {"limit": None, "rationale": "x"}}},
            "cannot be switched",
        ),
        ({"thresholds": {"four_fifths": {"limit": 0.8, "rationale": "x"}}}, "Unknown thresholds"),
        ({"metrics": ["happiness"]}, "Unknown metrics"),
        ({"confidence": 1.5}, "Confidence must be"),
        ({"min_class_support": 10**20}, "less than or equal to 1000000000"),
        ({"thresholds": {"min_group_size": {"limit": 10**400, "rationale": "x"}}}, "not a number"),
        ({"threshold": {"min_recall": 0.5}}, "Unknown settings: threshold"),
        ({"thresholds": [["min_recall", 0.5]]}, "Expected a dictionary"),
    ],
)
def test_a_bad_configuration_is_refused(api, world, body, fragment):
    w = world["a"]
    before = AuditConfig.objects.filter(project=w.project).count()
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    response = engineer.post(
        f"/api/v1/projects/{w.project.slug}/audit-configs/", body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert fragment in response.json()["detail"]
    assert AuditConfig.objects.filter(project=w.project).count() == before


def test_a_configuration_change_is_a_new_version_with_its_rationale(api, world):
    w = world["a"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    url = f"/api/v1/projects/{w.project.slug}/audit-configs/"
    why = "Lenders must keep approval gaps under five points (internal policy 7.2)."
    body = {"thresholds": {"demographic_parity_difference": {"limit": 0.05, "rationale": why}}}
    response = engineer.post(url, body, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert response.json()["thresholds"]["demographic_parity_difference"] == {
        "limit": 0.05,
        "rationale": why,
    }
    # Other thresholds keep the previous version's values.
    assert response.json()["thresholds"]["equalized_odds_difference"]["limit"] == 0.1
    same = engineer.post(url, body, format="json")
    assert same.status_code == 409 and same.json()["code"] == "unchanged"
    versions = engineer.get(url).json()["results"]
    assert [v["version"] for v in versions] == [2, 1]


# --- Reports ---------------------------------------------------------------------------
def test_the_report_page_shows_verdicts_rationales_groups_and_charts(client, world):
    w = world["a"]
    audit = _run(world, _upload(world, _frame()))
    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/audits/{audit.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Demographic-parity difference" in text
    assert WORLD_AUDIT["thresholds"]["demographic_parity_difference"]["rationale"] in text
    assert text.count("<svg") >= 4  # the rate charts of the feature
    assert "Waiting for an auditor" in text
    assert "Your review" not in text  # a viewer does not review


def test_the_csv_download_is_spreadsheet_safe_and_exact(client, world):
    w = world["a"]
    evaluation = _upload(world, _frame(sex=np.where(sample_frame()["sex"] == "F", "=cmd()", "M")))
    audit = _run(world, evaluation)
    client.force_login(w.people[Role.AUDITOR])
    response = client.get(f"/audits/{audit.pk}/report.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    groups = {r[2] for r in rows[1:] if r[0] == "group"}
    assert "'=cmd()" in groups and "=cmd()" not in groups
    stored = next(f for f in audit.result["features"] if f["feature"] == "sex")["groups"]
    male = next(g for g in stored if g["name"] == "M")["metrics"]["recall"]["value"]
    cell = next(r for r in rows if r[0] == "group" and r[2] == "M" and r[3] == "recall")
    assert float(cell[4]) == male
    data = client.get(f"/audits/{audit.pk}/report.json")
    assert json.loads(data.content)["result_sha256"] == audit.result_sha256


def test_downloading_an_unfinished_audit_is_a_409_not_a_500(client, world):
    w = world["a"]
    AuditRun.objects.filter(pk=w.audit.pk).update(status="running")
    client.force_login(w.people[Role.ML_ENGINEER])
    assert client.get(f"/audits/{w.audit.pk}/report.json").status_code == 409
    assert client.get(f"/api/v1/audits/{w.audit.pk}/csv/").status_code == 409


# --- Reviews and the gate --------------------------------------------------------------
def _gate_check(api, world) -> dict:
    w = world["a"]
    checks = api.get(f"/api/v1/projects/{w.project.slug}/gates/").json()["checks"]
    return next(c for c in checks if c["name"].startswith("Fairness audit"))


def test_an_auditor_approves_and_the_gate_reflects_it(api, world):
    w = world["a"]
    auditor = _as(api, w.people[Role.AUDITOR])
    assert _gate_check(api, world)["passed"] is True  # the world's audit is approved
    audit = _run(world, _upload(world, _frame()))  # a newer evaluation: the new candidate
    assert _gate_check(api, world)["passed"] is False
    assert "waits for an auditor's review" in _gate_check(api, world)["detail"]
    inbox = auditor.get("/api/v1/audits/inbox/").json()["results"]
    assert [a["id"] for a in inbox] == [audit.pk]
    url = f"/api/v1/audits/{audit.pk}/reviews/"
    refused = auditor.post(url, {"decision": "approve", "rationale": "  "}, format="json")
    assert refused.status_code == 400
    response = auditor.post(
        url,
        {"decision": "approve", "rationale": "Gaps within limits; the small groups are noted."},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["result_sha256"] == audit.result_sha256
    check = _gate_check(api, world)
    assert check["passed"] is True and w.people[Role.AUDITOR].username in check["detail"]
    assert auditor.get("/api/v1/audits/inbox/").json()["results"] == []
    event = Event.objects.filter(verb="audit.reviewed").latest("seq")
    assert event.payload["result_sha256"] == audit.result_sha256


def test_a_new_evaluation_or_configuration_needs_a_new_review(api, world):
    w = world["a"]
    _as(api, w.people[Role.AUDITOR])
    assert _gate_check(api, world)["passed"] is True
    newer = _upload(world, _frame())
    check = _gate_check(api, world)
    assert check["passed"] is False and "Run a fairness audit" in check["detail"]
    _run(world, newer)
    assert "waits for an auditor" in _gate_check(api, world)["detail"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    body = {"thresholds": {"min_recall": {"limit": 0.5, "rationale": "Defaults hurt."}}}
    engineer.post(f"/api/v1/projects/{w.project.slug}/audit-configs/", body, format="json")
    assert "Run a fairness audit" in _gate_check(api, world)["detail"]


def test_a_rejection_keeps_the_gate_shut_with_the_reason(api, world):
    w = world["a"]
    auditor = _as(api, w.people[Role.AUDITOR])
    auditor.post(
        f"/api/v1/audits/{w.audit.pk}/reviews/",
        {"decision": "reject", "rationale": "Recall for women is far below."},
        format="json",
    )
    check = _gate_check(api, world)
    assert check["passed"] is False
    assert "rejected audit" in check["detail"] and "Recall for women" in check["detail"]


def test_a_tampered_result_cannot_be_approved(api, world):
    w = world["a"]
    result = dict(w.audit.result, rows=1)
    AuditRun.objects.filter(pk=w.audit.pk).update(result=result)
    auditor = _as(api, w.people[Role.AUDITOR])
    response = auditor.post(
        f"/api/v1/audits/{w.audit.pk}/reviews/",
        {"decision": "approve", "rationale": "ok"},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "result_changed"
    assert w.audit.reviews.count() == 1  # the world's own approval only
    # The approval on record no longer opens the gate either.
    check = _gate_check(auditor, world)
    assert not check["passed"] and "no longer matches its hash" in check["detail"]


def test_someone_who_builds_the_model_cannot_review_it_even_as_auditor(api, world):
    """An ML engineer of the owning team, also given the auditor role in person."""
    from projects.services import teams

    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    owner = w.people[Role.BUSINESS_OWNER]
    # The owning team cannot be shared to; a person of it can be named auditor separately
    # only through another team, so grant the audit right through team B's share.
    teams.project_share(actor=owner, project=w.project, role=Role.AUDITOR, team=world["b"].team)
    teams.membership_add(actor=None, team=world["b"].team, user=engineer, role=Role.AUDITOR)
    response = _as(api, engineer).post(
        f"/api/v1/audits/{w.audit.pk}/reviews/",
        {"decision": "approve", "rationale": "Looks fine to me."},
        format="json",
    )
    assert response.status_code == 403
    assert "outside the team" in response.json()["detail"]


def test_reviews_are_never_edited(world):
    w = world["a"]
    review = AuditReview.objects.create(
        audit=w.audit,
        decision="approve",
        rationale="fine",
        result_sha256=w.audit.result_sha256,
        reviewer=w.people[Role.AUDITOR],
    )
    review.rationale = "changed my mind"
    with pytest.raises(ValueError, match="cannot be changed"):
        review.save()


def test_thresholds_left_out_of_a_change_keep_their_current_values(api, world):
    w = world["a"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    url = f"/api/v1/projects/{w.project.slug}/audit-configs/"
    first = {"thresholds": {"min_recall": {"limit": 0.6, "rationale": "Missed defaults."}}}
    assert engineer.post(url, first, format="json").status_code == 201
    second = {"thresholds": {"demographic_parity_difference": {"limit": 0.05, "rationale": "P"}}}
    response = engineer.post(url, second, format="json")
    assert response.status_code == 201
    thresholds = response.json()["thresholds"]
    assert thresholds["min_recall"] == {"limit": 0.6, "rationale": "Missed defaults."}
    assert thresholds["demographic_parity_difference"]["limit"] == 0.05
    assert response.json()["sensitive_features"] == ["sex"]


def test_the_gate_judges_the_model_marked_as_candidate(api, world):
    w = world["a"]
    engineer = _as(api, w.people[Role.ML_ENGINEER])
    assert _gate_check(engineer, world)["passed"] is True
    newer = evaluations.model_register(
        actor=w.people[Role.ML_ENGINEER], project=w.project, name="scorer", version="2"
    )
    assert _gate_check(engineer, world)["passed"] is True  # registering is not proposing
    response = engineer.post(f"/api/v1/models/{newer.pk}/candidate/")
    assert response.status_code == 200, response.json()
    assert response.json()["is_candidate"] is True
    check = _gate_check(engineer, world)
    assert not check["passed"]
    assert "Evaluate scorer 2, the candidate model" in check["detail"]
    event = Event.objects.filter(verb="model.marked_candidate").latest("seq")
    assert event.payload == {"model": "scorer 2", "previous": "scorer 1"}


def test_a_read_only_token_reads_the_inbox(api, world):
    from projects.services import tokens

    w = world["a"]
    audit = _run(world, _upload(world, _frame()))
    _, key = tokens.token_create(user=w.people[Role.AUDITOR], name="inbox", scopes=["read"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    inbox = api.get("/api/v1/audits/inbox/").json()["results"]
    assert [a["id"] for a in inbox] == [audit.pk]
