"""Sudo mode: signing, approving, reviewing and exceptions in a signed-in session need the
password entered within the last 15 minutes; the confirmation page renews it and sends the
person back to the form. API tokens are not asked."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audits.models import AuditReview, PolicyException
from portal.sudo import SESSION_KEY
from projects.models import Role, SignOff
from projects.services import tokens
from projects.services.criteria import criteria_save
from tests.factories import PASSWORD, WORLD_CRITERIA, exception_fields, make_failing_audit

pytestmark = pytest.mark.django_db

STALE = 16 * 60  # seconds since the password was entered: past the 15 minutes


def _signed_in(person, *, entered_ago: float = 0) -> Client:
    browser = Client()
    browser.force_login(person)
    session = browser.session
    assert SESSION_KEY in session, "signing in counts as entering the password"
    session[SESSION_KEY] = time.time() - entered_ago
    session.save()
    return browser


def _new_criteria(a):
    changed = [dict(c) for c in WORLD_CRITERIA]
    changed[0]["target"] = 0.66
    return criteria_save(actor=a.people[Role.ML_ENGINEER], project=a.project, criteria=changed)


def test_a_stale_password_sends_the_signer_to_confirm_it_and_back(world):
    a = world["a"]
    owner = a.people[Role.BUSINESS_OWNER]
    version = _new_criteria(a)
    page = f"/criteria-versions/{version.pk}/"
    browser = _signed_in(owner, entered_ago=STALE)
    sign = {"role": "business_owner", "decision": "approve"}
    url = f"/criteria-versions/{version.pk}/signoffs/"
    refused = browser.post(url, sign, HTTP_REFERER=f"http://testserver{page}")
    assert refused.status_code == 302
    assert refused["Location"] == f"/accounts/confirm-password/?next={page.replace('/', '%2F')}"
    assert not SignOff.objects.filter(criteria_version=version).exists()

    wrong = browser.post("/accounts/confirm-password/", {"password": "guess", "next": page})
    assert wrong.status_code == 200 and "That is not your password." in wrong.content.decode()
    assert browser.post(url, sign).status_code == 302  # still sent to confirm
    assert not SignOff.objects.filter(criteria_version=version).exists()

    confirmed = browser.post("/accounts/confirm-password/", {"password": PASSWORD, "next": page})
    assert confirmed.status_code == 302 and confirmed["Location"] == page
    browser.post(url, sign)
    assert SignOff.objects.filter(criteria_version=version, signed_by=owner).count() == 1


def test_the_confirmation_page_only_goes_back_within_the_site(world):
    a = world["a"]
    browser = _signed_in(a.people[Role.VIEWER], entered_ago=STALE)
    answer = browser.post(
        "/accounts/confirm-password/", {"password": PASSWORD, "next": "https://evil.example/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/"


def test_a_review_and_its_exception_need_a_recent_password(world):
    a = world["a"]
    audit = make_failing_audit(a)
    auditor = a.people[Role.AUDITOR]
    body = {
        "decision": "approve",
        "rationale": "Accepted with an analyst check.",
        **exception_fields(a),
    }
    stale = _signed_in(auditor, entered_ago=STALE)
    refused = stale.post(f"/audits/{audit.pk}/reviews/", body)
    assert refused.status_code == 302 and refused["Location"].startswith(
        "/accounts/confirm-password/"
    )
    api_body = {
        "decision": "approve",
        "rationale": "Accepted with an analyst check.",
        "exception": exception_fields(a),
    }
    answer = stale.post(
        f"/api/v1/audits/{audit.pk}/reviews/", api_body, content_type="application/json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "password_required"
    assert not AuditReview.objects.filter(audit=audit).exists()
    assert not PolicyException.objects.exists()

    fresh = _signed_in(auditor, entered_ago=60)
    fresh.post(f"/audits/{audit.pk}/reviews/", body)
    assert PolicyException.objects.get().review.audit == audit


def test_a_token_is_not_asked_for_a_password(world):
    a = world["a"]
    audit = make_failing_audit(a)
    _, key = tokens.token_create(user=a.people[Role.AUDITOR], name="reviews", scopes=["write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {
        "decision": "request_changes",
        "rationale": "Raise recall for group F.",
    }
    answer = client.post(f"/api/v1/audits/{audit.pk}/reviews/", body, format="json")
    assert answer.status_code == 201, answer.json()
