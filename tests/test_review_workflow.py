"""The auditor's workflow: a review asked of someone by a date, a thread, "request changes"
back to the engineer and the review asked for again, as pull-request reviews work."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from audits.models import AuditReview, ReviewComment, ReviewRequest
from audits.overdue import overdue_audit_reviews
from audits.selectors import audit_inbox, audits_waiting_for
from audits.services.fairness import audit_review
from audits.services.review_workflow import review_request
from projects.models import Event, Project, Role
from projects.services import teams
from tests.factories import exception_fields, make_evaluation, make_failing_audit

pytestmark = pytest.mark.django_db


def _as(api, user):
    api.force_authenticate(user)
    return api


def _with_mail(*people) -> None:
    for person in people:
        person.email = f"{person.username}@example.com"
        person.save(update_fields=["email"])


def _committed(fn):
    """Run ``fn`` and the mail it queues for after its transaction commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return fn()


def _in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def test_a_review_is_asked_of_an_auditor_by_a_date_and_lands_first_in_their_inbox(api, world):
    a, external = world["a"], world["external"]
    engineer, auditor = a.people[Role.ML_ENGINEER], a.people[Role.AUDITOR]
    _with_mail(engineer, auditor, external)
    audit = _committed(lambda: make_failing_audit(a))
    # Finishing the audit tells every auditor who may review it, not its builders.
    waiting = [m for m in mail.outbox if "waiting for review" in m.subject]
    assert sorted(m.to[0] for m in waiting) == sorted([auditor.email, external.email])
    mail.outbox.clear()

    url = f"/api/v1/audits/{audit.pk}/review-requests/"
    body = {"reviewer": external.username, "due_on": _in_days(5), "note": "Group F first."}
    asked = _committed(lambda: _as(api, engineer).post(url, body, format="json"))
    assert asked.status_code == 201, asked.json()
    assert asked.json()["reviewer"] == external.username
    assert asked.json()["due_on"] == _in_days(5)
    assert [m.to for m in mail.outbox] == [[external.email]]
    assert f"due {_in_days(5)}" in mail.outbox[0].subject
    assert "Group F first." in mail.outbox[0].body
    event = Event.objects.get(verb="audit.review_requested")
    assert event.payload == {
        "reviewer": external.username,
        "due_on": _in_days(5),
        "note": "Group F first.",
        "again": False,
    }

    inbox = _as(api, external).get("/api/v1/audits/inbox/").json()["results"]
    assert inbox[0]["id"] == audit.pk
    assert inbox[0]["review_reviewer"] == external.username
    assert inbox[0]["review_due_on"] == _in_days(5) and inbox[0]["asked_again"] is False
    # The other auditor still sees it, assigned to someone else, and it is not theirs to do.
    assert audit.pk in [
        r["id"] for r in _as(api, auditor).get("/api/v1/audits/inbox/").json()["results"]
    ]
    client = Client()
    client.force_login(external)
    home = client.get("/").content.decode()
    assert f"fairness audit {audit.pk}" in home and f"due {_in_days(5)}" in home
    client.force_login(auditor)
    # Not waiting for them (the home page's "Lately" may still mention the request).
    waiting = re.search(
        r'<article id="waiting-for-me">.*?</article>', client.get("/").content.decode(), re.S
    )
    assert waiting is None or f"fairness audit {audit.pk}" not in waiting.group()
    listed = _as(api, engineer).get(url).json()["results"]
    assert [r["reviewer"] for r in listed] == [external.username]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("reviewer", "a_ml_engineer", "reviewer_not_eligible"),
        ("reviewer", "nobody-here", "reviewer_not_eligible"),
        ("reviewer", "b_auditor", "reviewer_not_eligible"),
        ("due_on", "yesterday", "due_on"),
        ("due_on", "2001-01-01", "due_on"),
        ("due_on", "2999-01-01", "due_on"),
    ],
)
def test_a_bad_review_request_is_refused_with_what_is_wrong(api, world, field, value, code):
    a = world["a"]
    audit = make_failing_audit(a)
    response = _as(api, a.people[Role.ML_ENGINEER]).post(
        f"/api/v1/audits/{audit.pk}/review-requests/", {field: value}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert not ReviewRequest.objects.exists()


def test_a_decided_audit_is_not_asked_again(api, world):
    a = world["a"]
    # The world's own audit is approved already.
    response = _as(api, a.people[Role.ML_ENGINEER]).post(
        f"/api/v1/audits/{a.audit.pk}/review-requests/", {}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "decided_already"
    assert "new audit" in response.json()["detail"]


def test_request_changes_goes_back_to_the_engineer_who_asks_again_when_ready(api, world):
    a, external = world["a"], world["external"]
    engineer, owner = a.people[Role.ML_ENGINEER], a.people[Role.BUSINESS_OWNER]
    _with_mail(engineer, external, owner)
    audit = make_failing_audit(a)
    review_request(actor=engineer, audit=audit, reviewer=external.username)
    mail.outbox.clear()

    _committed(
        lambda: audit_review(
            actor=external,
            audit=audit,
            decision="request_changes",
            rationale="Bin the ages before I can judge group F.",
        )
    )
    assert [m.to for m in mail.outbox] == [[engineer.email]]
    assert "changes requested on audit" in mail.outbox[0].subject
    assert "Bin the ages" in mail.outbox[0].body and "ask for the review again" in (
        mail.outbox[0].body
    )
    # Changes requested: out of the inbox until asked again.
    assert audit not in audit_inbox(external)

    comments = f"/api/v1/audits/{audit.pk}/comments/"
    mail.outbox.clear()
    said = _committed(
        lambda: _as(api, engineer).post(comments, {"body": "Binned in v2."}, format="json")
    )
    assert said.status_code == 201, said.json()
    assert [m.to for m in mail.outbox] == [[external.email]]
    blank = _as(api, engineer).post(comments, {"body": "  "}, format="json")
    assert blank.status_code == 400
    assert ReviewComment.objects.count() == 1
    # Someone who lost access to the project reads no more of its thread by mail.
    auditor = a.people[Role.AUDITOR]
    _with_mail(auditor)
    review_request(actor=engineer, audit=audit, reviewer=auditor.username)
    teams.membership_remove(actor=None, membership=a.memberships[Role.AUDITOR])
    mail.outbox.clear()
    _committed(lambda: _as(api, engineer).post(comments, {"body": "Still there?"}, format="json"))
    assert [m.to for m in mail.outbox] == [[external.email]]

    again = _as(api, engineer).post(
        f"/api/v1/audits/{audit.pk}/review-requests/",
        {"reviewer": external.username, "note": "Ages binned."},
        format="json",
    )
    assert again.status_code == 201, again.json()
    assert Event.objects.filter(verb="audit.review_requested").latest("seq").payload["again"]
    inbox = _as(api, external).get("/api/v1/audits/inbox/").json()["results"]
    assert [(r["id"], r["asked_again"]) for r in inbox] == [(audit.pk, True)]

    audit_review(
        actor=external,
        audit=audit,
        decision="approve",
        rationale="Accepted with analysts on group F.",
        exception=exception_fields(a),
    )
    assert audit not in audit_inbox(external)

    # The thread tells it in order, by name.
    client = Client()
    client.force_login(owner)
    page = client.get(audit.get_absolute_url()).content.decode()
    thread = page[page.index('id="thread"') :]
    order = ["for a review", "Bin the ages", "Binned in v2.", "Ages binned.", "Accepted with"]
    positions = [thread.index(text) for text in order]
    assert positions == sorted(positions)


def test_web_forms_ask_for_a_review_and_comment(world):
    a, external = world["a"], world["external"]
    audit = make_failing_audit(a)
    client = Client()
    client.force_login(a.people[Role.BUSINESS_OWNER])
    page = client.get(audit.get_absolute_url()).content.decode()
    assert "Assign a reviewer and a due date" in page and external.username in page
    response = client.post(
        f"/audits/{audit.pk}/review-requests/",
        {"reviewer": external.username, "due_on": _in_days(3), "note": ""},
    )
    assert response.status_code == 302
    assert ReviewRequest.objects.get().reviewer == external
    refused = client.post(f"/audits/{audit.pk}/review-requests/", {"due_on": "2001-01-01"})
    assert refused.status_code == 302 and ReviewRequest.objects.count() == 1
    assert client.post(f"/audits/{audit.pk}/comments/", {"body": "See group F."}).status_code == 302
    page = client.get(audit.get_absolute_url()).content.decode()
    assert "See group F." in page and f"due {_in_days(3)}" in page

    viewer = Client()
    viewer.force_login(a.people[Role.VIEWER])
    assert viewer.post(f"/audits/{audit.pk}/comments/", {"body": "Hi"}).status_code == 403
    assert "Assign a reviewer" not in viewer.get(audit.get_absolute_url()).content.decode()


def test_a_review_past_its_due_date_is_listed_as_overdue_until_reviewed(world):
    a, external = world["a"], world["external"]
    audit = make_failing_audit(a)
    review_request(
        actor=a.people[Role.ML_ENGINEER],
        audit=audit,
        reviewer=external.username,
        due_on=timezone.localdate(),
    )
    projects = Project.objects.filter(pk=a.project.pk)
    now = timezone.now()
    assert overdue_audit_reviews(projects, now) == []
    later = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=2), time(9)))
    (item,) = overdue_audit_reviews(projects, later)
    assert item.days_overdue == 2 and item.url.endswith(f"/audits/{audit.pk}/#review")
    AuditReview.objects.create(
        audit=audit,
        decision="reject",
        rationale="Group F is not served.",
        result_sha256=audit.result_sha256,
        reviewer=external,
    )
    assert overdue_audit_reviews(projects, later) == []


def test_the_inbox_offers_only_what_the_user_may_review_and_the_gate_still_looks_at(world):
    a, external = world["a"], world["external"]
    engineer, owner = a.people[Role.ML_ENGINEER], a.people[Role.BUSINESS_OWNER]
    audit = make_failing_audit(a)
    # An engineer who is also made an auditor of the project still builds it.
    teams.project_share(actor=owner, project=a.project, role=Role.AUDITOR, user=engineer)
    assert audit not in audit_inbox(engineer)
    assert audit in audit_inbox(external) and audit in audits_waiting_for(external)

    review_request(actor=engineer, audit=audit, reviewer=external.username, due_on=_in_days(0))
    later = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=3), time()))
    projects = Project.objects.filter(pk=a.project.pk)
    assert [item.url for item in overdue_audit_reviews(projects, later)] == [
        f"/audits/{audit.pk}/#review"
    ]
    # A newer evaluation of the candidate: the gate looks at that one now. The old audit
    # stays in the inbox, marked, but is nobody's to do and overdue for nobody.
    make_evaluation(a.model, a.version, engineer)
    assert audit in audit_inbox(external)
    assert audit not in audits_waiting_for(external)
    assert overdue_audit_reviews(projects, later) == []
    client = Client()
    client.force_login(external)
    inbox = client.get("/audits/inbox/").content.decode()
    assert "superseded" in inbox and "is newer than evaluation" in inbox
