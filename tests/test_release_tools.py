"""Release tools through HTTP: Flagger's webhooks driving a canary step by step with the
payloads Flagger's documentation shows, and the verdict an Argo Rollouts analysis reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from deployments.models import Analysis, Rollout, RolloutMove
from projects.models import Event, Role
from projects.services import tokens
from tests.factories import healthy_points, make_deployment, plan_content

CHECKSUM = "85d557f47b"
#: Two steps, so a test reaches the last one quickly.
TWO_STEPS = {
    "kind": "canary",
    "steps": [{"traffic": 50, "window_minutes": 1}, {"traffic": 100, "window_minutes": 1}],
}


def payload(key: str | None, **changes) -> dict:
    """A webhook payload as Flagger's documentation shows it, its token in ``metadata``."""
    body = {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": CHECKSUM,
        "metadata": {"test": "all", "token": key},
    }
    return {**body, **changes}


def event_payload(key: str) -> dict:
    """The event hook's payload: Flagger's event, with the webhook's metadata merged in."""
    return {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": CHECKSUM,
        "metadata": {
            "eventMessage": "Advance podinfo.test canary weight 50",
            "eventType": "Normal",
            "timestamp": "1578901234567",
            "token": key,
        },
    }


def flagger(client: APIClient, deployment, hook: str, body) -> object:
    """POST as Flagger does: JSON, no headers of its own."""
    return client.post(
        f"/api/v1/deployments/{deployment.pk}/flagger/{hook}/",
        data=json.dumps(body),
        content_type="application/json",
    )


def as_token(api: APIClient, key: str) -> APIClient:
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def close_window(rollout: Rollout) -> tuple[datetime, datetime]:
    """Let the current step's window run its time: its start moves into the past."""
    Rollout.objects.filter(pk=rollout.pk).update(
        step_started_at=datetime.now(UTC) - timedelta(minutes=2)
    )
    now = datetime.now(UTC)
    return now - timedelta(seconds=50), now


def push(api: APIClient, deployment, points, key: str):
    response = api.post(
        f"/api/v1/deployments/{deployment.pk}/metrics/",
        {"idempotency_key": key, "points": points},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response


def flagger_events(project) -> list[Event]:
    return list(Event.objects.filter(project=project, verb__startswith="flagger.").order_by("id"))


@pytest.fixture
def pusher(api, world):
    """A pipeline pushing live metrics with the header Flagger cannot send."""
    return as_token(api, world["a"].token_key)


def test_it_walks_a_flagger_canary_step_by_step(pusher, world):
    w = world["a"]
    key = w.token_key
    deployment, _ = make_deployment(w)
    tool = APIClient()

    started = flagger(tool, deployment, "confirm-rollout", payload(key))
    assert started.status_code == 200, started.content
    assert started.json()["code"] == "rollout_started"
    rollout = Rollout.objects.get(deployment=deployment)
    start = rollout.moves.get()
    assert start.action == RolloutMove.Action.START and start.token_prefix
    assert "Flagger canary test/podinfo (confirm-rollout" in start.reason
    assert CHECKSUM in start.reason
    # Flagger asks again at each interval until the canary runs: the same rollout.
    again = flagger(tool, deployment, "confirm-rollout", payload(key))
    assert again.json()["code"] == "rollout_under_way" and again.json()["rollout"] == rollout.pk
    assert flagger(tool, deployment, "pre-rollout", payload(key)).status_code == 200

    # Flagger's first weight takes the canary onto the plan's first step, judged later.
    first = flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    assert first.status_code == 200 and first.json()["code"] == "traffic_confirmed"
    assert first.json()["traffic"] == 1 and not Analysis.objects.exists()
    # Its next ask waits for the step's window: held, not failed.
    held = flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    assert held.status_code == 409 and held.json()["code"] == "window_open"
    assert "closes at" in held.json()["detail"]
    assert flagger(tool, deployment, "rollout", payload(key)).status_code == 200

    shares = []
    for step in range(5):
        start_at, end_at = close_window(rollout)
        push(pusher, deployment, healthy_points(start_at, end_at), f"flagger-{step}")
        assert flagger(tool, deployment, "rollout", payload(key)).status_code == 200
        moved = flagger(tool, deployment, "confirm-traffic-increase", payload(key))
        assert moved.status_code == 200, moved.content
        shares.append(moved.json()["traffic"])
    assert shares == [5, 25, 50, 100, 100]
    assert moved.json()["code"] == "rollout_finished" and moved.json()["status"] == "finished"

    promoted = flagger(tool, deployment, "confirm-promotion", payload(key))
    assert promoted.status_code == 200, promoted.content
    assert promoted.json()["code"] == "promotion_confirmed"
    done = flagger(tool, deployment, "post-rollout", payload(key, phase="Succeeded"))
    assert done.status_code == 200 and done.json()["code"] == "rollout_finished"
    assert flagger(tool, deployment, "event", event_payload(key)).status_code == 200

    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.FINISHED and rollout.traffic == 100
    # Every analysis is stored and on the trail; every move names Flagger and the checksum.
    assert [a.outcome for a in rollout.analyses.order_by("pk")] == ["pass"] * 5
    moves = list(rollout.moves.order_by("pk"))
    assert [m.action for m in moves] == ["start", *["promote"] * 4, "finish"]
    assert all("Flagger canary test/podinfo" in m.reason and CHECKSUM in m.reason for m in moves)
    verbs = list(
        Event.objects.filter(project=w.project, verb__startswith="rollout.").values_list(
            "verb", flat=True
        )
    )
    assert verbs == ["rollout.started", *["rollout.promoted"] * 4, "rollout.finished"]
    # Every call is on the trail, with its answer, and never with the token.
    calls = flagger_events(w.project)
    assert len(calls) == 2 + 1 + 2 + 1 + 5 * 2 + 3
    assert calls[0].verb == "flagger.confirm_rollout" and calls[0].payload["answer"] == 200
    assert calls[-1].verb == "flagger.event"
    assert calls[-1].payload["event_message"] == "Advance podinfo.test canary weight 50"
    assert {c.payload["checksum"] for c in calls} == {CHECKSUM}
    assert all(key not in json.dumps(c.payload) for c in calls)
    assert all(c.token_prefix for c in calls)


def _at_last_step(pusher, tool, w, deployment) -> Rollout:
    """A two-step canary walked by Flagger onto its last step (100 %)."""
    assert flagger(tool, deployment, "confirm-rollout", payload(w.token_key)).status_code == 200
    rollout = Rollout.objects.get(deployment=deployment)
    first = flagger(tool, deployment, "confirm-traffic-increase", payload(w.token_key))
    assert first.status_code == 200
    start_at, end_at = close_window(rollout)
    push(pusher, deployment, healthy_points(start_at, end_at), "half")
    moved = flagger(tool, deployment, "confirm-traffic-increase", payload(w.token_key))
    assert moved.status_code == 200 and moved.json()["traffic"] == 100
    return rollout


def test_it_refuses_confirm_promotion_when_latency_breaches_at_the_last_step(pusher, world):
    w = world["a"]
    key = w.token_key
    deployment, _ = make_deployment(w, content=plan_content(**TWO_STEPS))
    tool = APIClient()
    rollout = _at_last_step(pusher, tool, w, deployment)
    # Flagger at its last weight, waiting for the promotion: the window is still open.
    early = flagger(tool, deployment, "confirm-promotion", payload(key))
    assert early.status_code == 409 and early.json()["code"] == "window_open"

    start_at, end_at = close_window(rollout)
    push(pusher, deployment, healthy_points(start_at, end_at, latency=450), "slow")
    refused = flagger(tool, deployment, "confirm-promotion", payload(key))
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "analysis_failed" and "latency" in body["detail"]
    failed = {c["statistic"] for c in body["checks"] if c["metric"] == "latency_ms"}
    assert {"p95"} <= failed and all(
        c["status"] == "fail" for c in body["checks"] if c["metric"] == "latency_ms"
    )
    analysis = Analysis.objects.get(pk=body["analysis"])
    assert analysis.outcome == "fail" and analysis.step == 1
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE and rollout.step == 1
    assert Event.objects.filter(project=w.project, verb="rollout.promotion_refused").exists()
    call = flagger_events(w.project)[-1]
    assert call.verb == "flagger.confirm_promotion" and call.payload["answer"] == 409
    assert call.payload["analysis"] == analysis.pk

    # Meanwhile Flagger's rollout hook fails (counting toward its threshold)…
    unhealthy = flagger(tool, deployment, "rollout", payload(key))
    assert unhealthy.status_code == 409 and unhealthy.json()["code"] == "analysis_failed"
    # …but Stagegate itself asked for no rollback: nobody ended the rollout here.
    assert flagger(tool, deployment, "rollback", payload(key)).json()["code"] == "no_rollback"


def test_it_refuses_confirm_promotion_before_the_plans_last_step(pusher, world):
    w = world["a"]
    deployment, _ = make_deployment(w, content=plan_content(**TWO_STEPS))
    tool = APIClient()
    flagger(tool, deployment, "confirm-rollout", payload(w.token_key))
    flagger(tool, deployment, "confirm-traffic-increase", payload(w.token_key))
    early = flagger(tool, deployment, "confirm-promotion", payload(w.token_key))
    assert early.status_code == 409 and early.json()["code"] == "not_at_last_step"
    assert "stepWeights" in early.json()["detail"]


def test_it_records_flaggers_rollback_with_its_reason(pusher, world):
    w = world["a"]
    key = w.token_key
    deployment, _ = make_deployment(w)
    tool = APIClient()
    flagger(tool, deployment, "confirm-rollout", payload(key))
    flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    failed = flagger(tool, deployment, "post-rollout", payload(key, phase="Failed"))
    assert failed.status_code == 200 and failed.json()["code"] == "rollout_rolled_back"
    rollout = Rollout.objects.get(deployment=deployment)
    assert rollout.status == Rollout.Status.ROLLED_BACK and rollout.traffic == 0
    move = rollout.moves.order_by("pk").last()
    assert move.action == RolloutMove.Action.ROLLBACK
    assert move.reason == (
        f"Rolled back by Flagger canary test/podinfo (post-rollout, phase Failed, "
        f"checksum {CHECKSUM})."
    )
    event = Event.objects.get(project=w.project, verb="rollout.rolled_back")
    assert "post-rollout, phase Failed" in event.payload["reason"]
    # Told twice, it rolls back once.
    twice = flagger(tool, deployment, "post-rollout", payload(key, phase="Failed"))
    assert twice.status_code == 200 and twice.json()["code"] == "nothing_to_roll_back"
    assert rollout.moves.filter(action=RolloutMove.Action.ROLLBACK).count() == 1


def test_it_asks_flagger_to_roll_back_what_a_person_rolled_back_here(pusher, world):
    w = world["a"]
    key = w.token_key
    deployment, _ = make_deployment(w)
    tool = APIClient()
    flagger(tool, deployment, "confirm-rollout", payload(key))
    flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    assert flagger(tool, deployment, "rollback", payload(key)).status_code == 409
    rolled = pusher.post(
        f"/api/v1/deployments/{deployment.pk}/rollback/",
        {"reason": "Complaints from the call centre."},
        format="json",
    )
    assert rolled.status_code == 200
    answer = flagger(tool, deployment, "rollback", payload(key, phase="Progressing"))
    assert answer.status_code == 200 and answer.json()["code"] == "roll_back"
    assert "Complaints from the call centre." in answer.json()["detail"]
    # The rollout hook fails too, and another revision of the canary is not rolled back.
    assert flagger(tool, deployment, "rollout", payload(key)).status_code == 409
    other = flagger(tool, deployment, "rollback", payload(key, checksum="0000000000"))
    assert other.status_code == 409 and other.json()["code"] == "no_rollback"
    # Flagger's own end afterwards changes nothing more.
    after = flagger(tool, deployment, "post-rollout", payload(key, phase="Failed"))
    assert after.json()["code"] == "nothing_to_roll_back"


def test_it_keeps_flagger_and_the_rollout_on_the_same_step(pusher, world):
    w = world["a"]
    key = w.token_key
    deployment, _ = make_deployment(w)
    tool = APIClient()
    flagger(tool, deployment, "confirm-rollout", payload(key))
    flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    # A new revision of the canary, while the previous one's rollout is under way, waits.
    newer = payload(key, checksum="5c1f0e9a77")
    refused = flagger(tool, deployment, "confirm-rollout", newer)
    assert refused.status_code == 409 and refused.json()["code"] == "other_revision"
    assert CHECKSUM in refused.json()["detail"]
    # Flagger starting its analysis over (weight back to 0) after it moved traffic fails.
    again = flagger(tool, deployment, "pre-rollout", payload(key))
    assert again.status_code == 409 and again.json()["code"] == "analysis_restarted"
    # Promotions through the API while Flagger drives put the two out of step: Flagger
    # catches up one step at its next increase, never two.
    rollout = Rollout.objects.get(deployment=deployment)
    for step in range(2):
        start_at, end_at = close_window(rollout)
        push(pusher, deployment, healthy_points(start_at, end_at), f"by-hand-{step}")
        by_hand = pusher.post(f"/api/v1/deployments/{deployment.pk}/promote/", {}, format="json")
        assert by_hand.status_code == 200, by_hand.content
    lost = flagger(tool, deployment, "confirm-traffic-increase", payload(key))
    assert lost.status_code == 409 and lost.json()["code"] == "out_of_step"
    assert "abort the rollout" in lost.json()["detail"]


def test_it_holds_confirm_rollout_until_the_plan_is_signed(world):
    w = world["a"]
    deployment, _ = make_deployment(w, signed=False)
    refused = flagger(APIClient(), deployment, "confirm-rollout", payload(w.token_key))
    assert refused.status_code == 409 and refused.json()["code"] == "plan_not_signed"
    assert not Rollout.objects.filter(deployment=deployment).exists()
    call = flagger_events(w.project)[-1]
    assert call.payload["answer"] == 409 and call.payload["code"] == "plan_not_signed"


def test_it_validates_the_token(world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    tool = APIClient()
    bad = flagger(tool, deployment, "confirm-rollout", payload("sg_not-a-real-key"))
    assert bad.status_code == 401
    assert flagger(tool, deployment, "confirm-rollout", payload(None)).status_code == 401
    assert (
        flagger(tool, deployment, "event", {**event_payload(""), "metadata": {}}).status_code == 401
    )
    # Team B's token does not see team A's deployment.
    other = flagger(tool, deployment, "confirm-rollout", payload(world["b"].token_key))
    assert other.status_code == 404
    # A read-only token calls no hook: even a reading hook's call steers the rollout (the
    # first call binds it to the canary's checksum).
    _, read_key = tokens.token_create(
        user=w.people[Role.BUSINESS_OWNER], name="flagger-ro", scopes=["read"]
    )
    for hook in ("confirm-rollout", "rollout", "event"):
        refused = flagger(tool, deployment, hook, payload(read_key))
        assert refused.status_code == 403 and refused.json()["code"] == "token_scope"
    # Nor does a person whose role may not move rollouts, with a token of all scopes.
    _, viewer_key = tokens.token_create(
        user=w.people[Role.VIEWER], name="viewer", scopes=["read", "write", "transition"]
    )
    assert flagger(tool, deployment, "rollout", payload(viewer_key)).status_code == 403
    assert not Rollout.objects.filter(deployment=deployment).exists()
    assert not flagger_events(w.project)


@pytest.mark.parametrize(
    ("hook", "body", "code", "words"),
    [
        ("rollout", [1, 2], "invalid_payload", "JSON object"),
        ("rollout", {"namespace": "test"}, "invalid_payload", "name: missing"),
        ("rollout", {"name": 42, "namespace": "test"}, "invalid_payload", "name: a string"),
        ("rollout", {"name": "p", "namespace": ["test"]}, "invalid_payload", "namespace: a str"),
        ("rollout", {"name": "p", "namespace": "t", "phase": True}, "invalid_payload", "phase"),
        ("rollout", {"name": "p", "namespace": "t", "metadata": "x"}, "invalid_payload", "meta"),
        ("rollout", {"name": "p" * 300, "namespace": "t"}, "invalid_payload", "at most 253"),
        ("post-rollout", payload(None, phase="Progressing"), "invalid_phase", "Succeeded"),
        ("post-rollout", payload(None, phase=None), "invalid_phase", "Failed"),
        ("rollout", payload(None, type="confirm-rollout"), "wrong_hook", "type"),
        ("pre-flight", payload(None), "unknown_hook", "confirm-rollout"),
    ],
)
def test_it_answers_400_to_a_malformed_payload(api, world, hook, body, code, words):
    w = world["a"]
    deployment, _ = make_deployment(w)
    as_token(api, w.token_key)
    response = flagger(api, deployment, hook, body)
    assert response.status_code == (404 if code == "unknown_hook" else 400), response.content
    assert response.json()["code"] == code and words in response.json()["detail"]
    assert not Rollout.objects.filter(deployment=deployment).exists()
    assert not flagger_events(w.project)


def test_it_answers_400_to_a_body_that_is_not_json(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    as_token(api, w.token_key)
    response = api.post(
        f"/api/v1/deployments/{deployment.pk}/flagger/rollout/",
        data="{name: podinfo",
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    # The token in the body of a payload of the wrong shape still authenticates it.
    odd = flagger(APIClient(), deployment, "rollout", payload(w.token_key, name=7))
    assert odd.status_code == 400 and "name: a string, not a number" in odd.json()["detail"]


# --- Argo Rollouts ---------------------------------------------------------------------


def verdict(api, deployment):
    return api.get(f"/api/v1/deployments/{deployment.pk}/analysis/")


def judge(api, deployment, **body):
    return api.post(f"/api/v1/deployments/{deployment.pk}/analysis/", body, format="json")


def argo_result(response) -> str:
    """What the AnalysisTemplate's ``jsonPath: "{$.outcome}"`` reads from the answer."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()["outcome"]


def test_it_answers_argos_analysis_with_the_steps_outcome(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w, content=plan_content(**TWO_STEPS))
    as_token(api, w.token_key)
    assert argo_result(verdict(api, deployment)) == "no_rollout"
    api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {"reason": "go"}, format="json")
    rollout = Rollout.objects.get(deployment=deployment)
    pending = verdict(api, deployment)
    assert argo_result(pending) == "pending" and "closes at" in pending.json()["detail"]
    assert argo_result(judge(api, deployment)) == "pending"
    assert not Analysis.objects.exists()

    start_at, end_at = close_window(rollout)
    push(api, deployment, healthy_points(start_at, end_at), "argo-0")
    # Argo's arguments are strings: the step comes as digits.
    passed = judge(api, deployment, step="0")
    assert argo_result(passed) == "pass"
    body = passed.json()
    assert body["step"] == 1 and body["traffic"] == 100 and body["steps"] == 2
    assert body["analysis"]["outcome"] == "pass" and body["analysis"]["step"] == 0
    # A retried measurement of the same step answers the same analysis, judging nothing.
    retried = judge(api, deployment, step="0")
    assert argo_result(retried) == "pass"
    assert retried.json()["analysis"]["id"] == body["analysis"]["id"]
    assert Analysis.objects.count() == 1
    assert argo_result(verdict(api, deployment)) == "pending"

    start_at, end_at = close_window(rollout)
    push(api, deployment, healthy_points(start_at, end_at, latency=450), "argo-1")
    failed = judge(api, deployment, step=1)
    assert argo_result(failed) == "fail"
    assert failed.json()["analysis"]["outcome"] == "fail"
    assert argo_result(verdict(api, deployment)) == "fail"
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE and rollout.step == 1

    wrong = judge(api, deployment, step="x")
    assert wrong.status_code == 400 and "step" in wrong.json()["detail"]
    ahead = judge(api, deployment, step=3)
    assert ahead.status_code == 409 and ahead.json()["code"] == "out_of_order"


def test_it_lets_a_read_only_token_read_the_verdict_but_not_judge(api, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    _, read_key = tokens.token_create(
        user=w.people[Role.BUSINESS_OWNER], name="argo-ro", scopes=["read"]
    )
    as_token(api, read_key)
    assert argo_result(verdict(api, deployment)) == "no_rollout"
    assert judge(api, deployment).status_code == 403
    as_token(api, world["b"].token_key)
    assert verdict(api, deployment).status_code == 404
    api.credentials()
    assert verdict(api, deployment).status_code == 401
