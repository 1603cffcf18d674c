"""Evaluation rigor: a model's training data, evaluations on it flagged everywhere they show,
the gate's independence rule, and the candidate below the best baseline on the primary
metric (the first ML criterion of the current criteria version, in written order)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.http import HttpRequest
from sklearn import metrics as skm

from audits.services.packs import pack_html, pack_request
from audits.snapshot import pack_state
from projects import selectors
from projects.analysis.rigor import (
    BASELINE_STANDING,
    INDEPENDENCE,
    EvaluatedData,
    baseline_standing,
    baseline_standing_check,
    independence_check,
    primary_ml_criterion,
    training_overlap,
)
from projects.models import Dataset, DatasetVersion, Evaluation, Event, ModelVersion, Project, Role
from projects.services import evaluations
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import PASSWORD, TeamWorld, make_audit, make_dataset, make_version


# --- The pure rules ------------------------------------------------------------------------
def _data(**changes) -> EvaluatedData:
    """Evaluation 12 of credit-test v1 (test data), for a model trained on credit-train v2."""
    fields = {
        "evaluation_id": 12,
        "version_id": 30,
        "version": "credit-test v1",
        "purpose": "test",
        "training_id": 20,
        "training": "credit-train v2",
        "ancestor_ids": frozenset({5}),
    }
    return EvaluatedData(**{**fields, **changes})


def test_it_passes_an_unrelated_test_version():
    check = independence_check(_data())
    assert check == (
        check.__class__(
            INDEPENDENCE,
            True,
            "Evaluation 12 is on credit-test v1 (test data), neither credit-train v2, the "
            "model's training data, nor derived from it.",
        )
    )
    assert training_overlap(_data()) == ""
    assert independence_check(_data(purpose="validation")).passed


def test_it_fails_an_evaluation_on_the_training_version_itself():
    data = _data(version_id=20, version="credit-train v2", purpose="training")
    check = independence_check(data)
    assert not check.passed
    assert check.detail.startswith(
        "Evaluation 12 is on credit-train v2, the model's training data; evaluate the model "
        "on validation or test data"
    )
    assert (
        training_overlap(data) == "evaluation 12 is on credit-train v2, the model's training data"
    )


def test_it_fails_a_version_derived_from_the_training_data_two_levels_down():
    # credit-train v2 -> features v1 -> credit-test v1: the test version's grandparent.
    data = _data(ancestor_ids=frozenset({20, 21, 5}))
    check = independence_check(data)
    assert not check.passed
    assert check.detail.startswith(
        "Evaluation 12 is on credit-test v1, derived from credit-train v2, the model's "
        "training data;"
    )


def test_it_fails_a_held_out_version_the_training_data_was_made_from():
    # credit-test v1 was merged into credit-train v2: the model learnt from its rows.
    data = _data(training_ancestor_ids=frozenset({30, 7}))
    check = independence_check(data)
    assert not check.passed
    assert check.detail.startswith(
        "Evaluation 12 is on credit-test v1, which credit-train v2, the model's training data, "
        "was made from;"
    )


def test_a_lineage_too_deep_to_follow_fails_closed():
    check = independence_check(_data(lineage_complete=False))
    assert not check.passed and "deeper than the portal follows" in check.detail


def test_it_fails_any_version_of_training_data():
    data = _data(version="loans v1", purpose="training")
    check = independence_check(data)
    assert not check.passed
    assert "Evaluation 12 is on loans v1, a version of training data" in check.detail
    assert training_overlap(data) == "evaluation 12 is on loans v1, a version of training data"


def test_it_fails_when_the_training_data_is_not_recorded():
    check = independence_check(_data(training_id=None, training=""))
    assert not check.passed
    assert check.detail == (
        "The model's training data is not recorded, so evaluation 12 on credit-test v1 cannot "
        "be shown to be independent of it; record the model's training data on its page."
    )


def test_it_fails_data_that_is_not_held_out_for_judging():
    check = independence_check(_data(purpose="production_sample"))
    assert not check.passed
    assert "credit-test v1, production-sample data" in check.detail
    assert not independence_check(None).passed


def test_the_primary_metric_is_the_first_ml_criterion_in_written_order():
    criteria = [
        {"metric": "p95_latency_ms", "category": "software"},
        {"metric": "recall", "category": "ml"},
        {"metric": "roc_auc", "category": "ml"},
    ]
    assert primary_ml_criterion(criteria)["metric"] == "recall"
    assert primary_ml_criterion(criteria[:1]) is None


def _standing(**changes):
    fields = {
        "evaluation_id": 7,
        "criteria_version": 3,
        "metric": "f1",
        "label": "F1 score",
        "higher_is_better": True,
        "value": 0.71,
        "baseline": "Rules",
        "baseline_value": 0.75,
    }
    return baseline_standing(**{**fields, **changes})


def test_it_flags_a_value_below_the_best_baseline_in_the_metrics_direction():
    below = _standing()
    assert below.below
    assert below.detail == (
        "Below the best baseline: evaluation 7's F1 score is 0.7100 against 0.7500 of Rules, "
        "the best baseline (higher is better). F1 score is the primary metric: the first ML "
        "criterion of criteria v3, in written order."
    )
    assert not _standing(value=0.75).below  # level with it is not below
    # Log loss: lower is better, so a higher value is the worse one.
    loss = {"metric": "log_loss", "label": "Log loss", "higher_is_better": False}
    assert _standing(**loss, value=0.5, baseline_value=0.4).below
    assert not _standing(**loss, value=0.3, baseline_value=0.4).below
    # The gate's check says it and holds nothing.
    check = baseline_standing_check(below)
    assert (check.name, check.passed) == (BASELINE_STANDING, True)
    assert check.detail == below.detail


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"criteria_version": None}, "no success criteria name a primary metric"),
        ({"metric": "", "label": ""}, "criteria v3 have no ML criterion"),
        ({"evaluation_id": None, "value": None}, "no finished evaluation"),
        ({"value": None}, "evaluation 7 does not report it"),
        ({"baseline_value": None, "baseline": ""}, "no baseline on record reports it"),
    ],
)
def test_it_says_why_it_did_not_compare(changes, words):
    standing = _standing(**changes)
    assert not standing.below
    assert standing.detail.startswith("Not compared: ") and words in standing.detail


# --- Through the database and HTTP ---------------------------------------------------------


def _as(api, user):
    api.force_authenticate(user)
    return api


def _login(client, user):
    # Login protection (axes) checks every authentication against a request.
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
    return client


def _evaluate(model: ModelVersion, version: DatasetVersion, frame: pd.DataFrame) -> Evaluation:
    """Predictions for ``frame`` (the rows of ``version``), scored now as the worker would."""
    evaluation = evaluations.evaluation_upload(
        actor=model.created_by,
        model=model,
        dataset_version=version,
        upload=upload_from_bytes("p.csv", predictions_csv(frame, seed=len(frame) + version.pk)),
        mapping={"y_true": "label", "y_pred": "prediction", "y_score": "score"},
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def _check(project: Project, name: str):
    fresh = Project.objects.get(pk=project.pk)
    return next(c for c in selectors.project_gate(fresh).checks if c.name == name)


@pytest.mark.django_db
def test_it_walks_the_lineage_up_one_query_per_level(world, django_assert_num_queries):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    features = make_dataset(a.project, engineer, "features")
    middle = make_version(features, engineer, sample_csv(seed=5), parents=[a.training])
    lowest = make_version(a.dataset, engineer, sample_csv(seed=5), parents=[middle])
    with django_assert_num_queries(3):  # two levels of parents, and the empty third
        found = selectors.version_ancestors([lowest.pk, a.version.pk])
    assert found == {lowest.pk: {middle.pk, a.training.pk}, a.version.pk: frozenset()}


@pytest.mark.django_db
def test_a_walk_cut_short_says_it_cannot_tell(world, monkeypatch):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    features = make_dataset(a.project, engineer, "features")
    middle = make_version(features, engineer, sample_csv(seed=5), parents=[a.training])
    lowest = make_version(a.dataset, engineer, sample_csv(seed=5), parents=[middle])
    # One level read: the training version's own parents were never looked at.
    monkeypatch.setattr("projects.selectors.rigor.LINEAGE_LEVELS", 1)
    assert selectors.version_ancestors([lowest.pk, middle.pk]) == {
        lowest.pk: None,
        middle.pk: None,
    }
    monkeypatch.setattr("projects.selectors.rigor.LINEAGE_LEVELS", 3)
    assert selectors.version_ancestors([lowest.pk, middle.pk]) == {
        lowest.pk: {middle.pk, a.training.pk},
        middle.pk: {a.training.pk},
    }


@pytest.mark.django_db
def test_the_gate_refuses_held_out_data_merged_into_the_training_data(world):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    # The test version is folded into a new training version, and the model is said to be
    # trained on that one.
    merged = make_version(
        make_dataset(a.project, engineer, "final-train", purpose=Dataset.Purpose.TRAINING),
        engineer,
        sample_csv(seed=9),
        parents=[a.training, a.version],
    )
    ModelVersion.objects.filter(pk=a.model.pk).update(training_data=merged)
    check = _check(a.project, INDEPENDENCE)
    assert not check.passed
    assert check.detail.startswith(
        f"Evaluation {a.evaluation.pk} is on loans v1, which final-train v1, the model's "
        "training data, was made from;"
    )


@pytest.mark.django_db
def test_the_worlds_candidate_is_judged_on_held_out_data(world):
    a = world["a"]
    check = _check(a.project, INDEPENDENCE)
    assert check.passed
    assert check.detail == (
        f"Evaluation {a.evaluation.pk} is on loans v1 (test data), neither loans-train v1, "
        "the model's training data, nor derived from it."
    )
    standing = _check(a.project, BASELINE_STANDING)
    assert standing.passed and standing.detail.startswith("At or above the best baseline")


@pytest.mark.django_db
def test_the_gate_refuses_a_candidate_evaluated_on_its_training_data(world, api):
    a = world["a"]
    evaluation = _evaluate(a.model, a.training, sample_frame(seed=5))
    check = _check(a.project, INDEPENDENCE)
    assert not check.passed
    assert check.detail.startswith(
        f"Evaluation {evaluation.pk} is on loans-train v1, the model's training data;"
    )
    gate = _as(api, a.people[Role.VIEWER]).get(f"/api/v1/projects/{a.project.slug}/gates/")
    listed = {c["name"]: c for c in gate.json()["checks"]}
    answered = listed[INDEPENDENCE]
    assert (answered["passed"], answered["detail"]) == (False, check.detail)
    # The failing check names its next step and the page where it is taken.
    assert answered["key"] == "evaluation.independence"
    assert answered["next_url"].endswith(f"/evaluations/{evaluation.pk}/")
    assert not gate.json()["passed"]


@pytest.mark.django_db
def test_the_gate_refuses_a_test_version_derived_from_the_training_data(world):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    features = make_dataset(a.project, engineer, "features")
    middle = make_version(features, engineer, sample_csv(seed=5), parents=[a.training])
    derived = make_version(a.dataset, engineer, sample_csv(seed=5), parents=[middle])
    evaluation = _evaluate(a.model, derived, sample_frame(seed=5))
    check = _check(a.project, INDEPENDENCE)
    assert not check.passed
    assert check.detail.startswith(
        f"Evaluation {evaluation.pk} is on loans v2, derived from loans-train v1, the model's "
        "training data;"
    )


@pytest.mark.django_db
def test_it_flags_an_evaluation_on_training_data_on_every_page_and_in_the_api(world, api, client):
    a = world["a"]
    evaluation = _evaluate(a.model, a.training, sample_frame(seed=5))
    why = f"evaluation {evaluation.pk} is on loans-train v1, the model's training data"

    body = _as(api, a.people[Role.VIEWER]).get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert body["on_training_data"] is True
    assert body["data_independence"].startswith(why[0].upper() + why[1:])
    held_out = api.get(f"/api/v1/evaluations/{a.evaluation.pk}/").json()
    assert held_out["on_training_data"] is False
    assert "neither loans-train v1" in held_out["data_independence"]
    listed = api.get(f"/api/v1/models/{a.model.pk}/evaluations/").json()["results"]
    assert {e["id"]: e["on_training_data"] for e in listed}[evaluation.pk] is True
    assert sum(e["on_training_data"] for e in listed) == 1

    _login(client, a.people[Role.VIEWER])
    page = client.get(f"/evaluations/{evaluation.pk}/").content.decode()
    assert "Evaluated on training data" in page
    assert f"{why[0].upper()}{why[1:]}." in page.replace("&#x27;", "'")
    other = client.get(f"/evaluations/{a.evaluation.pk}/").content.decode()
    assert "Evaluated on training data" not in other and "Held-out data" in other
    model_page = client.get(f"/models/{a.model.pk}/").content.decode()
    assert model_page.count("On training data</span>") == 1
    assert "loans-train v1" in model_page  # the model's training data, with a link
    # An audit of it says so too.
    audit = make_audit(evaluation, a.people[Role.ML_ENGINEER])
    audit_page = client.get(f"/audits/{audit.pk}/").content.decode()
    assert "Evaluated on training data" in audit_page
    assert "Evaluated on training data" not in client.get(f"/audits/{a.audit.pk}/").content.decode()


@pytest.mark.django_db
def test_it_flags_a_candidate_below_the_best_baseline_with_the_stored_numbers(world, api, client):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    evaluations.baseline_record(
        actor=engineer,
        project=a.project,
        kind="human_level",
        name="Analysts",
        metric="f1",
        value=0.99,
    )
    # The number the evaluation stored is scikit-learn's F1 of the same predictions.
    content = predictions_csv(sample_frame())
    frame = pd.read_csv(io.BytesIO(content))
    expected = skm.f1_score(frame["label"], frame["prediction"])
    assert a.evaluation.metrics["f1"] == pytest.approx(expected, rel=1e-12)
    text = (
        f"Below the best baseline: evaluation {a.evaluation.pk}'s F1 score is {expected:.4f} "
        "against 0.9900 of Analysts, the best baseline (higher is better). F1 score is the "
        f"primary metric: the first ML criterion of criteria v{a.criteria.version}, in written "
        "order."
    )
    check = _check(a.project, BASELINE_STANDING)
    assert (check.passed, check.detail) == (True, text)

    body = _as(api, a.people[Role.VIEWER]).get(f"/api/v1/evaluations/{a.evaluation.pk}/").json()
    standing = body["baseline_standing"]
    assert standing["below"] is True and standing["metric"] == "f1"
    assert standing["value"] == pytest.approx(expected, rel=1e-12)
    assert (standing["baseline"], standing["baseline_value"]) == ("Analysts", 0.99)

    _login(client, a.people[Role.VIEWER])
    page = client.get(f"/evaluations/{a.evaluation.pk}/").content.decode().replace("&#x27;", "'")
    assert "Below the best baseline</span>" in page and text in page


def _pack_html(w: TeamWorld) -> str:
    pack, _ = pack_request(actor=w.people[Role.BUSINESS_OWNER], project=w.project)
    return pack_html(pack.snapshot, pack.pk, pack.snapshot_sha256).replace("&#x27;", "'")


@pytest.mark.django_db
def test_the_pack_shows_the_flags_in_its_evidence_and_memo(world):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    state = pack_state(a.project)
    # Nothing flagged: the evaluation carries no flag keys, so such states keep their hash.
    assert not {"on_training_data", "below_baseline"} & set(state["candidate"]["evaluation"])
    assert state["candidate"]["model"]["training_data"] == "loans-train v1"
    html = _pack_html(a)
    assert "<th>Training data</th><td>loans-train v1</td>" in html
    assert "Flagged" not in html and "neither loans-train v1" in html

    evaluations.baseline_record(
        actor=engineer,
        project=a.project,
        kind="human_level",
        name="Analysts",
        metric="f1",
        value=0.99,
    )
    evaluation = _evaluate(a.model, a.training, sample_frame(seed=5))
    state = pack_state(a.project)["candidate"]["evaluation"]
    why = f"evaluation {evaluation.pk} is on loans-train v1, the model's training data"
    assert state["on_training_data"] == why
    assert state["below_baseline"]["below"] is True
    html = _pack_html(a)
    evidence = html[html.index('<section id="evaluation"') :]
    assert f"Evaluated on training data:</strong> {why[0].upper()}{why[1:]}." in evidence
    assert f"Below the best baseline: evaluation {evaluation.pk}'s F1 score" in evidence
    start = html.index('<section id="memo"')
    memo = html[start : html.index("</section>", start)]
    summary = memo[memo.index("Candidate's evaluation") :]
    assert f'<span class="status not_met">Flagged</span> Evaluated on training data: {why}.' in (
        summary
    )
    assert "Flagged</span> Below the best baseline" in summary


@pytest.mark.django_db
def test_a_model_without_training_data_adds_nothing_to_the_pack_state(world):
    a = world["a"]
    evaluations.model_mark_candidate(actor=a.people[Role.ML_ENGINEER], model=a.spare_model)
    model = pack_state(a.project)["candidate"]["model"]
    assert "training_data" not in model and "training_data_id" not in model
    check = _check(a.project, INDEPENDENCE)
    assert (check.passed, check.detail) == (
        False,
        "The candidate model has no finished evaluation to judge.",
    )


# --- Recording the training data: API and web ---------------------------------------------
def _register(api, world, **body):
    url = f"/api/v1/projects/{world['a'].project.slug}/models/"
    return _as(api, world["a"].people[Role.ML_ENGINEER]).post(
        url, {"name": "gbm", "version": "3", **body}, format="json"
    )


@pytest.mark.django_db
def test_it_registers_a_model_with_its_training_data_through_the_api(world, api):
    a = world["a"]
    response = _register(api, world, training_data=a.training.pk)
    assert response.status_code == 201, response.json()
    assert response.json()["training_data"] == a.training.pk
    model = ModelVersion.objects.get(pk=response.json()["id"])
    assert model.training_data == a.training
    event = Event.objects.get(verb="model.registered", target_id=str(model.pk))
    assert event.payload["training_data"] == a.training.pk
    assert event.payload["training_data_version"] == "loans-train v1"
    assert api.get(f"/api/v1/models/{model.pk}/").json()["training_data"] == a.training.pk
    # Left out, it is not recorded.
    without = _register(api, world, version="4")
    assert without.status_code == 201 and without.json()["training_data"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["other team's", "missing"])
def test_it_refuses_training_data_that_is_not_the_projects_through_the_api(world, api, which):
    target = world["b"].training.pk if which == "other team's" else 10**8
    before = ModelVersion.objects.count()
    response = _register(api, world, training_data=target)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_training_data"
    # The same answer either way: an id reveals nothing of another team's data.
    assert response.json()["detail"] == (
        f"No dataset version {target} in project a-project: training_data must be the id of a "
        "version of this project's data, the one the model was trained on."
    )
    assert ModelVersion.objects.count() == before


@pytest.mark.django_db
def test_it_refuses_a_training_data_id_that_is_not_a_number(world, api):
    response = _register(api, world, training_data="loans-train v1")
    assert response.status_code == 400
    assert "training_data" in str(response.json())


@pytest.mark.django_db
def test_it_registers_a_model_with_its_training_data_on_the_page(world, client):
    a = world["a"]
    _login(client, a.people[Role.ML_ENGINEER])
    page = client.get(f"/projects/{a.project.slug}/models/").content.decode()
    assert 'name="training_data"' in page and "loans-train v1" in page
    response = client.post(
        f"/projects/{a.project.slug}/models/",
        {"name": "gbm", "version": "3", "training_data": a.training.pk},
    )
    model = ModelVersion.objects.get(project=a.project, name="gbm", version="3")
    assert response.status_code == 302 and response.url == model.get_absolute_url()
    assert model.training_data == a.training
    shown = client.get(model.get_absolute_url()).content.decode()
    assert f'<a href="{a.training.get_absolute_url()}">loans-train v1</a>' in shown


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["other team's", "missing"])
def test_it_refuses_training_data_that_is_not_the_projects_on_the_page(world, client, which):
    a = world["a"]
    target = world["b"].training.pk if which == "other team's" else 10**8
    _login(client, a.people[Role.ML_ENGINEER])
    response = client.post(
        f"/projects/{a.project.slug}/models/",
        {"name": "gbm", "version": "3", "training_data": target},
    )
    assert response.status_code == 400
    assert (
        f"Dataset version {target} is not one of this project&#x27;s; choose the version the "
        "model was trained on." in response.content.decode()
    )
    assert not ModelVersion.objects.filter(project=a.project, name="gbm").exists()


@pytest.mark.django_db
def test_the_training_data_choices_are_the_projects_own(world, client):
    a, b = world["a"], world["b"]
    _login(client, a.people[Role.ML_ENGINEER])
    page = client.get(f"/projects/{a.project.slug}/models/").content.decode()
    assert f'value="{a.training.pk}"' in page
    assert f'value="{b.training.pk}"' not in page
    assert Dataset.objects.get(pk=a.dataset.pk).purpose == Dataset.Purpose.TEST


def test_a_model_registered_without_training_data_records_it_once(world, api, client):
    a, b = world["a"], world["b"]
    engineer = a.people[Role.ML_ENGINEER]
    url = f"/api/v1/models/{a.spare_model.pk}/"
    api = _as(api, engineer)
    other = api.patch(url, {"training_data": b.training.pk}, format="json")
    assert other.status_code == 400 and other.json()["code"] == "invalid_training_data"
    missing = api.patch(url, {}, format="json")
    assert missing.status_code == 400
    done = api.patch(url, {"training_data": a.training.pk}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["training_data"] == a.training.pk
    event = Event.objects.get(verb="model.training_data_recorded")
    assert event.payload == {
        "training_data": a.training.pk,
        "training_data_version": str(a.training),
    }
    # What a model learnt from does not change.
    again = api.patch(url, {"training_data": a.version.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "training_data_recorded"
    assert ModelVersion.objects.get(pk=a.spare_model.pk).training_data_id == a.training.pk

    # On the page: the form shows while it is not recorded, and records it once.
    fresh = evaluations.model_register(
        actor=engineer, project=a.project, name="scorer", version="7"
    )
    _login(client, engineer)
    page = client.get(f"/models/{fresh.pk}/").content.decode()
    assert "Record the training data" in page
    posted = client.post(f"/models/{fresh.pk}/training-data/", {"training_data": a.training.pk})
    assert posted.status_code == 302
    assert ModelVersion.objects.get(pk=fresh.pk).training_data_id == a.training.pk
    assert "Record the training data" not in client.get(f"/models/{fresh.pk}/").content.decode()
    viewer = _as(api, a.people[Role.VIEWER])
    assert viewer.patch(url, {"training_data": a.training.pk}, format="json").status_code == 403
