"""Exceptions: a failing audit approved only with a finding, conditions, an owner and an
expiry date; the gate passes with it until that date and fails again after; owners are
reminded; everything listed and recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from audits.analysis.gates import FAILING_VERDICTS, audit_check
from audits.models import AuditReview, PolicyException
from audits.selectors import audit_gate_state
from audits.services.exceptions import exceptions_remind
from audits.snapshot import pack_state
from projects.models import Event, Role
from projects.services import teams
from tests.factories import exception_fields, grant_exception, make_failing_audit

pytestmark = pytest.mark.django_db

APPROVE = {"decision": "approve", "rationale": "Accepted while analysts review group F."}


def _as(api, user):
    api.force_authenticate(user)
    return api


def _audit_check(api, a) -> dict:
    checks = api.get(f"/api/v1/projects/{a.project.slug}/gates/").json()["checks"]
    return next(c for c in checks if c["name"].startswith("Fairness audit"))


def _review(api, a, audit, **body):
    auditor = _as(api, a.people[Role.AUDITOR])
    return auditor.post(f"/api/v1/audits/{audit.pk}/reviews/", body, format="json")


def test_a_failing_audit_is_approved_only_as_an_exception(api, world):
    a = world["a"]
    audit = make_failing_audit(a)
    assert audit.verdict in FAILING_VERDICTS
    refused = _review(api, a, audit, **APPROVE)
    assert refused.status_code == 400
    assert refused.json()["code"] == "exception_required"
    assert "approve it only as an exception" in refused.json()["detail"]
    assert not AuditReview.objects.filter(audit=audit).exists()

    response = _review(api, a, audit, **APPROVE, exception=exception_fields(a))
    assert response.status_code == 201, response.json()
    exception = response.json()["exception"]
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    assert exception["expires_on"] == until and exception["holds"] is True
    assert exception["owner"] == a.people[Role.BUSINESS_OWNER].username
    assert exception["granted_by"] == a.people[Role.AUDITOR].username

    check = _audit_check(api, a)
    assert check["passed"] is True
    assert f"passed with exception until {until}" in check["detail"]
    granted = Event.objects.get(verb="exception.granted", project=a.project)
    assert granted.payload["audit"] == audit.pk and granted.payload["expires_on"] == until
    assert granted.payload["verdict"] == audit.verdict
    reviewed = Event.objects.filter(verb="audit.reviewed").latest("seq")
    assert reviewed.payload["verdict"] == audit.verdict


@pytest.mark.parametrize(
    ("changes", "code", "says"),
    [
        ({"owner": ""}, "exception_incomplete", "an owner"),
        ({"conditions": "  "}, "exception_incomplete", "the conditions"),
        ({"finding": ""}, "exception_incomplete", "the finding"),
        ({"expires_on": ""}, "exception_incomplete", "an expiry date"),
        ({"finding": "", "owner": ""}, "exception_incomplete", "the finding, an owner"),
        ({"expires_on": "2020-01-01"}, "exception_expiry", "must expire after today"),
        ({"expires_on": "today"}, "exception_expiry", "YYYY-MM-DD"),
        ({"expires_on": "2026-02-30"}, "exception_expiry", "YYYY-MM-DD"),
        ({"owner": "b_business_owner"}, "exception_owner", "cannot own an exception"),
        ({"owner": "nobody-at-all"}, "exception_owner", "cannot own an exception"),
        ({"finding": "x" * 10_001}, None, "finding"),
    ],
)
def test_an_incomplete_or_wrong_exception_is_refused_and_nothing_is_written(
    api, world, changes, code, says
):
    a = world["a"]
    audit = make_failing_audit(a)
    events = Event.objects.count()
    response = _review(api, a, audit, **APPROVE, exception=exception_fields(a, **changes))
    assert response.status_code == 400, response.json()
    body = response.json()
    if code is not None:
        assert body["code"] == code
    assert says in str(body)
    assert not AuditReview.objects.filter(audit=audit).exists()
    assert not PolicyException.objects.exists()
    assert Event.objects.count() == events


def test_expiry_today_and_beyond_the_longest_term_are_refused(api, world, settings):
    a = world["a"]
    audit = make_failing_audit(a)
    today = timezone.localdate()
    for expires_on, says in (
        (today, "must expire after today"),
        (today + timedelta(days=settings.EXCEPTION_MAX_DAYS + 1), "at most"),
    ):
        fields = exception_fields(a, expires_on=expires_on.isoformat())
        response = _review(api, a, audit, **APPROVE, exception=fields)
        assert response.status_code == 400 and says in response.json()["detail"]
    fields = exception_fields(
        a, expires_on=(today + timedelta(days=settings.EXCEPTION_MAX_DAYS)).isoformat()
    )
    assert _review(api, a, audit, **APPROVE, exception=fields).status_code == 201


def test_an_exception_nothing_needs_is_refused(api, world):
    a = world["a"]
    assert a.audit.verdict not in FAILING_VERDICTS  # the world's audit passes
    response = _review(api, a, a.audit, **APPROVE, exception=exception_fields(a))
    assert response.status_code == 400 and response.json()["code"] == "exception_not_needed"
    failing = make_failing_audit(a)
    body = {"decision": "request_changes", "rationale": "Raise recall for group F."}
    response = _review(api, a, failing, **body, exception=exception_fields(a))
    assert response.status_code == 400 and response.json()["code"] == "exception_not_needed"
    assert _review(api, a, failing, **body).status_code == 201


def test_an_expired_exception_fails_the_gate_again(api, world):
    a = world["a"]
    grant_exception(a, a.people[Role.AUDITOR])
    expires_on = PolicyException.objects.get().expires_on
    assert audit_gate_state(a.project, today=expires_on).status == "exception"
    state = audit_gate_state(a.project, today=expires_on + timedelta(days=1))
    assert state.status == "exception_expired"
    check = audit_check(state)
    assert check.passed is False
    assert f"expired on {expires_on.isoformat()}" in check.detail


def test_an_approval_of_a_failing_audit_without_an_exception_does_not_pass(api, world):
    """Approvals recorded before exceptions existed: the gate asks for a new review."""
    a = world["a"]
    audit = make_failing_audit(a)
    AuditReview.objects.create(
        audit=audit,
        decision="approve",
        rationale="Looks fine.",
        result_sha256=audit.result_sha256,
        reviewer=a.people[Role.AUDITOR],
    )
    check = _audit_check(_as(api, a.people[Role.VIEWER]), a)
    assert check["passed"] is False
    assert "without an exception" in check["detail"]


def test_owners_are_reminded_once_and_expiry_is_recorded_once(world, settings):
    a = world["a"]
    settings.EXCEPTION_REMIND_DAYS = 14
    owner, auditor = a.people[Role.BUSINESS_OWNER], a.people[Role.AUDITOR]
    for person in (owner, auditor):
        person.email = f"{person.username}@example.com"
        person.save(update_fields=["email"])
    teams.profile_update(actor=owner, first_name="Maria", last_name="Okafor", job_title="Head")
    grant_exception(a, auditor)
    exception = PolicyException.objects.get()
    mail.outbox.clear()
    assert exceptions_remind(exception.expires_on - timedelta(days=15)) == {
        "reminded": 0,
        "expired": 0,
    }
    soon = exception.expires_on - timedelta(days=3)
    assert _run_committed(lambda: exceptions_remind(soon)) == {"reminded": 1, "expired": 0}
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted([owner.email, auditor.email])
    assert "expires on" in mail.outbox[0].subject and exception.finding in mail.outbox[0].body
    # People by name and title, the username beside.
    assert f"Owner: Maria Okafor ({owner.username}), Head." in mail.outbox[0].body
    assert _run_committed(lambda: exceptions_remind(soon)) == {"reminded": 0, "expired": 0}

    after = exception.expires_on + timedelta(days=1)
    assert _run_committed(lambda: exceptions_remind(after)) == {"reminded": 0, "expired": 1}
    assert "expired on" in mail.outbox[-1].subject
    assert _run_committed(lambda: exceptions_remind(after)) == {"reminded": 0, "expired": 0}
    verbs = list(
        Event.objects.filter(target_id=str(exception.pk), verb__startswith="exception.")
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs == ["exception.granted", "exception.reminded", "exception.expired"]


def _run_committed(fn):
    """Run ``fn`` and the mail it queues for after its transaction commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return fn()


def test_exceptions_are_listed_for_the_project_and_across_the_team(api, world):
    a, b = world["a"], world["b"]
    audit = grant_exception(a, a.people[Role.AUDITOR])
    exception = PolicyException.objects.get()
    viewer = _as(api, a.people[Role.VIEWER])
    listed = viewer.get(f"/api/v1/projects/{a.project.slug}/exceptions/").json()["results"]
    assert [e["id"] for e in listed] == [exception.pk]
    assert listed[0]["audit"] == audit.pk and listed[0]["subject"] == "audit"
    detail = viewer.get(f"/api/v1/exceptions/{exception.pk}/")
    assert detail.status_code == 200 and detail.json()["finding"] == exception.finding
    outsider = _as(api, b.people[Role.VIEWER])
    assert outsider.get(f"/api/v1/exceptions/{exception.pk}/").status_code == 404

    browser = Client()
    browser.force_login(a.people[Role.BUSINESS_OWNER])
    for url in (f"/projects/{a.project.slug}/exceptions/", f"/teams/{a.team.slug}/exceptions/"):
        page = browser.get(url).content.decode()
        assert exception.conditions in page and exception.expires_on.isoformat() in page
    audit_page = browser.get(f"/audits/{audit.pk}/").content.decode()
    assert "as an exception" in audit_page and exception.finding in audit_page
    project_page = browser.get(f"/projects/{a.project.slug}/").content.decode()
    assert "passed with exception until" in project_page


def test_the_review_form_grants_an_exception_or_says_what_is_missing(world):
    a = world["a"]
    audit = make_failing_audit(a)
    browser = Client()
    browser.force_login(a.people[Role.AUDITOR])
    page = browser.get(f"/audits/{audit.pk}/").content.decode()
    assert "Exception (needed to approve" in page
    # The top of the report jumps to the form.
    assert '<a href="#your-review">' in page and '<article id="your-review">' in page
    url = f"/audits/{audit.pk}/reviews/"
    refused = browser.post(url, APPROVE, follow=True).content.decode()
    assert "approve it only as an exception" in refused
    fields = exception_fields(a, conditions="")
    refused = browser.post(url, {**APPROVE, **fields}, follow=True).content.decode()
    assert "An exception needs the conditions." in refused
    assert not AuditReview.objects.filter(audit=audit).exists()
    browser.post(url, {**APPROVE, **exception_fields(a)})
    exception = PolicyException.objects.get()
    assert exception.review.audit == audit and exception.granted_by == a.people[Role.AUDITOR]


def test_the_pack_snapshot_carries_the_exception(world):
    a = world["a"]
    grant_exception(a, a.people[Role.AUDITOR])
    exception = PolicyException.objects.get()
    review = pack_state(a.project)["audit"]["reviews"][-1]
    assert review["exception"] == {
        "id": exception.pk,
        "finding": exception.finding,
        "conditions": exception.conditions,
        "owner": exception.owner.username,
        "expires_on": exception.expires_on.isoformat(),
        "granted_by": exception.granted_by.username,
    }
