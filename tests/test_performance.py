"""Performance in production: estimated from each period's scores before labels arrive,
realized once delayed labels join by prediction id (unmatched ids counted and named), the
group metrics of the audit over the labelled rows, and decay against the reference
evaluation firing and resolving the spec's alert. Numbers against scikit-learn and
fairlearn on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from deployments.analysis.estimate import estimate, fit_reference
from deployments.analysis.performance import (
    decay_of,
    id_text,
    join_labels,
    labels_by_id,
)
from deployments.analysis.plan import clean_plan
from deployments.analysis.plan_fields import PlanError
from deployments.models import Alert, LabelBatch, MetricPoint, ProductionPeriod
from deployments.services.performance import label_batch_run, reference_data
from deployments.services.production import production_metrics_run
from projects.models import Event, Role
from tests.factories import make_dataset, make_deployment, make_version, plan_content

START = datetime(2026, 11, 1, tzinfo=UTC)

# --- The pure core ---------------------------------------------------------------------------


def test_ids_compare_as_text_whatever_the_reader_made_of_them():
    assert id_text(pd.Series([17, 18])).tolist() == ["17", "18"]
    assert id_text(pd.Series([17.0, np.nan, 2.5])).tolist() == ["17", pd.NA, "2.5"]
    assert id_text(pd.Series([" a1 ", "", None])).tolist() == ["a1", pd.NA, pd.NA]
    # Past 2**53 a float rounds: large integer ids stay whole and apart.
    big = pd.Series([2**53 + 1, 2**53, 1234567890123456789], dtype="int64")
    assert id_text(big).tolist() == ["9007199254740993", "9007199254740992", "1234567890123456789"]
    joined = join_labels({1: big}, ["9007199254740993"], [1])
    assert (joined.matched, joined.periods) == (1, {1: 1})


def test_a_batch_names_its_unmatched_ids_and_counts_what_it_left_out():
    periods = {1: ["p1", "p2", "p3"], 2: ["p4", "p5", "p1"]}  # p1 is in both
    ids = ["p1", "p4", "x9", None, "p5", "p5", "x8", "p2"]
    labels = [1, 0, 1, 1, None, 1, 0, 0]

    joined = join_labels(periods, ids, labels)

    assert joined.rows == 8
    assert (joined.without_id, joined.without_label, joined.repeated) == (1, 1, 0)
    assert joined.matched == 4 and joined.unmatched == 2
    assert joined.unmatched_ids == ("x9", "x8")
    assert joined.periods == {1: 2, 2: 3}
    by_id, counts = labels_by_id(["a", "a", "b"], [0, 1, 1])
    assert by_id.to_dict() == {"a": "1", "b": "1"} and counts["repeated"] == 1


@pytest.mark.parametrize(
    ("labelled", "basis", "value", "decayed"),
    [(0, "estimated", 0.70, True), (99, "estimated", 0.70, True), (100, "realized", 0.78, False)],
)
def test_decay_is_judged_on_the_realized_value_once_enough_labels_arrived(
    labelled, basis, value, decayed
):
    found = decay_of(
        metric="roc_auc",
        max_drop=0.05,
        min_labels=100,
        reference=0.80,
        estimated=0.70,
        realized_value=0.78,
        labelled=labelled,
    )
    assert (found.basis, found.value, found.decayed) == (basis, value, decayed)
    assert found.limit == pytest.approx(0.75)
    assert (
        decay_of(
            metric="roc_auc",
            max_drop=0.05,
            min_labels=1,
            reference=None,
            estimated=0.7,
            realized_value=None,
            labelled=0,
        )
        is None
    )


def _performance(**fields):
    content = plan_content()
    content["monitoring"]["performance"] = fields
    content["monitoring"]["alerts"] = [
        {"name": "Performance decay", "metric": "decay", "severity": "page"}
    ]
    return content


def test_the_spec_watches_one_performance_metric_with_its_largest_drop():
    plan = clean_plan(_performance(metric="roc_auc", max_drop=0.05))
    assert plan["monitoring"]["performance"] == {
        "metric": "roc_auc",
        "max_drop": 0.05,
        "min_labels": 100,
    }
    assert "performance" not in clean_plan(plan_content())["monitoring"]
    with pytest.raises(PlanError, match="max_drop: the drop below"):
        clean_plan(_performance(metric="roc_auc", max_drop=1.5))
    with pytest.raises(PlanError, match=r"performance\.metric: .auc. is not a performance metric"):
        clean_plan(_performance(metric="auc", max_drop=0.1))
    named = plan_content()
    named["monitoring"]["metrics"].append(
        {
            "name": "decay",
            "kind": "software",
            "comparator": "<=",
            "threshold": 1,
            "statistic": "mean",
        }
    )
    with pytest.raises(PlanError, match=r"decay is what an alert names"):
        clean_plan(named)
    bare = plan_content()
    bare["monitoring"]["alerts"] = [{"name": "Decay", "metric": "decay", "severity": "ticket"}]
    with pytest.raises(PlanError, match=r"a decay alert needs monitoring\.performance"):
        clean_plan(bare)


# --- Through the product ---------------------------------------------------------------------


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Scores a model gave in production, with the outcome it did not know yet: calibrated
    scores whose labels follow them, less so as ``shift`` grows (concept shift)."""
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 3, rows).round(6)
    truth = (rng.random(rows) < np.clip(score + shift * (0.5 - score) * 2, 0, 1)).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": [f"s{seed}-{i}" for i in range(rows)],
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "sex": rng.choice(["F", "M"], rows),
            "score": score,
            "defaulted": truth,
        }
    )


def _dataset(w, name: str, sensitive=()):
    engineer = w.people[Role.ML_ENGINEER]
    key = f"ds-{name}"
    if key not in w.extra:
        dataset = make_dataset(
            w.project,
            engineer,
            name=name,
            purpose="production_sample",
            sensitive_columns=list(sensitive),
            label_column="",
            personal_data_columns=[],
        )
        w.extra[key] = dataset
    return w.extra[key]


def _upload(w, dataset_name: str, frame: pd.DataFrame, name: str, sensitive=()):
    dataset = _dataset(w, dataset_name, sensitive)
    return make_version(
        dataset, w.people[Role.ML_ENGINEER], frame.to_csv(index=False).encode(), name=name
    )


def _period(api, w, deployment, frame, n: int):
    version = _upload(w, "production", frame.drop(columns=["defaulted"]), f"p{n}.csv", ["sex"])
    start = START + timedelta(days=7 * n)
    asked = api.post(
        f"/api/v1/deployments/{deployment.pk}/production-periods/",
        {
            "dataset_version": version.pk,
            "period_start": start.isoformat(),
            "period_end": (start + timedelta(days=7)).isoformat(),
        },
        format="json",
    )
    assert asked.status_code == 202, asked.content
    production_metrics_run(period_id=asked.json()["id"])
    return ProductionPeriod.objects.get(pk=asked.json()["id"])


def _labels(api, w, deployment, frame: pd.DataFrame, name: str):
    version = _upload(w, "labels", frame, name)
    asked = api.post(
        f"/api/v1/deployments/{deployment.pk}/label-batches/",
        {"dataset_version": version.pk, "id_column": "prediction_id", "label_column": "outcome"},
        format="json",
    )
    assert asked.status_code == 202, asked.content
    label_batch_run(batch_id=asked.json()["id"])
    return api.get(asked.json()["url"]).json()


@pytest.fixture
def live(api, world):
    w = world["a"]
    deployment, _ = make_deployment(
        w, content=_performance(metric="roc_auc", max_drop=0.05, min_labels=50), stage=False
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    return w, deployment


def test_a_period_is_estimated_as_the_core_estimates_it_from_the_reference(api, live):
    w, deployment = live
    frame = _frame(400, seed=1)

    period = _period(api, w, deployment, frame, 0)

    assert period.id_column == "prediction_id" and period.status == "succeeded"
    reference = reference_data(deployment)
    fitted = fit_reference(reference.scores, reference.labels, threshold=0.5)
    expected = estimate(fitted, frame["score"].to_numpy())
    body = api.get(f"/api/v1/production-periods/{period.pk}/").json()
    got = body["estimate"]
    assert got["evaluation"] == reference.evaluation.pk and got["rows"] == 400
    for metric in ("roc_auc", "accuracy", "f1"):
        assert got["metrics"][metric]["value"] == pytest.approx(expected.metric(metric).value)
        assert got["metrics"][metric]["lower"] <= got["metrics"][metric]["value"]
    # Ids are for joining, not an input to chart.
    columns = {p.labels.get("column") for p in MetricPoint.objects.filter(deployment=deployment)}
    assert "income" in columns and "prediction_id" not in columns


def test_labels_join_by_prediction_id_and_the_period_is_realized_as_sklearn_and_fairlearn_say(
    api, live
):
    w, deployment = live
    frame = _frame(600, seed=2)
    period = _period(api, w, deployment, frame, 0)
    labels = frame[["prediction_id", "defaulted"]].rename(columns={"defaulted": "outcome"})
    # Two thirds of the labels arrive, with two ids no prediction had.
    given = pd.concat(
        [
            labels.iloc[:400],
            pd.DataFrame({"prediction_id": ["ghost-1", "ghost-2"], "outcome": [1, 0]}),
        ]
    )

    batch = _labels(api, w, deployment, given, "labels-1.csv")

    assert batch["status"] == "succeeded", batch
    result = batch["result"]
    assert (result["matched"], result["unmatched"]) == (400, 2)
    assert result["unmatched_ids"] == ["ghost-1", "ghost-2"]
    assert result["periods"] == {str(period.pk): 400}
    period.refresh_from_db()
    done = period.realized
    rows = frame.iloc[:400]
    y, score = rows["defaulted"].to_numpy(), rows["score"].to_numpy()
    predicted = (score >= 0.5).astype(int)
    assert done["labelled"] == 400
    assert done["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert done["metrics"]["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert done["metrics"]["recall"] == pytest.approx(recall_score(y, predicted))
    assert done["metrics"]["f1"] == pytest.approx(f1_score(y, predicted))
    frame_by_sex = MetricFrame(
        metrics={"selection_rate": selection_rate, "false_positive_rate": false_positive_rate},
        y_true=y,
        y_pred=predicted,
        sensitive_features=rows["sex"].to_numpy(),
    )
    (sex,) = done["groups"]
    assert sex["feature"] == "sex"
    for group in sex["groups"]:
        for metric in ("selection_rate", "false_positive_rate"):
            expected = frame_by_sex.by_group.loc[group["name"], metric]
            assert group["metrics"][metric] == pytest.approx(expected)
    assert sex["gaps"]["demographic_parity_difference"] == pytest.approx(
        frame_by_sex.difference()["selection_rate"]
    )

    # The rest arrive later, one correcting an earlier label: the period is recomputed
    # from both batches, the later label of an id winning.
    rest = labels.iloc[399:].copy()
    rest.iloc[0, 1] = 1 - rest.iloc[0, 1]
    second = _labels(api, w, deployment, rest, "labels-2.csv")
    assert second["result"]["matched"] == 201
    period.refresh_from_db()
    truth = frame["defaulted"].to_numpy().copy()
    truth[399] = 1 - truth[399]
    assert period.realized["labelled"] == 600
    assert period.realized["metrics"]["roc_auc"] == pytest.approx(
        roc_auc_score(truth, frame["score"])
    )
    assert period.realized["batches"] == [batch["id"], second["id"]]
    verbs = Event.objects.filter(verb__startswith="label_batch.").values_list("verb", flat=True)
    assert sorted(verbs) == ["label_batch.created"] * 2 + ["label_batch.joined"] * 2


def test_decay_fires_on_the_estimate_and_resolves_when_the_labels_say_otherwise(api, live):
    w, deployment = live
    steady = _period(api, w, deployment, _frame(400, seed=3), 0)
    assert not Alert.objects.filter(deployment=deployment).exists()
    reference = steady.estimate["reference"]["roc_auc"]
    # Scores squeezed towards the middle: the estimate sees a worse ranking coming.
    squeezed = _frame(400, seed=4)
    squeezed["score"] = (0.45 + squeezed["score"] * 0.1).round(6)
    late = _period(api, w, deployment, squeezed, 1)
    value = late.estimate["metrics"]["roc_auc"]["value"]
    assert value < reference - 0.05

    alert = Alert.objects.get(deployment=deployment, state="firing")
    assert alert.rule == "Performance decay" and alert.details["basis"] == "estimated"
    assert "Estimated roc_auc" in alert.summary

    # The labels come: the squeezed scores still rank the rows as well as before.
    labels = squeezed[["prediction_id", "defaulted"]].rename(columns={"defaulted": "outcome"})
    labels["outcome"] = (_frame(400, seed=4)["score"] > 0.4).astype(int)
    _labels(api, w, deployment, labels, "labels-late.csv")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by is None
    assert "Realized roc_auc" in alert.resolve_reason


def test_labels_it_cannot_use_are_refused_with_the_reason(api, live):
    w, deployment = live
    base = f"/api/v1/deployments/{deployment.pk}/label-batches/"
    labels = _upload(w, "labels", pd.DataFrame({"prediction_id": ["a"], "outcome": [1]}), "l.csv")
    # No period names its prediction ids yet.
    answer = api.post(
        base,
        {"dataset_version": labels.pk, "id_column": "prediction_id", "label_column": "outcome"},
        format="json",
    )
    assert answer.status_code == 409 and answer.json()["code"] == "no_prediction_ids"
    _period(api, w, deployment, _frame(100, seed=5), 0)
    answer = api.post(
        base,
        {"dataset_version": labels.pk, "id_column": "request", "label_column": "outcome"},
        format="json",
    )
    assert answer.status_code == 400 and "no column 'request'" in answer.json()["detail"]
    answer = api.post(base, {"dataset_version": labels.pk}, format="json")
    assert answer.status_code == 400
    # A label that is neither class of the reference fails the batch, saying which.
    odd = _upload(
        w, "labels", pd.DataFrame({"prediction_id": ["s5-1"], "outcome": ["maybe"]}), "o.csv"
    )
    asked = api.post(
        base,
        {"dataset_version": odd.pk, "id_column": "prediction_id", "label_column": "outcome"},
        format="json",
    )
    label_batch_run(batch_id=asked.json()["id"])
    batch = LabelBatch.objects.get(pk=asked.json()["id"])
    assert (
        batch.status == "failed" and "'maybe' is not one of the reference's classes" in batch.error
    )
    # The same version twice is one batch.
    again = api.post(
        base,
        {"dataset_version": odd.pk, "id_column": "prediction_id", "label_column": "outcome"},
        format="json",
    )
    assert again.status_code == 409 and again.json()["code"] == "version_used"


def test_the_dashboard_and_the_report_show_estimated_and_realized_performance(api, client, live):
    from django.template.defaultfilters import floatformat

    from audits.monitoring import monitoring_state
    from audits.services.monitoring_reports import report_html

    w, deployment = live
    frame = _frame(300, seed=6)
    period = _period(api, w, deployment, frame, 0)
    labels = frame[["prediction_id", "defaulted"]].rename(columns={"defaulted": "outcome"})
    _labels(api, w, deployment, labels, "labels.csv")
    period.refresh_from_db()
    client.force_login(w.people[Role.VIEWER])

    page = client.get(f"/deployments/{deployment.pk}/dashboard/?range=30d")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="performance"' in html and "calibrated probabilities" in html
    realized = period.realized["metrics"]["roc_auc"]
    estimated = period.estimate["metrics"]["roc_auc"]["value"]
    assert f"{realized:.3f}" in html and f"{estimated:.3f}" in html
    assert 'class="realized"' in html and 'class="limit"' in html
    # The audit's group metrics over the labelled rows, by sex.
    assert 'id="performance-groups"' in html
    (sex,) = period.realized["groups"]
    for group in sex["groups"]:
        assert f"{group['metrics']['selection_rate']:.3f}" in html
    # Inputs per column, not one rollup mixing the columns.
    assert 'id="inputs-by-column"' in html and "input.mean (mean per hour)" not in html
    assert f"mean {floatformat(frame['income'].mean(), '-3')}" in html
    state = monitoring_state(deployment, START, START + timedelta(days=30))
    (row,) = state["performance"]["rows"]
    assert row["realized"] == pytest.approx(realized) and row["labelled"] == 300
    limit = row_reference = state["performance"]["reference"]
    expected = "decayed" if realized < row_reference - 0.05 else "within"
    assert (row["verdict"], row["basis"]) == (expected, "realized") and limit is not None
    snapshot = {"state": state, "meta": {"software": []}}
    report = report_html(snapshot, 1, "0" * 64)
    assert 'id="performance"' in report and f"{realized:.3f}" in report
    assert 'id="performance-groups"' in report


def test_an_engineer_joins_labels_on_the_deployment_page(api, client, live):
    w, deployment = live
    frame = _frame(100, seed=7)
    _period(api, w, deployment, frame, 0)
    version = _upload(
        w,
        "labels",
        frame[["prediction_id", "defaulted"]].rename(columns={"defaulted": "y"}),
        "y.csv",
    )
    client.force_login(w.people[Role.ML_ENGINEER])
    url = f"/deployments/{deployment.pk}/label-batches/"

    refused = client.post(
        url, {"dataset_version": version.pk, "id_column": "prediction_id", "label_column": "z"}
    )
    assert refused.status_code == 400 and "has no column &#x27;z&#x27;" in refused.content.decode()
    done = client.post(
        url, {"dataset_version": version.pk, "id_column": "prediction_id", "label_column": "y"}
    )
    assert done.status_code == 302 and done["Location"].endswith("#labels")
    batch = LabelBatch.objects.get(deployment=deployment)
    label_batch_run(batch_id=batch.pk)
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "100 matched, 0 unmatched" in page
    # The period's row: the spec's watched metric, estimated and realized.
    period = ProductionPeriod.objects.get(deployment=deployment)
    estimated = period.estimate["metrics"]["roc_auc"]["value"]
    realized = period.realized["metrics"]["roc_auc"]
    assert f"roc_auc est. {estimated:.3f}" in page
    assert f"realized {realized:.3f} over 100 labelled rows" in page


def test_labels_of_a_period_without_scores_join_and_say_why_nothing_is_judged(api, live):
    w, deployment = live
    frame = _frame(50, seed=8)
    _period(api, w, deployment, frame.drop(columns=["score"]), 0)
    labels = frame[["prediction_id", "defaulted"]].rename(columns={"defaulted": "outcome"})

    batch = _labels(api, w, deployment, labels, "unscored.csv")

    assert batch["status"] == "succeeded" and batch["result"]["matched"] == 50
    period = ProductionPeriod.objects.get(deployment=deployment)
    assert period.realized["labelled"] == 0
    assert period.realized["error"] == "The period names no score column to judge."
    assert "no score column" in period.estimate["error"]
    # Every id unknown: counted and named, nothing judged.
    strangers = pd.DataFrame({"prediction_id": ["x1", "x2"], "outcome": [0, 1]})
    stray = _labels(api, w, deployment, strangers, "strangers.csv")
    assert stray["result"]["matched"] == 0 and stray["result"]["unmatched_ids"] == ["x1", "x2"]


def test_scores_that_are_not_probabilities_are_not_judged_and_fail_nothing(api, live):
    w, deployment = live
    frame = _frame(60, seed=10)
    frame["score"] = frame["score"] * 10  # a raw margin, not a probability
    period = _period(api, w, deployment, frame, 0)
    assert period.status == "succeeded" and "probabilit" in period.estimate["error"]
    labels = frame[["prediction_id", "defaulted"]].rename(columns={"defaulted": "outcome"})

    batch = _labels(api, w, deployment, labels, "margins.csv")

    assert batch["status"] == "succeeded" and batch["result"]["matched"] == 60
    period.refresh_from_db()
    assert period.realized["labelled"] == 0
    assert (
        period.realized["error"].startswith("Not judged: ")
        and "probabilit" in period.realized["error"]
    )


def test_labels_that_came_before_their_period_join_it_when_it_is_recorded(api, live):
    w, deployment = live
    first, later = _frame(80, seed=11), _frame(120, seed=12)
    _period(api, w, deployment, first, 0)
    both = pd.concat([first, later])[["prediction_id", "defaulted"]].rename(
        columns={"defaulted": "outcome"}
    )
    batch = _labels(api, w, deployment, both, "early.csv")
    assert (batch["result"]["matched"], batch["result"]["unmatched"]) == (80, 120)

    period = _period(api, w, deployment, later, 1)

    assert period.realized["labelled"] == 120
    assert period.realized["metrics"]["roc_auc"] == pytest.approx(
        roc_auc_score(later["defaulted"], later["score"])
    )
