"""The auditor's inbox: what waits, marked when the gate no longer looks at it, and the
auditor's own reviews."""

from __future__ import annotations

import pytest
from django.test import Client

from audits.services.fairness import audit_config_save
from projects.models import Role
from tests.factories import grant_exception, make_failing_audit

pytestmark = pytest.mark.django_db


def _inbox(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/audits/inbox/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_waiting_audit_is_marked_superseded_by_a_newer_configuration(world):
    a = world["a"]
    audit = make_failing_audit(a)
    page = _inbox(a.people[Role.AUDITOR])
    row = page.split(f'href="/audits/{audit.pk}/"')[1].split("</tr>")[0]
    assert "superseded" not in row
    audit_config_save(
        actor=a.people[Role.ML_ENGINEER],
        project=a.project,
        changes={"thresholds": {"min_recall": {"limit": 0.5, "rationale": "Half, for now."}}},
    )
    row = _inbox(a.people[Role.AUDITOR]).split(f'href="/audits/{audit.pk}/"')[1].split("</tr>")[0]
    assert "superseded" in row and "audit configuration v3 replaced v2" in row


def test_the_auditor_sees_what_they_reviewed_and_nobody_else_does(world):
    a = world["a"]
    auditor = a.people[Role.AUDITOR]
    audit = grant_exception(a, auditor)
    page = _inbox(auditor)
    mine = page.split('id="reviewed-by-me"')[1]
    assert f'href="/audits/{audit.pk}/"' in mine and "Approved" in mine
    other = _inbox(world["b"].people[Role.AUDITOR]).split('id="reviewed-by-me"')[1]
    assert "You have reviewed no audit yet." in other and a.project.name not in other
