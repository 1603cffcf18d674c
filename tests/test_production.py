"""Production periods: recorded through HTTP with every refusal named, their input and
output metrics equal to pandas' on the same rows and stored once, and drift checks
requested at the monitoring spec's cadence, once per due deployment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.db import connections

from deployments.analysis.plan import clean_plan
from deployments.analysis.plan_fields import PlanError
from deployments.analysis.production import TOP_CATEGORIES, drift_check_due, period_metrics
from deployments.models import DriftCheck, MetricBatch, MetricPoint, ProductionPeriod
from deployments.services.drift_schedule import drift_checks_schedule
from deployments.services.production import production_metrics_run
from projects.models import DatasetVersion, Event, Project, Role
from projects.services import datasets
from projects.services.uploads import upload_from_bytes
from tests.factories import (
    UserFactory,
    build_team,
    make_dataset,
    make_deployment,
    make_production_period,
    make_version,
    plan_content,
    production_frame,
)

# --- The numbers, against pandas ----------------------------------------------------------

KINDS = {
    "customer_id": "categorical",
    "email": "categorical",
    "income": "numeric",
    "age": "numeric",
    "region": "categorical",
    "sex": "categorical",
    "note": "categorical",
    "verified": "boolean",
    "defaulted": "numeric",
    "score": "numeric",
}


def _by_key(metrics) -> dict:
    return {(m.name, tuple(sorted(m.labels.items()))): m.value for m in metrics}


def test_it_derives_input_and_output_metrics_as_pandas_computes_them():
    frame = production_frame(500, seed=3)
    frame["verified"] = np.where(np.arange(500) % 3 == 0, None, np.arange(500) % 2 == 0)
    derived = period_metrics(
        frame, KINDS, score_column="score", skip={"defaulted", "email"}, threshold=0.6
    )
    got = _by_key(derived.metrics)

    assert derived.rows == 500 and got[("input.rows", ())] == 500
    inputs = [c for c in frame.columns if c not in ("defaulted", "email", "score")]
    for column in inputs:
        key = (("column", column),)
        assert got[("input.missing_share", key)] == pytest.approx(frame[column].isna().mean())
    for column in ("income", "age"):
        assert got[("input.mean", (("column", column),))] == pytest.approx(frame[column].mean())
    # Category shares: over the values present, the most frequent first.
    for column in ("region", "sex", "note"):
        shares = frame[column].value_counts(normalize=True).head(TOP_CATEGORIES)
        for value, share in shares.items():
            assert got[("input.category_share", (("column", column), ("value", value)))] == (
                pytest.approx(share)
            )
        lengths = frame[column].dropna().str.len().mean()
        assert got[("input.text_length", (("column", column),))] == pytest.approx(lengths)
    verified = frame["verified"].dropna().astype(bool).value_counts(normalize=True)
    for value, share in verified.items():
        key = (("column", "verified"), ("value", str(value).lower()))
        assert got[("input.category_share", key)] == pytest.approx(share)
    # An identifier's shares say nothing; personal data and the label are left out.
    assert not any(
        m.labels.get("column") == "customer_id" for m in derived.metrics if "value" in m.labels
    )
    assert not any(m.labels.get("column") in ("email", "defaulted") for m in derived.metrics)

    scores = frame["score"]
    assert got[("output.null_share", ())] == pytest.approx(scores.isna().mean())
    assert got[("output.score_mean", ())] == pytest.approx(scores.mean())
    p50, p90 = np.nanpercentile(scores.to_numpy(dtype=float), [50, 90])
    assert got[("output.score_p50", ())] == pytest.approx(scores.quantile(0.5)) == p50
    assert (
        got[("output.score_p90", ())] == pytest.approx(scores.quantile(0.9)) == pytest.approx(p90)
    )
    assert got[("output.positive_rate", ())] == pytest.approx((scores.dropna() >= 0.6).mean())


def test_a_column_of_many_categories_gets_shares_for_its_most_frequent_only():
    values = [f"v{i:02d}" for i in range(30) for _ in range(30 - i)]
    frame = pd.DataFrame({"kind": values})
    got = period_metrics(frame, {"kind": "categorical"}, score_column=None).metrics
    shares = [m for m in got if m.name == "input.category_share"]
    assert [m.labels["value"] for m in shares] == [f"v{i:02d}" for i in range(TOP_CATEGORIES)]
    assert not any(m.name.startswith("output.") for m in got)


@pytest.mark.parametrize(
    ("checked", "last", "due"),
    [(False, None, True), (True, None, False), (False, 6, False), (False, 7, True)],
)
def test_a_scheduled_check_is_due_for_an_unchecked_period_after_the_cadence(checked, last, due):
    now = datetime(2026, 12, 6, tzinfo=UTC)
    at = None if last is None else now - timedelta(days=last)
    assert (
        drift_check_due(newest_period_checked=checked, last_check_at=at, cadence_days=7, now=now)
        is due
    )


def test_the_spec_takes_a_drift_cadence_of_1_to_90_days():
    content = plan_content()
    assert clean_plan(content)["monitoring"]["drift_cadence_days"] == 7
    for days in (1, 90):
        content["monitoring"]["drift_cadence_days"] = days
        assert clean_plan(content)["monitoring"]["drift_cadence_days"] == days
    for days in (0, 91, 2.5):
        content["monitoring"]["drift_cadence_days"] = days
        with pytest.raises(PlanError, match=r"monitoring\.drift_cadence_days: the drift check"):
            clean_plan(content)


# --- Through HTTP ---------------------------------------------------------------------------

#: A week that ended at midnight three days ago.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
START = END - timedelta(days=7)
NAIVE, FORM = "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"


def as_token(api, w):
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    return api


def production(w, frame=None, name: str = "production.csv"):
    engineer = w.people[Role.ML_ENGINEER]
    dataset = w.extra.get("production")
    if dataset is None:
        dataset = w.extra["production"] = make_dataset(
            w.project, engineer, name="production", purpose="production_sample"
        )
    frame = production_frame(300, seed=7) if frame is None else frame
    return make_version(dataset, engineer, frame.to_csv(index=False).encode(), name=name)


def record(api, deployment, **body):
    body = {"period_start": START.isoformat(), "period_end": END.isoformat(), **body}
    return api.post(f"/api/v1/deployments/{deployment.pk}/production-periods/", body, format="json")


def _points(deployment) -> dict:
    rows = MetricPoint.objects.filter(deployment=deployment)
    return {(p.name, tuple(sorted(p.labels.items()))): p for p in rows}


def test_it_records_a_period_and_stores_its_metrics_once(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    version = production(w)
    as_token(api, w)

    asked = record(api, deployment, dataset_version=version.pk, threshold=0.6)

    assert asked.status_code == 202, asked.content
    body = asked.json()
    assert asked["Location"] == body["url"] and body["status"] == "queued"
    assert body["score_column"] == "score" and body["points"] is None
    production_metrics_run(period_id=body["id"])
    done = api.get(body["url"]).json()
    assert done["status"] == "succeeded", done
    stored = _points(deployment)
    assert done["points"] == len(stored) > 20
    # The same numbers as pandas on the rows as stored, all at the period's end.
    frame = pq.read_table(version.parquet.path).to_pandas()
    assert {p.timestamp for p in stored.values()} == {END}
    assert stored[("input.rows", ())].value == len(frame)
    income = stored[("input.mean", (("column", "income"),))].value
    assert income == pytest.approx(frame["income"].mean())
    north = stored[("input.category_share", (("column", "region"), ("value", "north")))]
    assert north.value == pytest.approx(frame["region"].value_counts(normalize=True)["north"])
    positive = stored[("output.positive_rate", ())].value
    assert positive == pytest.approx((frame["score"].dropna() >= 0.6).mean())
    assert ("input.missing_share", (("column", "email"),)) not in stored  # personal data
    batch = MetricBatch.objects.get(deployment=deployment)
    assert batch.idempotency_key == f"period-{body['id']}"

    # A redelivered task finds the job done; a job run again from the start (its worker
    # died after the push) finds the batch: the points are stored once.
    production_metrics_run(period_id=body["id"])
    ProductionPeriod.objects.filter(pk=body["id"]).update(status="queued")
    production_metrics_run(period_id=body["id"])
    assert MetricBatch.objects.filter(deployment=deployment).count() == 1
    assert MetricPoint.objects.filter(deployment=deployment).count() == len(stored)
    verbs = list(
        Event.objects.filter(verb__startswith="production_period.").values_list("verb", flat=True)
    )
    assert verbs.count("production_period.created") == 1
    listed = api.get(f"/api/v1/deployments/{deployment.pk}/production-periods/").json()
    assert [p["id"] for p in listed["results"]] == [body["id"]]


def _unprofiled(w):
    production(w)  # the dataset
    upload = upload_from_bytes("late.csv", production_frame(50, seed=9).to_csv().encode())
    version, _ = datasets.version_upload(
        actor=w.people[Role.ML_ENGINEER], dataset=w.extra["production"], upload=upload
    )
    return version


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"period_start": f"{START:{NAIVE}}"}, 400, "naive_timestamp", "has no time zone"),
        ({"period_end": f"{END:{NAIVE}}"}, 400, "naive_timestamp", "give it in UTC"),
        (
            {"period_start": END.isoformat(), "period_end": START.isoformat()},
            400,
            "invalid_period",
            "before it starts",
        ),
        ({"period_end": "2999-01-01T00:00:00Z"}, 400, "period_in_future", "in the future"),
        ({"score_column": "probability"}, 400, "unknown_column", "no column 'probability'"),
    ],
)
def test_it_refuses_a_period_it_cannot_record_naming_why(api, world, body, status, code, words):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    version = production(w)
    as_token(api, w)
    refused = record(api, deployment, dataset_version=version.pk, **body)
    assert refused.status_code == status, refused.content
    assert refused.json()["code"] == code and words in refused.json()["detail"]
    assert not ProductionPeriod.objects.exists()


def test_it_refuses_data_it_cannot_use(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    as_token(api, w)
    # Team B's version is not even seen.
    other = record(api, deployment, dataset_version=world["b"].version.pk)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    training = record(api, deployment, dataset_version=w.version.pk)
    assert training.status_code == 400 and training.json()["code"] == "not_production_sample"
    waiting = record(api, deployment, dataset_version=_unprofiled(w).pk)
    assert waiting.status_code == 409 and waiting.json()["code"] == "not_ready"
    # Uploads refuse a file without rows; a version counted empty is refused all the same.
    empty = production(w, production_frame(40, seed=2), name="empty.csv")
    DatasetVersion.objects.filter(pk=empty.pk).update(rows=0)
    nothing = record(api, deployment, dataset_version=empty.pk)
    assert nothing.status_code == 400 and nothing.json()["code"] == "empty_period"
    assert not ProductionPeriod.objects.exists()


def test_periods_of_one_deployment_do_not_overlap(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    first, second = production(w), production(w, production_frame(200, seed=8), "next.csv")
    as_token(api, w)
    assert record(api, deployment, dataset_version=first.pk).status_code == 202

    again = record(
        api,
        deployment,
        dataset_version=first.pk,
        period_start=END.isoformat(),
        period_end=(END + timedelta(days=1)).isoformat(),
    )
    assert again.status_code == 409 and again.json()["code"] == "version_used"
    overlapping = record(
        api,
        deployment,
        dataset_version=second.pk,
        period_start=(END - timedelta(hours=1)).isoformat(),
        period_end=(END + timedelta(days=1)).isoformat(),
    )
    assert overlapping.status_code == 409 and overlapping.json()["code"] == "overlapping_period"
    # Touching is not overlapping: the next period starts where the last one ends.
    following = record(
        api,
        deployment,
        dataset_version=second.pk,
        period_start=END.isoformat(),
        period_end=(END + timedelta(days=1)).isoformat(),
    )
    assert following.status_code == 202, following.content
    assert ProductionPeriod.objects.count() == 2


def test_an_engineer_records_a_period_on_the_deployment_page(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    version = production(w)
    client.force_login(w.people[Role.ML_ENGINEER])
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Production data" in page and "No production period yet." in page

    posted = client.post(
        f"/deployments/{deployment.pk}/production-periods/",
        {
            "dataset_version": version.pk,
            "period_start": f"{START:{FORM}}",
            "period_end": f"{END:{FORM}}",
        },
    )

    assert posted.status_code == 302 and posted["Location"].endswith("#production")
    period = ProductionPeriod.objects.get()
    assert (period.period_start, period.period_end) == (START, END)
    refused = client.post(
        f"/deployments/{deployment.pk}/production-periods/",
        {
            "dataset_version": version.pk,
            "period_start": f"{END:{FORM}}",
            "period_end": f"{END + timedelta(days=1):{FORM}}",
        },
    )
    assert refused.status_code == 409
    assert "already a production period of this deployment" in refused.content.decode()
    shown = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert f"{START:{FORM}} to {END:{FORM}}" in shown and "Queued" in shown


# --- Scheduled drift checks -------------------------------------------------------------------


def _monitored(w, *, cadence: int | None = None):
    content = plan_content()
    if cadence is not None:
        content["monitoring"]["drift_cadence_days"] = cadence
    deployment, _ = make_deployment(w, content=content, stage=False)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    return deployment


def test_the_schedule_checks_each_due_deployment_once(world):
    w = world["a"]
    deployment = _monitored(w)
    period = make_production_period(deployment, production(w), start=START, end=END)

    made = drift_checks_schedule()
    again = drift_checks_schedule()  # the next beat, or a second one at the same moment

    assert [c.deployment_id for c in made] == [deployment.pk] and again == []
    check = DriftCheck.objects.get()
    # Never checked before: the data the deployed model was evaluated on.
    assert check.current_id == period.dataset_version_id and check.reference_id == w.version.pk
    assert check.requested_by is None and check.status == "queued"
    event = Event.objects.get(verb="drift_check.requested")
    assert event.actor is None and event.payload["scheduled"] is True


def test_the_schedule_waits_for_a_new_period_and_the_cadence(world):
    w = world["a"]
    deployment = _monitored(w, cadence=3)
    make_production_period(deployment, production(w), start=START, end=END)
    assert len(drift_checks_schedule()) == 1
    now = DriftCheck.objects.get().created_at
    # A new period two days later: the cadence has not passed.
    later = production(w, production_frame(200, seed=8), "next.csv")
    make_production_period(deployment, later, start=END, end=END + timedelta(days=1))
    assert drift_checks_schedule(now=now + timedelta(days=2)) == []
    made = drift_checks_schedule(now=now + timedelta(days=3))
    assert [c.current_id for c in made] == [later.pk]
    # The reference stays the one the last check used.
    assert {c.reference_id for c in DriftCheck.objects.all()} == {w.version.pk}
    # Nothing new: nothing to check, however long ago the last check was.
    assert drift_checks_schedule(now=now + timedelta(days=30)) == []


def test_the_schedule_leaves_deployments_outside_monitoring_alone(world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    make_production_period(deployment, production(w), start=START, end=END)
    assert w.project.stage != Project.Stage.MONITORING
    assert drift_checks_schedule() == [] and not DriftCheck.objects.exists()


def test_the_schedule_leaves_an_earlier_cycles_deployment_alone(world):
    w = world["a"]
    deployment = _monitored(w)
    make_production_period(deployment, production(w), start=START, end=END)
    Project.objects.filter(pk=w.project.pk).update(cycle=2)
    assert drift_checks_schedule() == [] and not DriftCheck.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_make_one_check():
    # Committed rows and a connection per beat: the second beat waits for the first's
    # transaction (the deployment's row lock; SQLite's write lock) and finds its check.
    w = build_team("a", UserFactory(username="external_auditor"))
    deployment = _monitored(w)
    make_production_period(deployment, production(w), start=START, end=END)
    barrier = threading.Barrier(2)
    made: list = []

    def beat() -> None:
        try:
            barrier.wait(timeout=10)
            made.extend(drift_checks_schedule())
        finally:
            connections.close_all()

    beats = [threading.Thread(target=beat) for _ in range(2)]
    for thread in beats:
        thread.start()
    for thread in beats:
        thread.join(timeout=60)

    assert len(made) == 1 and DriftCheck.objects.count() == 1
