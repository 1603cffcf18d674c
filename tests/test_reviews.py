"""Periodic review of live deployments through HTTP: recorded in the API and on the
dashboard, refused with a reason (blank notes, an unknown outcome, a project outside
monitoring, an earlier cycle's or an unfinished deployment), on the trail; the monitoring
checklist on the dashboard and the project page; reviews overdue on the home pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Alert, Deployment, MonitoringReview, Rollout
from deployments.services.alerts import alert_fire
from portal.inputs import LONG_TEXT_MAX
from projects import overdue, selectors
from projects.models import Event, Project, Role
from tests.factories import make_deployment, plan_content
from tests.test_cycles import as_token, rolled_out

NOTES = "Latency and errors within targets all month; drift check of the 16th steady."


def go_live(w, *, days_ago: float = 10, review_days: int = 30, name: str = "") -> Deployment:
    """A deployment of ``w``'s candidate whose rollout finished ``days_ago``, the project in
    monitoring (set here; the walk and the gate are tested in test_cycles)."""
    content = plan_content()
    content["monitoring"]["review_cadence_days"] = review_days
    deployment, plan = make_deployment(w, content=content, stage=False)
    if name:
        Deployment.objects.filter(pk=deployment.pk).update(name=name)
        deployment.refresh_from_db()
    finished = timezone.now() - timedelta(days=days_ago)
    Rollout.objects.create(
        deployment=deployment,
        plan=plan,
        pattern="canary",
        status=Rollout.Status.FINISHED,
        step=4,
        traffic=100,
        started_at=finished - timedelta(hours=3),
        finished_at=finished,
    )
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    w.project.refresh_from_db()
    return deployment


def post_review(api, deployment, **body):
    body = {"outcome": "continue", "notes": NOTES, **body}
    return api.post(f"/api/v1/deployments/{deployment.pk}/reviews/", body, format="json")


def test_it_records_a_review_lists_it_and_puts_it_on_the_trail(api, world):
    w = world["a"]
    deployment = go_live(w)
    as_token(api, w)

    response = post_review(api, deployment, outcome="actions", notes=f"  {NOTES}\n")

    assert response.status_code == 201, response.content
    body = response.json()
    review = MonitoringReview.objects.get(pk=body["id"])
    assert response["Location"] == body["url"] and body["url"].endswith(f"/reviews/{review.pk}/")
    assert body["outcome"] == "actions" and body["notes"] == NOTES
    assert (body["deployment"], body["cycle"]) == (deployment.pk, 1)
    assert body["reviewed_by"] == w.people[Role.BUSINESS_OWNER].username
    event = Event.objects.get(verb="monitoring_review.recorded")
    assert event.project_id == w.project.pk and event.target_id == str(review.pk)
    assert event.payload == {
        "deployment": deployment.pk,
        "cycle": 1,
        "outcome": "actions",
        "notes": NOTES,
    }
    assert event.token_prefix  # the CI token's
    later = post_review(api, deployment, outcome="continue").json()

    listed = api.get(f"/api/v1/deployments/{deployment.pk}/reviews/").json()
    assert listed["count"] == 2
    assert [r["id"] for r in listed["results"]] == [later["id"], review.pk]
    assert api.get(f"/api/v1/reviews/{review.pk}/").json() == body


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"notes": "   "}, "notes", "blank"),
        ({"notes": "x" * (LONG_TEXT_MAX + 1)}, "notes", f"no more than {LONG_TEXT_MAX}"),
        ({"notes": "bad \x00 byte"}, "notes", "NUL"),
        ({"outcome": "ship"}, "outcome", "not a valid choice"),
        ({"outcome": None}, "outcome", "null"),
    ],
)
def test_it_refuses_bad_input_with_what_was_wrong(api, world, body, field, says):
    w = world["a"]
    deployment = go_live(w)
    as_token(api, w)
    before = Event.objects.count()

    response = post_review(api, deployment, **body)

    assert response.status_code == 400, response.content
    answer = response.json()
    assert field in answer["detail"] and says in answer["detail"], answer
    assert not MonitoringReview.objects.exists() and Event.objects.count() == before


def test_it_refuses_a_review_while_nothing_is_live_to_review(api, world):
    w = world["a"]
    as_token(api, w)
    # Planned, never rolled out; then the project in deployment; then an earlier cycle's.
    planned, _ = make_deployment(w, stage=False)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    refused = post_review(api, planned)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_live"
    assert "No rollout of" in refused.json()["detail"]

    live = go_live(w)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.DEPLOYMENT)
    refused = post_review(api, live).json()
    assert refused["code"] == "not_monitoring"
    assert refused["detail"] == (
        "The project is in deployment; periodic reviews are recorded while it is in monitoring."
    )

    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING, cycle=2)
    refused = post_review(api, live).json()
    assert refused["code"] == "not_current_cycle" and "cycle 2" in refused["detail"]
    assert not MonitoringReview.objects.exists()
    assert not Event.objects.filter(verb="monitoring_review.recorded").exists()


def test_every_role_reads_reviews_and_only_owners_and_engineers_record_them(api, world):
    w = world["a"]
    deployment = go_live(w)
    for role in (Role.VIEWER, Role.AUDITOR):
        api.force_authenticate(w.people[role])
        assert api.get(f"/api/v1/deployments/{deployment.pk}/reviews/").status_code == 200
        refused = post_review(api, deployment)
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    api.force_authenticate(w.people[Role.ML_ENGINEER])
    assert post_review(api, deployment).status_code == 201
    api.force_authenticate(world["b"].people[Role.BUSINESS_OWNER])
    assert post_review(api, deployment).status_code == 404
    review = MonitoringReview.objects.get()
    assert api.get(f"/api/v1/reviews/{review.pk}/").status_code == 404


def _dashboard(client, deployment) -> str:
    response = client.get(f"/deployments/{deployment.pk}/dashboard/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_dashboard_shows_the_checklist_and_records_a_review(client, world):
    w = world["a"]
    deployment = go_live(w, days_ago=10, review_days=30)
    client.force_login(w.people[Role.ML_ENGINEER])

    page = _dashboard(client, deployment)
    assert 'id="review"' in page and "Periodic review" in page
    assert page.index('id="review"') < page.index('id="open-alerts"')
    assert "Periodic review within its cadence" in page
    assert "No review recorded since monitoring began" in page
    assert "No drift check has finished since monitoring began" in page  # 10 days > 7
    assert "Record the review" in page

    response = client.post(
        f"/deployments/{deployment.pk}/reviews/", {"outcome": "actions", "notes": NOTES}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/dashboard/#review"
    page = _dashboard(client, deployment)
    assert "Review recorded" in page
    engineer = w.people[Role.ML_ENGINEER].username
    assert f"Last reviewed by {engineer} on {timezone.now():%Y-%m-%d} (Keep, with actions)" in page
    assert NOTES in page and "Keep, with actions" in page
    due = timezone.now() + timedelta(days=30)
    assert f"due by {due:%Y-%m-%d}" in page
    assert Event.objects.filter(verb="monitoring_review.recorded").count() == 1

    # Who may not record sees the history, not the form.
    client.force_login(w.people[Role.VIEWER])
    page = _dashboard(client, deployment)
    assert NOTES in page and "Record the review" not in page


def test_bad_input_on_the_dashboard_is_shown_again_with_its_reason(client, world):
    w = world["a"]
    deployment = go_live(w)
    client.force_login(w.people[Role.BUSINESS_OWNER])
    url = f"/deployments/{deployment.pk}/reviews/"

    blank = client.post(url, {"outcome": "continue", "notes": "  "})
    assert blank.status_code == 400
    assert "No review was recorded: see the fields below." in blank.content.decode()
    assert "This field is required." in blank.content.decode()

    unknown = client.post(url, {"outcome": "ship", "notes": "Kept as typed."})
    assert unknown.status_code == 400
    assert "Kept as typed." in unknown.content.decode()  # the notes are not lost

    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.DEPLOYMENT)
    late = client.post(url, {"outcome": "continue", "notes": "After the move back."})
    assert late.status_code == 409
    text = late.content.decode()
    assert "No review was recorded. The project is in deployment" in text
    assert not MonitoringReview.objects.exists()


def test_the_checklist_fails_on_an_overdue_review_and_an_unacknowledged_alert(client, api, world):
    w = world["a"]
    deployment = go_live(w, days_ago=40, review_days=30)
    client.force_login(w.people[Role.VIEWER])

    page = client.get(w.project.get_absolute_url()).content.decode()
    assert 'id="monitoring-checklist"' in page
    assert "the review was due on" in page and "10 days overdue" in page
    assert "No alert left unacknowledged" in page and "Every alert that fires" in page

    alert, _ = alert_fire(
        deployment=deployment, source=Alert.Source.SPEC, rule="Slow", key="Slow", summary="."
    )
    page = client.get(w.project.get_absolute_url()).content.decode()
    assert "1 alert fires with nobody on it: “Slow”" in page
    dashboard = _dashboard(client, deployment)
    assert "10 days overdue" in dashboard and "1 alert fires with nobody on it" in dashboard

    as_token(api, w)
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200
    assert post_review(api, deployment).status_code == 201
    page = client.get(w.project.get_absolute_url()).content.decode()
    checklist = page[page.index('id="monitoring-checklist"') : page.index('id="data"')]
    assert "Last reviewed by" in checklist and "overdue" not in checklist.split("Drift")[0]
    assert "Every alert that fires has someone on it." in checklist


def test_the_project_page_shows_no_checklist_outside_monitoring(client, world):
    w = world["a"]
    go_live(w)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.DEPLOYMENT)
    client.force_login(w.people[Role.VIEWER])
    page = client.get(w.project.get_absolute_url()).content.decode()
    assert 'id="monitoring-checklist"' not in page


def test_home_pages_list_reviews_overdue_to_who_may_see_them(client, world):
    a, b = world["a"], world["b"]
    late = go_live(a, days_ago=45, review_days=30, name="scorer live")
    go_live(b, days_ago=3, review_days=30)  # team B's: not due yet

    client.force_login(a.people[Role.VIEWER])
    home = client.get("/").content.decode()
    assert "Reviews overdue" in home
    due = late.rollouts.get().finished_at + timedelta(days=30)
    item = home[home.index('id="reviews-overdue"') :]
    assert f"/deployments/{late.pk}/dashboard/#review" in item
    assert "scorer live" in item and a.project.name in item
    assert f"due since {due:%Y-%m-%d}" in item and "(15 days overdue)" in item
    team = client.get(a.team.get_absolute_url()).content.decode()
    assert "Reviews overdue" in team and "scorer live" in team

    # Not to another team: neither theirs listed nor ours shown them.
    client.force_login(b.people[Role.BUSINESS_OWNER])
    home = client.get("/").content.decode()
    assert "Reviews overdue" not in home and "scorer live" not in home

    # A review takes it off the list.
    client.force_login(a.people[Role.BUSINESS_OWNER])
    client.post(f"/deployments/{late.pk}/reviews/", {"outcome": "continue", "notes": NOTES})
    client.force_login(a.people[Role.VIEWER])
    assert "Reviews overdue" not in client.get("/").content.decode()


def test_a_walked_rollout_starts_the_clock_when_it_finishes(api, client, world):
    w = world["a"]
    as_token(api, w)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.DEPLOYMENT)
    deployment = rolled_out(api, w)
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    finished = deployment.rollouts.get().finished_at
    assert finished is not None
    client.force_login(w.people[Role.VIEWER])
    page = _dashboard(client, deployment)
    due = finished + timedelta(days=30)
    assert f"due by {due:%Y-%m-%d}" in page
    assert f"No review recorded since monitoring began on {finished:%Y-%m-%d}" in page


def test_the_overdue_list_takes_three_queries_however_many_deployments(
    world, django_assert_num_queries
):
    a, b = world["a"], world["b"]
    for n in range(4):
        go_live(a, days_ago=45 + n, name=f"scorer {n}")
    go_live(b, days_ago=45)
    visible = selectors.project_list(a.people[Role.VIEWER])
    # One for the live deployments with their start and last review, one for the cadences,
    # one for the audit reviews past their due date.
    with django_assert_num_queries(3):
        found = overdue.overdue_reviews(visible)
    assert [item.subject for item in found] == [f"scorer {n}" for n in (3, 2, 1, 0)]
    assert {item.project for item in found} == {a.project}


def test_a_review_that_asks_for_a_new_cycle_proposes_one_on_the_project_page(api, client, world):
    w = world["a"]
    deployment = go_live(w)
    as_token(api, w)
    client.force_login(w.people[Role.BUSINESS_OWNER])
    assert "Start cycle 2" not in client.get(w.project.get_absolute_url()).content.decode()
    post_review(api, deployment, outcome="actions")
    assert "Start cycle 2" not in client.get(w.project.get_absolute_url()).content.decode()

    post_review(api, deployment, outcome="retrain", notes="Picks slipped all month; retrain.")

    page = client.get(w.project.get_absolute_url()).content.decode()
    assert "Start cycle 2" in page
    assert "concluded: start a new cycle. Picks slipped all month; retrain." in page
