"""The failure-mode risk register through HTTP."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from audits.analysis.risks import STARTER_RISKS
from audits.models import RiskItem
from projects.models import Event, Role


@pytest.fixture
def auditor_api(api, world):
    api.force_authenticate(world["a"].people[Role.AUDITOR])
    return api


def test_it_records_a_risk_with_its_severity(auditor_api, world):
    url = f"/api/v1/projects/{world['a'].project.slug}/risks/"
    body = {
        "title": "Applicants game the income field",
        "category": "security_misuse",
        "likelihood": 4,
        "impact": 4,
        "mitigation": "Verify income against statements above 80k.",
        "owner": "Underwriting",
    }
    response = auditor_api.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["severity"] == 16
    assert response.json()["severity_band"] == "high"
    listed = auditor_api.get(url).json()["results"]
    assert listed[0]["title"] == "Applicants game the income field"  # most severe first
    assert Event.objects.filter(verb="risk.created").latest("seq").payload["severity"] == 16


def test_it_pulls_in_the_starter_list_once(auditor_api, world):
    url = f"/api/v1/projects/{world['a'].project.slug}/risks/starter/"
    first = auditor_api.post(url)
    assert first.status_code == 200
    assert len(first.json()) == len(STARTER_RISKS) + 1  # with the world's own risk
    events = Event.objects.filter(verb="risk.starter_imported").count()
    again = auditor_api.post(url)
    assert len(again.json()) == len(STARTER_RISKS) + 1
    assert Event.objects.filter(verb="risk.starter_imported").count() == events


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"status": "accepted"}, "rationale_missing"),
        ({"likelihood": 6}, "invalid"),
        ({"impact": 0}, "invalid"),
    ],
)
def test_it_refuses_a_risk_change_that_breaks_the_rules(auditor_api, world, body, code):
    risk = world["a"].risk
    response = auditor_api.patch(f"/api/v1/risks/{risk.pk}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    risk.refresh_from_db()
    assert risk.status == "mitigated" and risk.likelihood == 2


def test_it_accepts_a_risk_with_its_rationale_and_records_the_change(auditor_api, world):
    risk = world["a"].risk
    body = {"status": "accepted", "rationale": "Features are all known at application time."}
    response = auditor_api.patch(f"/api/v1/risks/{risk.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    event = Event.objects.filter(verb="risk.updated").latest("seq")
    assert event.payload["before"] == {"status": "mitigated", "rationale": ""}
    assert event.payload["after"]["status"] == "accepted"


def test_the_database_refuses_an_accepted_risk_without_rationale(world):
    risk = world["a"].risk
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskItem.objects.filter(pk=risk.pk).update(status="accepted")


def test_the_register_page_shows_severity_and_the_starter_button(client, world):
    a = world["a"]
    client.force_login(a.people[Role.AUDITOR])
    page = client.get(f"/projects/{a.project.slug}/risks/").content.decode()
    assert "Target leakage" in page and "6 medium" in page
    assert "Add the starter list" in page
    client.force_login(a.people[Role.VIEWER])
    assert (
        "Add the starter list"
        not in client.get(f"/projects/{a.project.slug}/risks/").content.decode()
    )


def test_an_open_risk_holds_the_gate_until_it_is_handled(auditor_api, world):
    a = world["a"]
    gates = f"/api/v1/projects/{a.project.slug}/gates/"

    def risk_check() -> dict:
        body = auditor_api.get(gates).json()
        return next(c for c in body["checks"] if c["name"].startswith("Risk register decided"))

    assert risk_check()["passed"]
    reopened = {"likelihood": 4, "impact": 4, "status": "open"}
    auditor_api.patch(f"/api/v1/risks/{a.risk.pk}/", reopened, format="json")
    check = risk_check()
    assert not check["passed"] and "Target leakage" in check["detail"]
    auditor_api.patch(
        f"/api/v1/risks/{a.risk.pk}/",
        {"status": "mitigated", "mitigation": "Features checked against decision time."},
        format="json",
    )
    assert risk_check()["passed"]


def test_a_risk_is_watched_by_audit_checks_and_shows_their_verdicts(auditor_api, world, client):
    w = world["a"]
    url = f"/api/v1/risks/{w.risk.pk}/"
    bad = auditor_api.patch(url, {"audit_checks": ["four_fifths_rule"]}, format="json")
    assert bad.status_code == 400
    response = auditor_api.patch(
        url, {"audit_checks": ["demographic_parity_difference"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["audit_checks"] == ["demographic_parity_difference"]
    verdict = next(
        v for v in w.audit.result["verdicts"] if v["threshold"] == "demographic_parity_difference"
    )
    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/projects/{w.project.slug}/risks/").content.decode()
    assert "Watched by: Demographic-parity difference" in page
    assert f"verdict-{verdict['status']}" in page
    report = client.get(f"/audits/{w.audit.pk}/").content.decode()
    assert "Watches: <a" in report and "Target leakage" in report


def test_the_starter_list_links_group_gaps_to_the_audit(auditor_api, world):
    w = world["a"]
    auditor_api.post(f"/api/v1/projects/{w.project.slug}/risks/starter/")
    gap = RiskItem.objects.get(project=w.project, starter_key="group-performance-gap")
    assert "demographic_parity_difference" in gap.audit_checks
