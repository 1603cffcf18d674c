"""The deployment stage through HTTP: plans, their sign-off, rollouts promoted on pushed
live metrics, refusals with reasons, and every analysis on record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from deployments.models import Analysis, MetricPoint, Rollout
from projects.models import Event, Role
from projects.services.criteria import criteria_save
from tests.factories import (
    WORLD_CRITERIA,
    healthy_points,
    make_deployment,
    make_pack,
    plan_content,
)


def as_token(api, world):
    api.credentials(HTTP_AUTHORIZATION=f"Token {world.token_key}")
    return api


def started(api, w, **kwargs):
    deployment, _plan = make_deployment(w, **kwargs)
    as_token(api, w)
    response = api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {"reason": "go"})
    assert response.status_code == 201, response.content
    return deployment, Rollout.objects.get(pk=response.json()["id"])


def close_window(rollout: Rollout, minutes: float = 2) -> tuple[datetime, datetime]:
    """Let the current step's window run its time: its start moves into the past."""
    rollout.refresh_from_db()
    begun = datetime.now(UTC) - timedelta(minutes=minutes)
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=begun)
    now = datetime.now(UTC)
    # Points go a little inside the window the promotion will read (its last minute).
    return now - timedelta(seconds=50), now


def push(api, deployment, points, key: str):
    return api.post(
        f"/api/v1/deployments/{deployment.pk}/metrics/",
        {"idempotency_key": key, "points": points},
        format="json",
    )


def _criterion_row(api, w, metric: str) -> dict:
    current = w.project.criteria_versions.order_by("-version").first()
    body = api.get(f"/api/v1/criteria-versions/{current.pk}/").json()
    return next(r for r in body["assessment"] if r["criterion"]["metric"] == metric)


def promote(api, deployment, **body):
    return api.post(f"/api/v1/deployments/{deployment.pk}/promote/", body, format="json")


def test_it_walks_a_canary_from_1_to_100_percent_on_healthy_metrics(api, world):
    w = world["a"]
    deployment, rollout = started(api, w)
    assert rollout.traffic == 1
    shares = []
    for step in range(5):
        start, end = close_window(rollout)
        assert push(api, deployment, healthy_points(start, end), f"s{step}").status_code == 201
        response = promote(api, deployment, step=step, reason=f"step {step} healthy")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["analysis"]["outcome"] == "pass"
        assert {c["status"] for c in body["analysis"]["checks"]} == {"pass"}
        shares.append(body["rollout"]["traffic"])
        if step == 0:
            # Under way, the software criterion measured in deployment waits for the end,
            # saying what the newest analysis saw.
            row = _criterion_row(api, w, "error_rate")
            assert row["outcome"]["status"] == "not_measured"
            detail = row["outcome"]["detail"]
            assert detail.startswith("measured by the analysis that finishes the rollout; ")
            assert f"analysis {body['analysis']['id']}, at 1 %, observed" in detail
    assert shares == [5, 25, 50, 100, 100]
    # Finished, it is measured by the analysis that finished the rollout.
    finishing = rollout.analyses.order_by("-pk").first()
    observed = next(
        c["observed"]
        for c in finishing.checks["checks"]
        if c["origin"] == "criterion: error_rate ≤ 0.01"
    )
    row = _criterion_row(api, w, "error_rate")
    assert (row["outcome"]["status"], row["outcome"]["value"]) == ("met", observed)
    assert row["evidence"] == f"analysis {finishing.pk}, which finished rollout {rollout.pk}"
    assert row["evidence_url"].endswith(f"?analysis={finishing.pk}#analyses")
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.FINISHED and rollout.traffic == 100
    assert rollout.analyses.count() == 5
    verbs = list(
        Event.objects.filter(project=w.project, verb__startswith="rollout.").values_list(
            "verb", flat=True
        )
    )
    assert verbs == ["rollout.started", *["rollout.promoted"] * 4, "rollout.finished"]
    # Each analysis names its numbers: observed p95 latency against the plan's target.
    checks = rollout.analyses.order_by("pk").first().checks["checks"]
    p95 = next(c for c in checks if c["metric"] == "latency_ms" and c["statistic"] == "p95")
    assert p95["threshold"] == 200 and 40 <= p95["observed"] <= 44 and p95["source"] == "pushed"
    # Once finished, there is nothing left to promote.
    refused = promote(api, deployment)
    assert refused.status_code == 409 and refused.json()["code"] == "rollout_ended"


def test_it_refuses_a_promotion_when_latency_breaches_and_keeps_the_analysis(api, world):
    w = world["a"]
    deployment, rollout = started(api, w)
    start, end = close_window(rollout)
    push(api, deployment, healthy_points(start, end, latency=450), "slow")
    response = promote(api, deployment, reason="looks fine?")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "analysis_failed"
    failed = [c for c in body["checks"] if c["status"] == "fail"]
    assert {c["statistic"] for c in failed if c["metric"] == "latency_ms"} == {"p50", "p95", "p99"}
    assert "Not promoted" in body["detail"] and "latency" in body["detail"]
    rollout.refresh_from_db()
    assert rollout.step == 0 and rollout.traffic == 1 and rollout.status == "active"
    analysis = Analysis.objects.get(pk=body["analysis"])
    assert analysis.outcome == "fail" and len(analysis.sha256) == 64
    event = Event.objects.get(project=w.project, verb="rollout.promotion_refused")
    assert event.payload["analysis_sha256"] == analysis.sha256
    assert api.get(f"/api/v1/analyses/{analysis.pk}/").json()["outcome"] == "fail"


def test_it_calls_a_window_without_data_inconclusive_never_a_pass(api, world):
    w = world["a"]
    deployment, rollout = started(api, w)
    close_window(rollout)
    response = promote(api, deployment)
    assert response.status_code == 409
    assert response.json()["code"] == "analysis_inconclusive"
    reasons = [c["reason"] for c in response.json()["checks"]]
    assert all("inconclusive" in r for r in reasons)
    assert Analysis.objects.get(rollout=rollout).outcome == "inconclusive"


def test_it_waits_for_the_steps_window_to_close(api, world):
    deployment, _ = started(api, world["a"])
    response = promote(api, deployment)
    assert response.status_code == 409 and response.json()["code"] == "window_open"
    assert "1-minute analysis window closes at" in response.json()["detail"]
    assert not Analysis.objects.exists()


def test_it_refuses_promotions_out_of_order_and_without_a_rollout(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    as_token(api, w)
    none = promote(api, deployment)
    assert none.status_code == 409 and none.json()["code"] == "no_rollout"
    api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {})
    stale = promote(api, deployment, step=2)
    assert stale.status_code == 409 and stale.json()["code"] == "out_of_order"
    aborted = api.post(f"/api/v1/deployments/{deployment.pk}/abort/", {"reason": "wrong image"})
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    after = promote(api, deployment)
    assert after.status_code == 409 and after.json()["code"] == "rollout_ended"
    again = api.post(f"/api/v1/deployments/{deployment.pk}/abort/", {"reason": "twice"})
    assert again.status_code == 409


def test_it_needs_a_reason_to_roll_back_and_sends_traffic_back(api, world):
    w = world["a"]
    deployment, _rollout = started(api, w)
    bare = api.post(f"/api/v1/deployments/{deployment.pk}/rollback/", {})
    assert bare.status_code == 400 and bare.json()["code"] == "reason_missing"
    done = api.post(
        f"/api/v1/deployments/{deployment.pk}/rollback/", {"reason": "error budget burnt"}
    )
    assert done.status_code == 200
    assert done.json()["status"] == "rolled_back" and done.json()["traffic"] == 0
    moves = [m["action"] for m in done.json()["moves"]]
    assert moves == ["start", "rollback"]
    # A new rollout may start once the old one ended.
    again = api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {"reason": "retry"})
    assert again.status_code == 201


def test_it_starts_one_rollout_at_a_time_and_only_from_a_signed_plan(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, signed=False)
    as_token(api, w)
    unsigned = api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {})
    assert unsigned.status_code == 409 and unsigned.json()["code"] == "plan_not_signed"
    assert "Waiting for a business owner and an ML engineer" in unsigned.json()["detail"]
    signed, _ = make_deployment(w)
    assert api.post(f"/api/v1/deployments/{signed.pk}/rollouts/", {}).status_code == 201
    twice = api.post(f"/api/v1/deployments/{signed.pk}/rollouts/", {})
    assert twice.status_code == 409 and twice.json()["code"] == "rollout_active"


def test_it_switches_blue_green_after_the_idle_environment_passes(api, world):
    w = world["a"]
    content = plan_content(kind="blue_green", environments=["blue", "green"], window_minutes=1)
    deployment, rollout = started(api, w, content=content)
    assert rollout.live_environment == "blue" and rollout.traffic == 0
    start, end = close_window(rollout)
    push(api, deployment, healthy_points(start, end), "green")
    response = promote(api, deployment, reason="green is healthy")
    assert response.status_code == 200, response.content
    body = response.json()["rollout"]
    assert body["status"] == "finished" and body["live_environment"] == "green"
    assert body["moves"][-1]["action"] == "switch"


def _agreement(start, end, rate: float, cases: int = 100) -> list[dict]:
    step = (end - start) / cases
    agreed = int(rate * cases)
    return [
        {
            "name": "shadow_agreement",
            "value": 1 if i < agreed else 0,
            "timestamp": (start + step * i).isoformat(),
            "labels": {"segment": "north" if i % 2 else "south"},
        }
        for i in range(cases)
    ]


@pytest.mark.parametrize(("rate", "code"), [(0.95, 200), (0.7, 409)])
def test_it_judges_a_shadow_on_its_agreement_with_live_decisions(api, world, rate, code):
    w = world["a"]
    content = plan_content(kind="shadow", agreement_min=0.9, min_cases=50, window_minutes=1)
    deployment, rollout = started(api, w, content=content)
    start, end = close_window(rollout)
    push(api, deployment, healthy_points(start, end) + _agreement(start, end, rate), "s")
    response = promote(api, deployment)
    assert response.status_code == code, response.content
    checks = (response.json()["analysis"] if code == 200 else response.json())["checks"]
    shadow = next(c for c in checks if c["metric"] == "shadow_agreement")
    assert shadow["observed"] == pytest.approx(rate) and shadow["count"] == 100


# --- Plans --------------------------------------------------------------------------


def plan_post(api, deployment, content):
    return api.post(
        f"/api/v1/deployments/{deployment.pk}/plans/", {"content": content}, format="json"
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda p: p["serving"]["latency_ms"].update(p50=300), "below the p50"),
        (lambda p: p["serving"]["throughput"].update(qps=-5), "serving.throughput.qps"),
        (
            lambda p: p["pattern"].update(steps=[{"traffic": 5}, {"traffic": 1}]),
            "pattern.steps",
        ),
        (lambda p: p["pattern"].update(steps=[{"traffic": 5}, {"traffic": 50}]), "100"),
    ],
)
def test_it_refuses_a_plan_that_makes_no_sense_naming_the_field(api, world, change, words):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    as_token(api, w)
    content = plan_content()
    change(content)
    response = plan_post(api, deployment, content)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_plan" and words in response.json()["detail"]


def test_it_refuses_targets_looser_than_the_software_criteria(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    criteria = [
        *WORLD_CRITERIA,
        {"metric": "p95_latency_ms", "comparator": "<=", "target": 150, "rationale": "UX."},
    ]
    criteria_save(actor=w.people[Role.ML_ENGINEER], project=w.project, criteria=criteria)
    as_token(api, w)
    response = plan_post(api, deployment, plan_content())  # p95 target 200 ms
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert response.json()["code"] == "looser_than_criteria"
    assert "200 ms" in detail and "150 ms" in detail


def test_it_refuses_a_deployment_of_a_model_that_is_not_the_candidate(api, world):
    w = world["a"]
    as_token(api, w)
    response = api.post(
        f"/api/v1/projects/{w.project.slug}/deployments/", {"model_version": w.spare_model.pk}
    )
    assert response.status_code == 400 and response.json()["code"] == "not_candidate"


def test_it_signs_a_plan_with_the_criteria_sign_off_and_makes_it_stale_on_a_new_version(
    client, api, world
):
    w = world["a"]
    owner, engineer = w.people[Role.BUSINESS_OWNER], w.people[Role.ML_ENGINEER]
    deployment, plan = make_deployment(w, stage=False, signed=False)
    as_token(api, w)
    by_token = api.post(
        f"/api/v1/deployment-plans/{plan.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
    )
    assert by_token.status_code == 403 and by_token.json()["code"] == "token_not_allowed"
    api.credentials()
    for person, role in ((owner, "business_owner"), (engineer, "ml_engineer")):
        api.force_authenticate(person)
        response = api.post(
            f"/api/v1/deployment-plans/{plan.pk}/signoffs/", {"role": role, "decision": "approve"}
        )
        assert response.status_code == 201, response.content
        assert response.json()["content_sha256"] == plan.content_sha256
        assert response.json()["evidence"]["criteria"]["id"] == w.criteria.pk
    assert api.get(f"/api/v1/deployment-plans/{plan.pk}/").json()["signed"]["passed"]
    content = plan_content()
    content["serving"]["compute"]["cpu_cores"] = 4
    v2 = plan_post(api, deployment, content)
    assert v2.status_code == 201 and v2.json()["version"] == 2
    assert "serving.compute.cpu_cores" in " ".join(v2.json()["changes"])
    stale = api.get(f"/api/v1/deployment-plans/{plan.pk}/signoffs/").json()["results"]
    assert all("deployment plan changed: v1 → v2" in s["stale"][0] for s in stale)
    api.force_authenticate(owner)
    inbox = api.get("/api/v1/signoffs/inbox/").json()
    assert [(e["kind"], e["version"]) for e in inbox] == [("plan", 2)]
    assert [e["version"] for e in inbox if e["kind"] == "plan"] == [2]
    # Signing the old version is refused: it is no longer current.
    old = api.post(
        f"/api/v1/deployment-plans/{plan.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
    )
    assert old.status_code == 409 and old.json()["code"] == "not_current"
    assert "Deployment plan v1 is no longer current" in old.json()["detail"]


# --- Pushed metrics -------------------------------------------------------------------


@pytest.fixture
def pushing(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    as_token(api, w)
    return deployment


def _point(**changes):
    return {"name": "latency_ms", "value": 42.0, "timestamp": "2026-01-01T00:00:00Z", **changes}


def test_it_counts_a_retried_batch_once(api, pushing):
    points = [_point(value=float(i)) for i in range(50)]
    first = push(api, pushing, points, "b-1")
    assert first.status_code == 201 and first.json()["points"] == 50
    retry = push(api, pushing, points, "b-1")
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert MetricPoint.objects.filter(deployment=pushing).count() == 50
    other = push(api, pushing, points[:10], "b-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    # The key may come as a header as well.
    header = api.post(
        f"/api/v1/deployments/{pushing.pk}/metrics/",
        {"points": points[:3]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="h-1",
    )
    assert header.status_code == 201 and header.json()["idempotency_key"] == "h-1"
    assert push(api, pushing, points, "").json()["code"] == "idempotency_key"


@pytest.mark.parametrize(
    ("point", "words"),
    [
        (_point(value="Infinity"), "not a number"),
        (_point(value=True), "not a number"),
        (_point(timestamp="2026-01-01T00:00:00"), "no time zone"),
        (_point(timestamp="2999-01-01T00:00:00Z"), "five minutes in the future"),
        (_point(name="Latency ms"), "not a metric name"),
        (_point(labels={"pod": ["a"]}), "text or a number"),
    ],
)
def test_it_refuses_bad_points_whole_naming_the_first(api, pushing, point, words):
    response = push(api, pushing, [_point(), point], "bad")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_points"
    assert "points[2]" in response.json()["detail"] and words in response.json()["detail"]
    assert not MetricPoint.objects.exists()


def test_it_refuses_nan_in_the_json_itself(api, pushing):
    body = '{"idempotency_key": "n", "points": [{"name": "latency_ms", "value": NaN, ' + (
        '"timestamp": "2026-01-01T00:00:00Z"}]}'
    )
    response = api.post(
        f"/api/v1/deployments/{pushing.pk}/metrics/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert not MetricPoint.objects.exists()


def test_it_answers_413_to_a_batch_over_10000_points(api, pushing, settings):
    points = [_point()] * (settings.METRICS_MAX_BATCH + 1)
    response = api.post(
        f"/api/v1/deployments/{pushing.pk}/metrics/",
        json.dumps({"idempotency_key": "big", "points": points}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert not MetricPoint.objects.exists()


def test_it_stores_a_batch_in_the_window_index_order(api, pushing):
    # The window's index is (deployment, name, time): rows written in that order keep a
    # window's index scan on neighbouring table pages.
    points = [
        _point(name=name, timestamp=f"2026-01-01T00:00:{second:02d}Z")
        for second in (30, 5, 17, 44)
        for name in ("latency_ms", "error_rate", "cpu")
    ]
    assert push(api, pushing, points, "order").status_code == 201
    stored = list(
        MetricPoint.objects.filter(deployment=pushing)
        .order_by("pk")
        .values_list("name", "timestamp")
    )
    assert len(stored) == 12 and stored == sorted(stored)


def test_a_deployment_token_pushes_that_deployments_metrics_and_nothing_else(api, world):
    from deployments.services.tokens import deployment_token_create
    from projects.services.tokens import token_revoke

    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    mine, _ = make_deployment(w)
    other, _ = make_deployment(w)
    token, key = deployment_token_create(actor=engineer, deployment=mine, name="exporter")
    assert sorted(token.scopes) == ["metrics", "read"] and token.project_id == w.project.pk
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert push(api, mine, [_point()], "t-1").status_code == 201
    elsewhere = push(api, other, [_point()], "t-2")
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "token_deployment"
    assert api.get(f"/api/v1/deployments/{mine.pk}/").status_code == 200
    refused = {
        "plan": api.post(
            f"/api/v1/deployments/{mine.pk}/plans/", {"content": plan_content()}, format="json"
        ),
        "rollout": api.post(f"/api/v1/deployments/{mine.pk}/rollouts/", {"reason": "go"}),
        "promote": promote(api, mine, reason="go"),
        "deployment": api.post(
            f"/api/v1/projects/{w.project.slug}/deployments/",
            {"model_version": w.model.pk},
            format="json",
        ),
    }
    assert {k: (r.status_code, r.json()["code"]) for k, r in refused.items()} == {
        k: (403, "token_scope") for k in refused
    }
    assert MetricPoint.objects.filter(deployment=mine).count() == 1
    assert not MetricPoint.objects.filter(deployment=other).exists()
    # Made, the event names what the token is bound to; revoked, it stops at once.
    made = Event.objects.get(verb="token.created", payload__prefix=token.prefix)
    assert made.payload["bound_to"] == {"deployment": mine.pk}
    token_revoke(actor=engineer, token=token)
    assert push(api, mine, [_point()], "t-3").status_code == 401


def test_a_deployment_token_follows_its_makers_role(api, world):
    from deployments.services.tokens import deployment_token_create
    from projects.services.teams import membership_change

    w = world["a"]
    deployment, _ = make_deployment(w)
    maker = w.people[Role.ML_ENGINEER]
    _, key = deployment_token_create(actor=maker, deployment=deployment)
    membership_change(
        actor=w.people[Role.BUSINESS_OWNER],
        membership=w.team.memberships.get(user=maker),
        role=Role.VIEWER,
        is_admin=False,
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = push(api, deployment, [_point()], "demoted")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_only_a_deployment_makes_a_metrics_token(world):
    from portal.exceptions import ApplicationError
    from projects.services.tokens import token_create

    with pytest.raises(ApplicationError, match="deployment's own token") as refused:
        token_create(
            user=world["a"].people[Role.ML_ENGINEER],
            name="x",
            scopes=["metrics"],
            project=world["a"].project,
        )
    assert refused.value.code == "invalid_scope"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statistics are computed in SQL on PostgreSQL only"
)
def test_it_computes_window_statistics_in_sql_as_numpy_does(pushing):
    import numpy as np

    from deployments import metrics
    from deployments.services.metrics import metrics_push

    rng = np.random.default_rng(7)
    values = rng.lognormal(3, 0.7, 2000)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        {"name": "latency_ms", "value": float(v), "timestamp": (start + timedelta(seconds=i))}
        for i, v in enumerate(values)
    ]
    for p in points:
        p["timestamp"] = p["timestamp"].isoformat()
    metrics_push(actor=None, deployment=pushing, points=points, idempotency_key="np")
    window = metrics.pushed_windows(pushing, ["latency_ms"], start, start + timedelta(hours=1))
    stats = window["latency_ms"].stats
    assert stats.count == 2000
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert getattr(stats, name) == pytest.approx(np.percentile(values, q), rel=1e-12)
    assert stats.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.max == values.max() and stats.min == values.min()


# --- The gate into monitoring ---------------------------------------------------------

DEPLOYMENT_CHECKS = [
    "Deployment plan signed by a business owner and an ML engineer",
    "Monitoring spec watches software, input and output metrics",
    "Rollout finished",
    "Software criteria met during the rollout",
]


def _gate(api, w) -> dict:
    return {
        c["name"]: c
        for c in api.get(f"/api/v1/projects/{w.project.slug}/gates/?to=monitoring").json()["checks"]
    }


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_the_gate_into_monitoring_fails_before_the_rollout_finishes_and_passes_after(api, world):
    w = world["a"]
    deployment, rollout = started(api, w)
    checks = _gate(api, w)
    assert [n for n in checks if n in DEPLOYMENT_CHECKS] == DEPLOYMENT_CHECKS
    assert checks[DEPLOYMENT_CHECKS[0]]["passed"] and checks[DEPLOYMENT_CHECKS[1]]["passed"]
    assert not checks["Rollout finished"]["passed"]
    assert "1 % (step 1 of 5)" in checks["Rollout finished"]["detail"]
    refused = api.post(
        f"/api/v1/projects/{w.project.slug}/transition/",
        {"to": "monitoring", "reason": "Ready: the gate passes."},
    )
    assert refused.status_code == 409
    for step in range(5):
        start, end = close_window(rollout)
        push(api, deployment, healthy_points(start, end), f"g{step}")
        assert promote(api, deployment, step=step).status_code == 200
    checks = _gate(api, w)
    assert all(checks[name]["passed"] for name in DEPLOYMENT_CHECKS), checks
    # The error-rate criterion is measured at last, by the analysis that finished the rollout.
    assert "error_rate ≤ 0.01" in checks["Software criteria met during the rollout"]["detail"]
    make_pack(w)  # the go-live pack, rendered for exactly this state
    moved = api.post(
        f"/api/v1/projects/{w.project.slug}/transition/",
        {"to": "monitoring", "reason": "Ready: the gate passes."},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    event = Event.objects.filter(project=w.project, verb="project.transitioned").latest("seq")
    names = [c["name"] for c in event.payload["checks"]]
    assert all(name in names for name in DEPLOYMENT_CHECKS)


def test_the_software_criteria_fail_the_gate_when_the_last_analysis_missed_one(world):
    from deployments.analysis.gates import DeploymentState, software_check

    state = DeploymentState(
        deployment="d",
        plan_version=1,
        rollout="finished",
        analysis_id=7,
        software=(("error_rate ≤ 0.01", "fail", "mean error rate 0.02 > 0.01"),),
    )
    check = software_check(state)
    assert not check.passed and "error_rate ≤ 0.01: mean error rate 0.02" in check.detail


def test_it_refuses_a_value_too_large_for_a_number(api, pushing):
    body = (
        '{"idempotency_key": "huge", "points": [{"name": "latency_ms", "value": 1'
        + "0" * 400
        + ', "timestamp": "2026-01-01T00:00:00Z"}]}'
    )
    response = api.post(
        f"/api/v1/deployments/{pushing.pk}/metrics/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "too large for a number" in response.json()["detail"]
