"""Mitigation options through HTTP: asking for ThresholdOptimizer on a failing audit, the
worker's result, the audit page, and every refusal with a clear message."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer

from audits.analysis.mitigation import RANDOM_STATE, UploadedScores
from audits.models import Mitigation
from audits.services.fairness import audit_config_save, audit_request
from audits.services.mitigation import mitigation_run
from projects.models import Event, Project, Role
from tests.data import predictions_csv, sample_frame
from tests.factories import STRICT_AUDIT, make_audit, make_evaluation, make_failing_audit


def _as(api, user):
    api.force_authenticate(user)
    return api


def _url(audit) -> str:
    return f"/api/v1/audits/{audit.pk}/mitigation/"


def _evaluation(a, content: bytes, **mapping):
    """A finished evaluation of team A's model on its dataset version."""
    mapping = {"y_score": None, **mapping}
    evaluation = make_evaluation(a.model, a.version, a.people[Role.ML_ENGINEER], content, **mapping)
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def _failing(a, evaluation):
    """``evaluation`` audited under a configuration it cannot meet."""
    engineer = a.people[Role.ML_ENGINEER]
    audit_config_save(actor=engineer, project=a.project, changes=STRICT_AUDIT, note="Strict.")
    audit = make_audit(evaluation, engineer)
    assert audit.verdict in ("fail", "insufficient_evidence"), audit.verdict
    return audit


def _mitigated(api, a):
    """A failing audit of team A's candidate with its mitigation options computed."""
    audit = make_failing_audit(a)
    response = _as(api, a.people[Role.ML_ENGINEER]).post(_url(audit))
    assert response.status_code == 202, response.json()
    mitigation_run(mitigation_id=response.json()["id"])
    return audit


# --- Asking and running -------------------------------------------------------------------
def test_it_runs_thresholdoptimizer_for_a_failing_audit(api, world):
    a = world["a"]
    audit = make_failing_audit(a)
    engineer = _as(api, a.people[Role.ML_ENGINEER])

    response = engineer.post(_url(audit))

    assert response.status_code == 202, response.json()
    assert response["Location"] == response.json()["url"]
    assert response.json()["url"].endswith(_url(audit))
    assert response.json()["status"] == "queued" and response.json()["audit"] == audit.pk
    again = engineer.post(_url(audit))
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    mitigation_run(mitigation_id=response.json()["id"])
    body = engineer.get(_url(audit)).json()
    assert body["status"] == "succeeded", body["error"]
    result = body["result"]
    assert result["audit"] == {"id": audit.pk, "result_sha256": audit.result_sha256}
    assert result["evaluation"]["id"] == a.evaluation.pk
    assert [f["feature"] for f in result["features"]] == ["sex"]
    names = [o["name"] for o in result["features"][0]["options"]]
    assert names == ["original", "demographic_parity", "equalized_odds"]
    verbs = list(
        Event.objects.filter(target_type="audits.mitigation").values_list("verb", flat=True)
    )
    assert sorted(verbs) == ["mitigation.finished", "mitigation.requested"]


def test_the_stored_figures_equal_fairlearn_run_directly_on_the_uploaded_file(api, world):
    a = world["a"]
    audit = _mitigated(api, a)
    result = _as(api, a.people[Role.VIEWER]).get(_url(audit)).json()["result"]
    uploaded = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    y, pred, groups = uploaded["label"], uploaded["prediction"], uploaded["sex"]
    X = uploaded[["score"]].to_numpy()
    feature = result["features"][0]
    assert feature["options"][0]["accuracy"] == pytest.approx(np.mean(y == pred), abs=1e-12)
    for index, constraint in ((1, "demographic_parity"), (2, "equalized_odds")):
        optimizer = ThresholdOptimizer(
            estimator=UploadedScores(),
            constraints=constraint,
            prefit=True,
            predict_method="predict",
        ).fit(X, y, sensitive_features=groups)
        after = optimizer.predict(X, sensitive_features=groups, random_state=RANDOM_STATE)
        option = feature["options"][index]
        assert option["accuracy"] == pytest.approx(np.mean(after == y), abs=1e-12)
        assert option["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(y, after, sensitive_features=groups), abs=1e-12
        )
        assert option["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(y, after, sensitive_features=groups), abs=1e-12
        )
        fitted = optimizer.interpolated_thresholder_.interpolation_dict
        for row in feature["groups"]:
            stored = row["outcomes"][index]["rule"]["operations"][0]
            assert stored["threshold"] == pytest.approx(fitted[row["group"]].operation0.threshold)
            assert stored["probability"] == pytest.approx(fitted[row["group"]].p0)


def test_a_failed_run_may_be_asked_for_again(api, world):
    a = world["a"]
    audit = make_failing_audit(a)
    engineer = _as(api, a.people[Role.ML_ENGINEER])
    first = engineer.post(_url(audit)).json()["id"]
    Mitigation.objects.filter(pk=first).update(status="failed", error="The worker died.")
    assert engineer.get(_url(audit)).json()["error"] == "The worker died."

    again = engineer.post(_url(audit))

    assert again.status_code == 202 and again.json()["id"] != first


# --- Refusals -----------------------------------------------------------------------------
def _refused(api, user, audit, status: int, code: str) -> str:
    events = Event.objects.count()
    response = _as(api, user).post(_url(audit))
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert not Mitigation.objects.filter(audit=audit).exists()
    assert Event.objects.count() == events
    return response.json()["detail"]


def test_it_refuses_an_evaluation_without_scores_with_a_clear_message(api, client, world):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    unscored = _evaluation(a, predictions_csv(sample_frame()))  # no y_score mapped
    audit = _failing(a, unscored)

    detail = _refused(api, engineer, audit, 400, "no_scores")

    assert f"Evaluation {unscored.pk} has no scores" in detail and "y_score" in detail
    client.force_login(engineer)
    page = client.get(f"/audits/{audit.pk}/").content.decode()
    assert "has no scores" in page and "Compute mitigation options" not in page
    response = client.post(f"/audits/{audit.pk}/mitigation/", follow=True)
    assert "has no scores" in response.content.decode()
    assert not Mitigation.objects.filter(audit=audit).exists()


def test_it_refuses_a_passing_audit(api, world):
    a = world["a"]
    assert a.audit.verdict == "pass"
    detail = _refused(api, a.people[Role.ML_ENGINEER], a.audit, 409, "not_failing")
    assert "for a failing audit" in detail


def test_it_refuses_an_audit_of_a_regression_model(api, world):
    a = world["a"]
    Project.objects.filter(pk=a.project.pk).update(task_type="regression")
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    frame["prediction"] = frame["score"]  # a number per row, as a regressor gives
    evaluation = _evaluation(a, frame.to_csv(index=False).encode(), y_score="score")
    assert evaluation.task == "regression"
    audit = make_audit(evaluation, a.people[Role.ML_ENGINEER])
    assert audit.kind == "regression"

    detail = _refused(api, a.people[Role.ML_ENGINEER], audit, 400, "regression")

    assert "regression model" in detail and "classifier" in detail


def test_it_refuses_an_audit_that_has_not_finished(api, world):
    a = world["a"]
    audit_config_save(
        actor=a.people[Role.ML_ENGINEER], project=a.project, changes=STRICT_AUDIT, note="Strict."
    )
    queued, _ = audit_request(actor=a.people[Role.ML_ENGINEER], evaluation=a.evaluation)
    detail = _refused(api, a.people[Role.ML_ENGINEER], queued, 409, "not_ready")
    assert "once it has a verdict" in detail


def test_it_validates_ownership(api, world):
    a, b = world["a"], world["b"]
    audit = make_failing_audit(a)
    assert _as(api, b.people[Role.ML_ENGINEER]).post(_url(audit)).status_code == 404
    assert _as(api, a.people[Role.VIEWER]).post(_url(audit)).status_code == 403
    assert _as(api, a.people[Role.AUDITOR]).post(_url(audit)).status_code == 403
    assert _as(api, b.people[Role.VIEWER]).get(_url(audit)).status_code == 404
    assert not Mitigation.objects.exists()


def test_it_answers_404_until_someone_asks(api, world):
    a = world["a"]
    audit = make_failing_audit(a)
    response = _as(api, a.people[Role.VIEWER]).get(_url(audit))
    assert response.status_code == 404
    assert "no mitigation options yet" in response.json()["detail"]


# --- The audit page -----------------------------------------------------------------------
def test_the_button_shows_for_a_failing_audit_and_those_who_may_ask(client, world):
    a = world["a"]
    audit = make_failing_audit(a)
    client.force_login(a.people[Role.ML_ENGINEER])
    assert "Compute mitigation options" in client.get(f"/audits/{audit.pk}/").content.decode()
    passing = client.get(f"/audits/{a.audit.pk}/").content.decode()
    assert "Mitigation options" not in passing
    client.force_login(a.people[Role.VIEWER])
    page = client.get(f"/audits/{audit.pk}/").content.decode()
    assert "Compute mitigation options" not in page and "can ask for them" in page


def test_the_page_asks_then_shows_the_table_and_the_chart(client, world):
    a = world["a"]
    audit = make_failing_audit(a)
    client.force_login(a.people[Role.ML_ENGINEER])

    response = client.post(f"/audits/{audit.pk}/mitigation/")

    assert response.status_code == 302
    assert response["Location"] == f"/audits/{audit.pk}/#mitigation"
    mitigation = Mitigation.objects.get(audit=audit)
    status = client.get(f"/audits/{audit.pk}/mitigation/status/").content.decode()
    assert "Queued" in status and "hx-get" in status
    mitigation_run(mitigation_id=mitigation.pk)
    status = client.get(f"/audits/{audit.pk}/mitigation/status/").content.decode()
    # Done: the fragment stops polling and swaps the page's mitigation section in.
    assert 'hx-trigger="every' not in status and 'hx-select="#mitigation-live"' in status
    page = client.get(f"/audits/{audit.pk}/").content.decode()
    assert 'id="mitigation"' in page
    assert page.count('class="point ') >= 2 * 3  # the chart's markers
    assert "Demographic parity" in page and "Equalized odds" in page and "score &gt;" in page
    option = Mitigation.objects.get(pk=mitigation.pk).result["features"][0]["options"]
    assert f"{option[1]['accuracy']:.4f}" in page
    assert "<script" not in page.split('id="mitigation"')[1].split("</section>")[0]
    assert "Compute mitigation options" not in page  # asked already


def test_the_partial_needs_only_the_result_and_the_chart(api, world):
    """What an approval pack will pass it: the stored dict and its SVG, nothing else."""
    from django.template.loader import render_to_string

    from audits.analysis.mitigation_charts import tradeoff_svg

    a = world["a"]
    audit = _mitigated(api, a)
    result = Mitigation.objects.get(audit=audit).result
    html = render_to_string(
        "audits/_mitigation.html", {"mitigation": result, "mitigation_svg": tradeoff_svg(result)}
    )
    assert "<svg" in html and 'By <span class="mono">sex</span>' in html
    assert html.count("<tbody>") == 1 + len(result["features"][0]["groups"])


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_the_approval_pack_carries_the_options_and_shows_them(api, world):
    from audits.snapshot import pack_state
    from tests.factories import make_pack

    a = world["a"]
    audit = _mitigated(api, a)
    stored = Mitigation.objects.get(audit=audit).result
    state = pack_state(a.project)
    assert state["audit"]["id"] == audit.pk
    assert state["audit"]["mitigation"] == stored
    pack = make_pack(a)
    assert pack.status == "succeeded", pack.error
    assert "Mitigation options (fairlearn ThresholdOptimizer)" in pack.html
    assert "Demographic parity" in pack.html and "Equalized odds" in pack.html
    dp = stored["features"][0]["options"][1]
    assert f"{dp['accuracy']:.4f}" in pack.html
    assert "<svg" in pack.html.split("Mitigation options")[1]
