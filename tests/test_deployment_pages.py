"""The deployment page through the web: what each role sees and may press, saving and
signing plans, moving a rollout with its refusals shown, and the charts of its window."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from deployments.analysis.plan import default_plan
from deployments.models import AlertWebhook, Deployment, PlanSignOff, Rollout
from deployments.series import window_series
from deployments.services.alerts import alert_fire
from deployments.services.drift import drift_check_request
from deployments.services.metrics import metrics_push
from deployments.services.plans import deployment_create
from deployments.services.rollouts import rollout_start
from projects.models import Role
from projects.services.criteria import criteria_save
from tests.factories import (
    WORLD_CRITERIA,
    healthy_points,
    make_dataset,
    make_deployment,
    make_production_period,
    make_version,
    plan_content,
)

BO, MLE, AUD, VIE = Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER


def person(world, who: str):
    return world["external"] if who == "external" else world["a"].people[who]


def started(w, **kwargs) -> tuple[Deployment, Rollout]:
    """A signed deployment of team A's candidate with its rollout at the first step."""
    deployment, _ = make_deployment(w, **kwargs)
    rollout = rollout_start(actor=w.people[MLE], deployment=deployment, reason="release 7")
    return deployment, rollout


def close_window(rollout: Rollout) -> tuple[datetime, datetime]:
    """Let the step's one-minute window run: its start moves two minutes into the past; the
    span returned lies inside the window a promotion reads now."""
    begun = datetime.now(UTC) - timedelta(minutes=2)
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=begun)
    now = datetime.now(UTC)
    return now - timedelta(seconds=50), now


def push(w, deployment: Deployment, points: list[dict], key: str) -> None:
    metrics_push(actor=w.people[MLE], deployment=deployment, points=points, idempotency_key=key)


def url(deployment: Deployment, action: str = "") -> str:
    return f"/deployments/{deployment.pk}/" + (f"{action}/" if action else "")


def text(response) -> str:
    return response.content.decode()


# --- who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "may_change", "may_move", "may_sign"),
    [
        (BO, True, True, True),
        (MLE, True, True, True),
        (AUD, False, False, False),
        (VIE, False, False, False),
        ("external", False, False, False),
    ],
)
def test_it_shows_each_role_the_buttons_its_rights_allow(
    client, world, who, may_change, may_move, may_sign
):
    w = world["a"]
    deployment, plan = make_deployment(w, signed=False)
    client.force_login(person(world, who))

    page = text(client.get(url(deployment)))

    # Everyone reads the plan, its sign-off trail and what comes next.
    assert f"Plan v{plan.version}" in page and "Canary" in page
    assert "Next:</strong> Plan v1 needs sign-off" in page
    assert (f'action="{url(deployment, "plans")}"' in page) == may_change
    assert (f'action="{url(deployment, "rollouts")}"' in page) == may_move
    assert (f'action="/deployment-plans/{plan.pk}/signoffs/"' in page) == may_sign


@pytest.mark.parametrize(("who", "may_move"), [(BO, True), (MLE, True), (AUD, False), (VIE, False)])
def test_it_shows_the_rollout_buttons_only_to_those_who_may_move_it(client, world, who, may_move):
    w = world["a"]
    deployment, _ = started(w)
    client.force_login(w.people[who])

    page = text(client.get(url(deployment)))

    assert "Started" in page and "release 7" in page  # the history, for everyone
    for action in ("promote", "rollback", "abort"):
        assert (f'action="{url(deployment, action)}"' in page) == may_move
    assert f'action="{url(deployment, "rollouts")}"' not in page  # one rollout at a time


@pytest.mark.parametrize("who", [AUD, VIE])
def test_it_refuses_moves_and_plans_to_roles_without_the_right(client, world, who):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[who])

    assert client.post(url(deployment, "rollouts"), {"reason": "go"}).status_code == 403
    content = json.dumps(plan_content())
    assert client.post(url(deployment, "plans"), {"content": content}).status_code == 403
    plan = deployment.plans.get()
    sign = {"role": "business_owner", "decision": "approve"}
    assert client.post(f"/deployment-plans/{plan.pk}/signoffs/", sign).status_code == 403
    assert not deployment.rollouts.exists() and deployment.plans.count() == 1


def test_it_hides_a_deployment_from_another_team(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    plan = deployment.plans.get()
    signoff = plan.signoffs.first()
    client.force_login(world["b"].people[BO])

    for path in (url(deployment), f"/deployment-plans/{plan.pk}/"):
        assert client.get(path).status_code == 404, path
    for path in (
        url(deployment, "plans"),
        url(deployment, "promote"),
        url(deployment, "rollback"),
        url(deployment, "abort"),
        f"/deployment-plans/{plan.pk}/signoffs/",
        f"/plan-signoffs/{signoff.pk}/revoke/",
        f"/projects/{w.project.slug}/deployments/",
    ):
        assert client.post(path, {"reason": "x"}).status_code == 404, path
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE


# --- plans ----------------------------------------------------------------------------------


def test_it_saves_a_new_plan_version_from_the_json_form(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[MLE])
    content = plan_content()
    content["serving"]["latency_ms"] = {"p50": 40, "p95": 150, "p99": 300}

    response = client.post(
        url(deployment, "plans"), {"content": json.dumps(content), "note": "Tighter p95"}
    )

    assert response.status_code == 302 and response["Location"].endswith("#signoffs")
    plan = deployment.plans.order_by("-version").first()
    assert plan.version == 2 and plan.note == "Tighter p95"
    page = text(client.get(url(deployment)))
    assert "What changed from v1" in page
    assert "serving.latency_ms.p95: 200 → 150" in page
    # Sign-offs start over, and the page says so.
    assert "Next:</strong> Plan v2 needs sign-off" in page


def test_it_writes_the_first_plan_from_the_template(client, world):
    w = world["a"]
    deployment = deployment_create(actor=w.people[MLE], project=w.project, model_version=w.model)
    client.force_login(w.people[MLE])

    page = text(client.get(url(deployment)))
    assert "Write the deployment plan" in page
    textarea = re.search(r"<textarea[^>]*name=\"content\"[^>]*>(.*?)</textarea>", page, re.S)
    template = json.loads(html.unescape(textarea.group(1)))
    assert template == default_plan()

    response = client.post(url(deployment, "plans"), {"content": json.dumps(template)})

    assert response.status_code == 302
    assert deployment.plans.get().version == 1


def test_it_shows_a_json_syntax_error_on_the_form_with_its_line(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[MLE])
    typed = '{\n  "serving": {"mode": "realtime",}\n}'

    response = client.post(url(deployment, "plans"), {"content": typed})

    assert response.status_code == 400
    page = text(response)
    assert "This is not valid JSON" in page and "line 2" in page
    assert "&quot;mode&quot;: &quot;realtime&quot;,}" in page  # kept as typed
    assert deployment.plans.count() == 1


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[1, 2]", "A plan is one JSON object"),
        (
            json.dumps(plan_content(kind="canary", steps=[{"traffic": 50}, {"traffic": 10}])),
            "pattern.steps[2].traffic",
        ),
    ],
)
def test_it_shows_the_plans_refusal_on_the_form_naming_the_field(client, world, content, words):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[BO])

    response = client.post(url(deployment, "plans"), {"content": content})

    assert response.status_code == 400
    assert words in text(response)
    assert deployment.plans.count() == 1


def test_it_shows_a_plan_looser_than_the_criteria_on_the_form(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    criteria = [
        *WORLD_CRITERIA,
        {"metric": "p95_latency_ms", "comparator": "<=", "target": 150, "rationale": "UX."},
    ]
    criteria_save(actor=w.people[MLE], project=w.project, criteria=criteria)
    client.force_login(w.people[MLE])
    content = plan_content()
    content["serving"]["security_notes"] = "Internal gateway."  # a change, still p95 200 ms

    response = client.post(url(deployment, "plans"), {"content": json.dumps(content)})

    assert response.status_code == 400
    page = text(response)
    assert "looser than the success criterion" in page and "150 ms" in page
    assert deployment.plans.count() == 1
    # The plan on record now reads looser than what was agreed since: the page warns.
    assert "Looser than the success criteria agreed since" in text(client.get(url(deployment)))


def test_it_refuses_a_plan_change_during_a_rollout_on_the_form(client, world):
    w = world["a"]
    deployment, _ = started(w)
    client.force_login(w.people[MLE])
    content = plan_content()
    content["serving"]["security_notes"] = "Changed."

    response = client.post(url(deployment, "plans"), {"content": json.dumps(content)})

    assert response.status_code == 409
    assert "A rollout of this deployment is under way" in text(response)


# --- sign-off -------------------------------------------------------------------------------


def _evidence(page: str) -> str:
    return re.search(r'name="evidence_sha256" value="([0-9a-f]{64})"', page).group(1)


def test_it_signs_a_plan_in_the_web_bound_to_the_evidence_shown(client, world):
    w = world["a"]
    deployment, plan = make_deployment(w, signed=False)
    for who, role in ((BO, "business_owner"), (MLE, "ml_engineer")):
        client.force_login(w.people[who])
        shown = _evidence(text(client.get(url(deployment))))
        response = client.post(
            f"/deployment-plans/{plan.pk}/signoffs/",
            {"role": role, "decision": "approve", "evidence_sha256": shown},
        )
        assert response.status_code == 302
        signoff = PlanSignOff.objects.get(plan=plan, signed_by=w.people[who])
        assert signoff.evidence_sha256 == shown and signoff.content_sha256 == plan.content_sha256

    page = text(client.get(url(deployment)))
    assert "Signed off" in page and "Approved by a_business_owner" in page
    assert "start the rollout" in page
    # Signed already: no form to sign twice.
    assert f'action="/deployment-plans/{plan.pk}/signoffs/"' not in page


def test_it_refuses_a_signature_on_evidence_that_changed_since_the_page(client, world):
    w = world["a"]
    _, plan = make_deployment(w, signed=False)
    client.force_login(w.people[BO])

    response = client.post(
        f"/deployment-plans/{plan.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve", "evidence_sha256": "0" * 64},
    )

    assert response.status_code == 409
    assert "read it again" in text(response)
    assert not plan.signoffs.exists()


def test_it_revokes_ones_own_plan_signoff(client, world):
    w = world["a"]
    deployment, plan = make_deployment(w)
    mine = plan.signoffs.get(signed_by=w.people[BO])
    client.force_login(w.people[MLE])
    # Someone else's sign-off is not theirs to revoke.
    assert client.post(f"/plan-signoffs/{mine.pk}/revoke/").status_code == 403
    client.force_login(w.people[BO])
    page = text(client.get(url(deployment)))
    assert f'action="/plan-signoffs/{mine.pk}/revoke/"' in page

    response = client.post(f"/plan-signoffs/{mine.pk}/revoke/", {"reason": "Read it again"})

    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    page = text(client.get(url(deployment)))
    assert "Revoked" in page and "Read it again" in page and "Not signed off" in page


def test_it_shows_an_older_plan_version_with_its_stale_signoffs(client, world):
    w = world["a"]
    deployment, first = make_deployment(w)
    client.force_login(w.people[MLE])
    content = plan_content()
    content["serving"]["security_notes"] = "Internal gateway."
    client.post(url(deployment, "plans"), {"content": json.dumps(content)})

    page = text(client.get(f"/deployment-plans/{first.pk}/"))

    assert "superseded by" in page and "Stale" in page
    assert "deployment plan changed: v1 → v2" in page
    # An older version is not signed any more.
    assert f'action="/deployment-plans/{first.pk}/signoffs/"' not in page


# --- rollouts -------------------------------------------------------------------------------


def test_it_starts_a_rollout_from_the_form(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[MLE])

    response = client.post(url(deployment, "rollouts"), {"reason": "release 8"})

    assert response.status_code == 302
    rollout = deployment.rollouts.get()
    assert rollout.status == Rollout.Status.ACTIVE and rollout.traffic == 1
    page = text(client.get(url(deployment)))
    assert "Rollout started by plan v1" in page and "release 8" in page
    assert 'class="current"' in page  # the stepper's first step


def test_it_refuses_to_start_from_an_unsigned_plan_and_says_why(client, world):
    w = world["a"]
    deployment, _ = make_deployment(w, signed=False)
    client.force_login(w.people[MLE])

    response = client.post(url(deployment, "rollouts"), {"reason": ""})

    assert response.status_code == 409
    assert "Plan v1 is not signed" in text(response)
    assert not deployment.rollouts.exists()


def test_it_refuses_a_promotion_while_the_window_is_open(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    client.force_login(w.people[MLE])

    response = client.post(url(deployment, "promote"), {"step": 0})

    assert response.status_code == 409
    assert "analysis window closes at" in text(response)
    rollout.refresh_from_db()
    assert rollout.step == 0 and not rollout.analyses.exists()


def test_it_shows_the_failing_checks_when_a_promotion_is_refused(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    start, end = close_window(rollout)
    push(w, deployment, healthy_points(start, end, latency=450), "slow")
    client.force_login(w.people[BO])

    response = client.post(url(deployment, "promote"), {"step": 0, "reason": "looks fine?"})

    assert response.status_code == 409
    page = text(response)
    refusal = page[page.index('id="refusal"') : page.index('id="next"')]
    assert "Not promoted" in refusal
    assert "p95 latency" in refusal and "misses ≤ 200 ms" in refusal
    assert 'class="badge check-fail"' in refusal
    analysis = rollout.analyses.get()
    assert analysis.outcome == "fail" and f"analysis {analysis.pk}" in refusal
    # The charts show the analysed window: the missed target in red.
    assert 'class="target fail"' in page and "p95 latency ≤ 200 ms (missed)" in page
    rollout.refresh_from_db()
    assert rollout.step == 0


def test_it_promotes_on_healthy_metrics_and_not_twice_on_a_second_click(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    start, end = close_window(rollout)
    push(w, deployment, healthy_points(start, end), "ok")
    client.force_login(w.people[MLE])

    response = client.post(url(deployment, "promote"), {"step": 0, "reason": "healthy"})

    assert response.status_code == 302
    rollout.refresh_from_db()
    assert rollout.step == 1 and rollout.traffic == 5
    page = text(client.get(url(deployment)))
    assert "Promoted to step 2 of 5" in page and "All 5 checks passed" in page
    # The same form posted again names the step it saw: refused, not promoted twice.
    close_window(rollout)
    again = client.post(url(deployment, "promote"), {"step": 0})
    assert again.status_code == 409 and "not step 1" in text(again)
    rollout.refresh_from_db()
    assert rollout.step == 1


def test_it_needs_a_reason_to_roll_back_and_then_rolls_back(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    client.force_login(w.people[BO])

    refused = client.post(url(deployment, "rollback"), {"reason": "  "})
    assert refused.status_code == 400 and "Say why you roll back" in text(refused)

    response = client.post(url(deployment, "rollback"), {"reason": "Error spike in EU"})

    assert response.status_code == 302
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ROLLED_BACK and rollout.traffic == 0
    page = text(client.get(url(deployment)))
    assert "Error spike in EU" in page and 'class="stopped"' in page
    assert f'action="{url(deployment, "rollouts")}"' in page  # may start again


def test_it_aborts_a_rollout_with_a_reason(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    client.force_login(w.people[MLE])

    response = client.post(url(deployment, "abort"), {"reason": "Wrong model build"})

    assert response.status_code == 302
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    page = text(client.get(url(deployment)))
    assert "Rollout aborted" in page and "Wrong model build" in page


@pytest.mark.parametrize(
    ("pattern", "steps", "chart"),
    [
        (
            {"kind": "blue_green", "environments": ["blue", "green"], "window_minutes": 1},
            ["Check green", "Switch to green"],
            "Latency",
        ),
        (
            {"kind": "shadow", "agreement_min": 0.9, "min_cases": 10, "window_minutes": 1},
            ["Shadow", "Accepted"],
            "Shadow agreement",
        ),
        (
            {"kind": "all_at_once", "reason": "Internal tool", "window_minutes": 1},
            ["100 %", "Finished"],
            "Error rate",
        ),
    ],
)
def test_it_shows_each_patterns_steps_and_charts(client, world, pattern, steps, chart):
    w = world["a"]
    deployment, _ = started(w, content=plan_content(**pattern))
    client.force_login(w.people[AUD])

    page = text(client.get(url(deployment)))

    labels = re.findall(r'<span class="step-label">(.*?)</span>', page)
    assert labels == steps
    assert f"<title>{chart}</title>" in page
    if pattern["kind"] == "blue_green":
        assert 'class="badge env-live">blue<' in page and "Traffic stays on blue" in page


# --- charts ---------------------------------------------------------------------------------


def test_it_charts_each_checked_metric_with_its_target_line(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    now = datetime.now(UTC)
    # Half of the step's one-minute window has run.
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=now - timedelta(seconds=30))
    push(w, deployment, healthy_points(now - timedelta(seconds=25), now), "live")
    client.force_login(w.people[VIE])

    page = text(client.get(url(deployment)))

    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 3  # latency, throughput, error rate
    latency = next(svg for svg in charts if "<title>Latency</title>" in svg)
    assert latency.count('class="target unjudged"') == 3  # p50, p95 and p99
    assert "p95 latency ≤ 200 ms" in latency
    assert "<desc>Latency from" in latency and "30 points" in latency
    assert 'class="to-come"' in latency  # the one-minute window is still open
    assert "Target: p95 latency ≤ 200 ms." in page  # the text beside the chart


def test_it_charts_an_analysed_window_on_request(client, world):
    w = world["a"]
    deployment, rollout = started(w)
    start, end = close_window(rollout)
    push(w, deployment, healthy_points(start, end), "ok")
    client.force_login(w.people[MLE])
    client.post(url(deployment, "promote"), {"step": 0})
    analysis = rollout.analyses.get()

    page = text(client.get(url(deployment), {"analysis": analysis.pk}))

    assert f"The window analysis {analysis.pk} judged" in page
    assert page.count('class="target pass"') == 5
    assert "p95 latency ≤ 200 ms (met)" in page


def test_it_reads_at_most_500_values_per_metric_for_a_chart(world):
    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=50)
    points = [
        {
            "name": "latency_ms",
            "value": float(i % 97),
            "timestamp": (start + i * (end - start) / 3000).isoformat(),
        }
        for i in range(3000)
    ]
    push(w, deployment, points, "many")

    series = window_series(deployment, ["latency_ms", "error_rate"], start, end)

    latency = series["latency_ms"]
    assert len(latency.values) == 500 and latency.points == 3000
    assert min(latency.lows) == 0 and max(latency.highs) == 96
    assert series["error_rate"].points == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="buckets are SQL on PostgreSQL only")
def test_it_buckets_points_in_sql_as_numpy_does(world):
    from deployments.series import _numpy_series

    w = world["a"]
    deployment, _ = make_deployment(w, stage=False)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=10)
    points = [
        {
            "name": "latency_ms",
            "value": (i * 7919) % 311 / 3,
            "timestamp": (start + timedelta(seconds=0.37 * i + 0.01)).isoformat(),
        }
        for i in range(1500)
    ]
    push(w, deployment, points, "sql")

    in_sql = window_series(deployment, ["latency_ms"], start, end, max_points=200)["latency_ms"]
    in_numpy = _numpy_series(deployment, ["latency_ms"], start, end, 200)["latency_ms"]

    assert in_sql.counts == in_numpy.counts
    assert in_sql.lows == in_numpy.lows and in_sql.highs == in_numpy.highs
    assert in_sql.values == pytest.approx(in_numpy.values, rel=1e-12)
    assert in_sql.times == pytest.approx(in_numpy.times, rel=1e-12)


# --- the project page and the query budget --------------------------------------------------


def test_it_starts_a_deployment_of_the_candidate_from_the_project_page(client, world):
    w = world["a"]
    client.force_login(w.people[MLE])
    page = text(client.get(f"/projects/{w.project.slug}/"))
    assert f"New deployment of {w.model}" in page

    response = client.post(
        f"/projects/{w.project.slug}/deployments/",
        {"model_version": w.model.pk, "name": "", "environment": "staging"},
    )

    deployment = Deployment.objects.get(project=w.project)
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/#edit-plan"
    assert deployment.environment == "staging" and deployment.model_version == w.model
    panel = text(client.get(f"/projects/{w.project.slug}/"))
    assert deployment.name in panel and "Write the deployment plan" in panel


def test_it_refuses_a_deployment_of_a_model_that_is_not_the_candidate(client, world):
    w = world["a"]
    client.force_login(w.people[MLE])

    response = client.post(
        f"/projects/{w.project.slug}/deployments/", {"model_version": w.spare_model.pk}, follow=True
    )

    assert "is not the candidate model" in text(response)
    assert not Deployment.objects.filter(project=w.project).exists()


@pytest.mark.parametrize("who", [AUD, VIE])
def test_it_offers_no_new_deployment_to_those_who_may_not_change(client, world, who):
    w = world["a"]
    client.force_login(w.people[who])
    assert "New deployment of" not in text(client.get(f"/projects/{w.project.slug}/"))
    response = client.post(
        f"/projects/{w.project.slug}/deployments/", {"model_version": w.model.pk}
    )
    assert response.status_code == 403


def test_it_renders_the_page_within_its_query_budget(client, world, django_assert_max_num_queries):
    w = world["a"]
    deployment, rollout = started(w)
    client.force_login(w.people[MLE])
    for step in range(3):  # three analyses, three moves, points in each window
        start, end = close_window(rollout)
        push(w, deployment, healthy_points(start, end), f"s{step}")
        assert client.post(url(deployment, "promote"), {"step": step}).status_code == 302
        rollout.refresh_from_db()
    now = datetime.now(UTC)
    push(w, deployment, healthy_points(now - timedelta(seconds=30), now), "live")
    # Two drift checks listed, and the form to start another (its two version lists).
    engineer = w.people[MLE]
    period = make_version(
        make_dataset(w.project, engineer, name="production", purpose="production_sample"),
        engineer,
    )
    for _ in range(2):
        drift_check_request(
            actor=engineer, deployment=deployment, reference=w.version, current=period
        )
    # The period listed as a production period, and the forms to record another and to
    # join labels (the label batches listed).
    make_production_period(
        deployment, period, start=now - timedelta(days=7), end=now - timedelta(minutes=1)
    )

    # Three alerts, each told to a webhook.
    AlertWebhook.objects.create(deployment=deployment, url="https://1.1.1.1/hook", secret="s")
    for name in ("Latency", "Errors", "Drift"):
        alert_fire(
            deployment=deployment, source="spec", rule=name, key=f"spec:{name}", summary=name
        )

    # 45 for the page, up to four for the top navigation (the audit inbox's count, whether
    # to offer tokens) that every page carries.
    with django_assert_max_num_queries(49):
        response = client.get(url(deployment))

    assert response.status_code == 200
    page = text(response)
    assert page.count('class="analysis"') == 3 and page.count("<svg") == 3
    assert page.count("/drift-checks/") >= 3
    assert page.count('id="alert-') == 3 and page.count("https://1.1.1.1/hook") == 4


# --- the deployment's metrics token -------------------------------------------------------


def test_it_makes_a_metrics_token_and_shows_its_key_once(client, world):
    from projects.services.tokens import token_authenticate

    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(w.people[MLE])

    made = client.post(url(deployment, "tokens"), {"name": "pod exporter", "days": "30"})

    assert made.status_code == 200
    key = re.search(r"sg_[0-9a-f]{8}_[\w-]+", text(made)).group(0)
    token = token_authenticate(key)
    assert token.deployment_binding.deployment_id == deployment.pk
    assert token.name == "pod exporter" and sorted(token.scopes) == ["metrics", "read"]
    again = text(client.get(url(deployment)))
    assert key not in again and "pod exporter" in again and token.prefix in again
    # Bad input is told on the page; nothing is made.
    bad = client.post(url(deployment, "tokens"), {"name": "x", "days": "0"})
    assert bad.status_code == 400 and "No token was made" in html.unescape(text(bad))
    assert deployment.tokens.count() == 1


@pytest.mark.parametrize("who", [AUD, VIE, "external"])
def test_only_who_may_change_the_deployment_makes_its_token(client, world, who):
    w = world["a"]
    deployment, _ = make_deployment(w)
    client.force_login(person(world, who))
    assert "Make a metrics token" not in text(client.get(url(deployment)))
    assert client.post(url(deployment, "tokens"), {"days": "30"}).status_code == 403
    assert not deployment.tokens.exists()
