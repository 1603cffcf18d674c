"""The risk register with teeth: the gate into deployment asks for a register that is not
empty, an owner and a decided status on every risk, and a high or critical risk mitigated
or accepted by a business owner as an exception; a heat map on the page and in the pack."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audits.analysis.gates import RegisterRow, register_check
from audits.analysis.risks import heat_map
from audits.models import PolicyException, RiskItem
from audits.selectors import risk_register_state
from audits.snapshot import pack_state
from projects import selectors
from projects.models import Event, Project, Role
from tests.factories import make_pack

pytestmark = pytest.mark.django_db

NAME = "Risk register decided: owners, statuses, high risks mitigated or excepted"
HIGH = {
    "title": "Proxy features",
    "category": "bias_fairness",
    "likelihood": 4,
    "impact": 4,
    "owner": "Credit data office",
}


def _as(api, user):
    api.force_authenticate(user)
    return api


def _register(project) -> object:
    result = selectors.project_gate(Project.objects.get(pk=project.pk), with_pack=False)
    return next(c for c in result.checks if c.name == NAME)


def _exception(a, **changes) -> dict:
    return {
        "finding": "Postcode stands in for ethnicity in some regions.",
        "conditions": "Postcode is dropped for the pilot regions; monthly proxy test.",
        "owner": a.people[Role.BUSINESS_OWNER].username,
        "expires_on": (timezone.localdate() + timedelta(days=60)).isoformat(),
        **changes,
    }


# --- The rule, pure -------------------------------------------------------------------------
def test_the_rule_names_what_each_risk_lacks():
    assert not register_check([]).passed
    assert "register is empty" in register_check([]).detail
    rows = [
        RegisterRow("No owner", "low", "mitigated"),
        RegisterRow("Undecided", "medium", "open", owner="ops"),
        RegisterRow("High, accepted bare", "high", "accepted", owner="ops"),
        RegisterRow("High, lapsed", "critical", "accepted", "ops", "2026-01-31", False),
    ]
    result = register_check(rows)
    assert not result.passed
    assert "Name an owner for: No owner" in result.detail
    assert "Mitigate or accept: Undecided" in result.detail
    assert "only as an exception" in result.detail and "High, accepted bare" in result.detail
    assert "High, lapsed (on 2026-01-31)" in result.detail
    fine = [
        RegisterRow("Mitigated", "critical", "mitigated", owner="ops"),
        RegisterRow("Accepted low", "low", "accepted", owner="ops"),
        RegisterRow("Excepted", "high", "accepted", "ops", "2027-03-01", True),
    ]
    result = register_check(fine)
    assert result.passed
    assert "Accepted as exceptions: Excepted until 2027-03-01" in result.detail


def test_the_heat_map_counts_risks_by_likelihood_and_impact():
    heat = heat_map([(4, 4), (4, 4), (1, 2), (5, 5)])
    assert [row["impact"] for row in heat] == [5, 4, 3, 2, 1]
    cell = {(c["likelihood"], row["impact"]): c for row in heat for c in row["cells"]}
    assert cell[(4, 4)] == {"likelihood": 4, "count": 2, "band": "high"}
    assert cell[(1, 2)]["count"] == 1 and cell[(1, 2)]["band"] == "low"
    assert cell[(5, 5)]["band"] == "critical"
    assert sum(c["count"] for c in cell.values()) == 4


# --- The gate --------------------------------------------------------------------------------
def test_the_gate_holds_for_an_empty_register_an_open_risk_and_a_missing_owner(api, world):
    a = world["a"]
    assert _register(a.project).passed
    engineer = _as(api, a.people[Role.ML_ENGINEER])
    url = f"/api/v1/projects/{a.project.slug}/risks/"
    created = engineer.post(url, {**HIGH, "owner": ""}, format="json")
    assert created.status_code == 201, created.json()
    check = _register(a.project)
    assert not check.passed
    assert "Name an owner for: Proxy features" in check.detail
    assert "Mitigate or accept: Proxy features" in check.detail
    RiskItem.objects.filter(project=a.project).delete()
    assert "register is empty" in _register(a.project).detail


def test_a_high_risk_is_accepted_only_by_a_business_owner_as_an_exception(api, world):
    a = world["a"]
    engineer = _as(api, a.people[Role.ML_ENGINEER])
    risk = engineer.post(f"/api/v1/projects/{a.project.slug}/risks/", HIGH, format="json").json()
    url = f"/api/v1/risks/{risk['id']}/"
    accept = {"status": "accepted", "rationale": "The pilot needs postcode."}

    bare = engineer.patch(url, accept, format="json")
    assert bare.status_code == 403, bare.json()
    assert bare.json()["code"] == "business_owner_only"
    refused = engineer.patch(url, {**accept, "exception": _exception(a)}, format="json")
    assert refused.status_code == 403

    owner = _as(api, a.people[Role.BUSINESS_OWNER])
    without = owner.patch(url, accept, format="json")
    assert without.status_code == 400 and without.json()["code"] == "exception_required"
    incomplete = owner.patch(url, {**accept, "exception": {"finding": "x"}}, format="json")
    assert incomplete.status_code == 400
    assert incomplete.json()["code"] == "exception_incomplete"
    past = _exception(a, expires_on=(timezone.localdate() - timedelta(days=1)).isoformat())
    assert owner.patch(url, {**accept, "exception": past}, format="json").json()["code"] == (
        "exception_expiry"
    )
    assert RiskItem.objects.get(pk=risk["id"]).status == "open"
    assert not PolicyException.objects.filter(risk_id=risk["id"]).exists()

    done = owner.patch(url, {**accept, "exception": _exception(a)}, format="json")
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["status"] == "accepted"
    assert body["accepted_as_exception"]["risk"] == risk["id"]
    assert body["accepted_as_exception"]["subject"] == "risk"
    assert body["accepted_as_exception"]["holds"] is True
    granted = Event.objects.get(verb="exception.granted")
    assert granted.payload["risk"] == risk["id"] and granted.payload["severity"] == 16

    check = _register(a.project)
    assert check.passed, check.detail
    until = body["accepted_as_exception"]["expires_on"]
    assert f"Proxy features until {until}" in check.detail
    # Editing the mitigation text later needs no new exception while it holds.
    edited = owner.patch(url, {"mitigation": "Dropped postcode."}, format="json")
    assert edited.status_code == 200, edited.json()
    assert PolicyException.objects.filter(risk_id=risk["id"]).count() == 1
    # A second exception while the first holds is refused: saves do not pile up grants.
    again = owner.patch(url, {**accept, "exception": _exception(a)}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "excepted_already"
    assert until in again.json()["detail"]
    assert PolicyException.objects.filter(risk_id=risk["id"]).count() == 1

    # After the expiry date the check fails again.
    later = timezone.localdate() + timedelta(days=61)
    lapsed = register_check(risk_register_state(a.project, today=later))
    assert not lapsed.passed and "The exception expired" in lapsed.detail

    listed = owner.get(f"/api/v1/projects/{a.project.slug}/exceptions/").json()["results"]
    assert [e["risk"] for e in listed] == [risk["id"]]


def test_an_exception_for_a_risk_that_needs_none_is_refused(api, world):
    a = world["a"]
    owner = _as(api, a.people[Role.BUSINESS_OWNER])
    low = {**HIGH, "likelihood": 1, "impact": 2, "status": "accepted", "rationale": "Minor."}
    response = owner.post(
        f"/api/v1/projects/{a.project.slug}/risks/",
        {**low, "exception": _exception(a)},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "exception_not_needed"
    assert not RiskItem.objects.filter(title=HIGH["title"]).exists()


def test_a_high_risk_is_created_as_accepted_with_its_exception_in_one_call(api, world):
    a = world["a"]
    owner = _as(api, a.people[Role.BUSINESS_OWNER])
    body = {**HIGH, "status": "accepted", "rationale": "Pilot.", "exception": _exception(a)}
    created = owner.post(f"/api/v1/projects/{a.project.slug}/risks/", body, format="json")
    assert created.status_code == 201, created.json()
    assert (
        created.json()["accepted_as_exception"]["owner"] == a.people[Role.BUSINESS_OWNER].username
    )
    assert _register(a.project).passed


def test_the_web_form_accepts_a_high_risk_with_its_exception(api, world):
    a = world["a"]
    engineer = _as(api, a.people[Role.ML_ENGINEER])
    risk = engineer.post(f"/api/v1/projects/{a.project.slug}/risks/", HIGH, format="json").json()
    client = Client()
    client.force_login(a.people[Role.BUSINESS_OWNER])
    page = client.get(f"/risks/{risk['id']}/edit/").content.decode()
    assert "Accept a high or critical risk as an exception" in page
    form = {
        "title": HIGH["title"],
        "category": HIGH["category"],
        "likelihood": "4",
        "impact": "4",
        "owner": HIGH["owner"],
        "status": "accepted",
        "rationale": "The pilot needs it.",
    }
    missing = client.post(f"/risks/{risk['id']}/edit/", form)
    assert missing.status_code == 200
    assert "accepted only as an exception" in missing.content.decode()
    parts = {f"exception-{k}": v for k, v in _exception(a).items()}
    saved = client.post(f"/risks/{risk['id']}/edit/", {**form, **parts})
    assert saved.status_code == 302
    listing = client.get(f"/projects/{a.project.slug}/risks/").content.decode()
    assert "exception until" in listing
    assert 'class="heat-map"' in listing
    assert "passes" in listing.split('id="register-check"')[1][:400]


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_the_pack_lists_the_risk_exception_and_draws_the_heat_map(api, world):
    a = world["a"]
    owner = _as(api, a.people[Role.BUSINESS_OWNER])
    body = {**HIGH, "status": "accepted", "rationale": "Pilot.", "exception": _exception(a)}
    owner.post(f"/api/v1/projects/{a.project.slug}/risks/", body, format="json")
    state = pack_state(a.project)
    excepted = next(r for r in state["risks"] if r["title"] == HIGH["title"])
    assert excepted["exception"]["conditions"] == _exception(a)["conditions"]
    assert "exception" not in next(r for r in state["risks"] if r["title"] == "Target leakage")
    pack = make_pack(a)
    assert pack.status == "succeeded", pack.error
    assert "Risk “Proxy features”" in pack.html  # in the memo's exceptions
    assert 'class="heat-map"' in pack.html
