"""Dual sign-off of success criteria through HTTP: binding, staleness, revocation, races."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from portal.exceptions import ApplicationError
from projects import selectors
from projects.models import BusinessMeasurement, CriteriaVersion, Event, Role, SignOff
from projects.services import teams
from projects.services.criteria import criteria_save
from projects.services.signoffs import signoff_record
from tests.factories import (
    WORLD_CRITERIA,
    UserFactory,
    build_team,
    make_audit,
    make_evaluation,
)

SIGNED = "Success criteria signed off by a business owner and an ML engineer"


def _check(project, name: str):
    return next(c for c in selectors.project_gate(project).checks if c.name == name)


def _new_version(w, target: float = 0.65) -> CriteriaVersion:
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["target"] = target
    return criteria_save(
        actor=w.people[Role.ML_ENGINEER], project=w.project, criteria=criteria, note="Lower F1."
    )


def test_the_owner_and_the_engineer_sign_a_new_version_in_the_web(
    client, world, django_capture_on_commit_callbacks
):
    w = world["a"]
    owner, engineer = w.people[Role.BUSINESS_OWNER], w.people[Role.ML_ENGINEER]
    for person in (owner, engineer):
        person.email = f"{person.username}@example.com"
        person.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        v2 = _new_version(w)
    # Everyone who may sign is asked by email, except the author.
    assert sorted(m.to[0] for m in mail.outbox) == [owner.email]
    assert "criteria v2 wait for your sign-off" in mail.outbox[0].subject
    assert f"/criteria-versions/{v2.pk}/" in mail.outbox[0].body
    assert not _check(w.project, SIGNED).passed

    client.force_login(owner)
    home = client.get("/").content.decode()
    assert "Waiting for me" in home and f"/criteria-versions/{v2.pk}/#sign" in home
    page = client.get(f"/criteria-versions/{v2.pk}/").content.decode()
    # The old signatures are shown on v1 as stale, with what changed.
    old = client.get(f"/criteria-versions/{w.criteria.pk}/").content.decode()
    assert "Stale" in old and "criteria changed: v1 → v2 (f1 changed (target))" in old
    evidence = re.search(r'name="evidence_sha256" value="([0-9a-f]{64})"', page).group(1)
    response = client.post(
        f"/criteria-versions/{v2.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve", "evidence_sha256": evidence},
    )
    assert response.status_code == 302
    assert f"/criteria-versions/{v2.pk}/#sign" not in client.get("/").content.decode()
    assert not _check(w.project, SIGNED).passed

    client.force_login(engineer)
    client.post(
        f"/criteria-versions/{v2.pk}/signoffs/",
        {"role": "ml_engineer", "decision": "approve", "comment": "Measured on v3 data."},
    )
    check = _check(w.project, SIGNED)
    assert check.passed, check.detail
    assert "a_business_owner (business owner) and a_ml_engineer (ML engineer)" in check.detail
    events = Event.objects.filter(verb="criteria.signed", payload__version=2)
    assert events.count() == 2
    for event in events:
        assert event.payload["content_sha256"] == v2.content_sha256
        assert event.payload["evidence"]["evaluation"]["sha256"] == w.evaluation.sha256


def test_a_replaced_evaluation_makes_the_signatures_stale(api, world):
    w = world["a"]
    assert _check(w.project, SIGNED).passed
    newer = make_evaluation(w.model, w.version, w.people[Role.ML_ENGINEER])
    check = _check(w.project, SIGNED)
    assert not check.passed
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    signoffs = api.get(f"/api/v1/criteria-versions/{w.criteria.pk}/signoffs/").json()["results"]
    assert {tuple(s["stale"]) for s in signoffs} == {
        (
            f"evaluation: evaluation {w.evaluation.pk} → evaluation {newer.pk}",
            f"audit: audit {w.audit.pk} (Pass; approved by external_auditor) → no audit",
        )
    }
    # The new evaluation has no audit yet: approving its audit criterion now is refused.
    body = {"role": "business_owner", "decision": "approve"}
    url = f"/api/v1/criteria-versions/{w.criteria.pk}/signoffs/"
    refused = api.post(url, body, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "no_evidence"
    assert (
        "demographic_parity_difference need a finished fairness audit" in refused.json()["detail"]
    )
    make_audit(newer, w.people[Role.ML_ENGINEER])
    # Signing again on the new evidence replaces the stale signature.
    response = api.post(
        f"/api/v1/criteria-versions/{w.criteria.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    old = SignOff.objects.get(pk=w.signoff.pk)
    assert old.revoked_at is not None and old.revoke_reason == "Signed again on new evidence."


def test_a_signature_on_evidence_that_changed_since_the_page_was_read_is_refused(api, world):
    w = world["a"]
    v2 = _new_version(w)
    seen = selectors.evidence_sha256(selectors.signoff_evidence(w.project))
    make_evaluation(w.model, w.version, w.people[Role.ML_ENGINEER])
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    response = api.post(
        f"/api/v1/criteria-versions/{v2.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve", "evidence_sha256": seen},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "evidence_changed"


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        # Not current: v1 was superseded by v2 (the URL names v1).
        ("owner", {"role": "business_owner", "decision": "approve"}, 409, "not_current"),
        ("engineer", {"role": "business_owner", "decision": "approve"}, 403, "permission_denied"),
        ("auditor", {"role": "ml_engineer", "decision": "approve"}, 403, "permission_denied"),
        ("engineer", {"role": "ml_engineer", "decision": "reject"}, 400, "comment_missing"),
        ("engineer", {"role": "cfo", "decision": "approve"}, 400, "invalid"),
        ("engineer", {"role": "ml_engineer", "decision": "maybe"}, 400, "invalid"),
    ],
)
def test_bad_signatures_are_refused_and_leave_no_trace(api, world, who, body, status, code):
    w = world["a"]
    people = {
        "owner": w.people[Role.BUSINESS_OWNER],
        "engineer": w.people[Role.ML_ENGINEER],
        "auditor": w.people[Role.AUDITOR],
    }
    v2 = _new_version(w)
    target = w.criteria if code == "not_current" else v2
    before = (SignOff.objects.count(), Event.objects.count())
    api.force_authenticate(people[who])
    response = api.post(f"/api/v1/criteria-versions/{target.pk}/signoffs/", body, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert (SignOff.objects.count(), Event.objects.count()) == before


def test_signing_twice_is_refused(api, world):
    w = world["a"]
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    response = api.post(
        f"/api/v1/criteria-versions/{w.criteria.pk}/signoffs/",
        {"role": "business_owner", "decision": "reject", "comment": "Changed my mind."},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "signed_already"
    assert "revoke" in response.json()["detail"]


def test_a_token_cannot_sign(api, world):
    w = world["a"]
    v2 = _new_version(w)
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    response = api.post(
        f"/api/v1/criteria-versions/{v2.pk}/signoffs/",
        {"role": "business_owner", "decision": "approve"},
        format="json",
    )
    assert response.status_code == 403


def test_a_rejection_holds_the_gate_until_it_is_revoked(api, world):
    w = world["a"]
    v2 = _new_version(w)
    for person, role in (
        (Role.BUSINESS_OWNER, "business_owner"),
        (Role.ML_ENGINEER, "ml_engineer"),
    ):
        api.force_authenticate(w.people[person])
        decision = (
            {"decision": "approve"}
            if role == "business_owner"
            else {
                "decision": "reject",
                "comment": "F1 at 0.65 misses the pilot's bar.",
            }
        )
        response = api.post(
            f"/api/v1/criteria-versions/{v2.pk}/signoffs/",
            {"role": role, **decision},
            format="json",
        )
        assert response.status_code == 201
    rejection = response.json()
    check = _check(w.project, SIGNED)
    assert not check.passed and "rejected: F1 at 0.65 misses the pilot's bar." in check.detail

    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    assert api.post(f"/api/v1/signoffs/{rejection['id']}/revoke/").status_code == 403
    api.force_authenticate(w.people[Role.ML_ENGINEER])
    revoked = api.post(f"/api/v1/signoffs/{rejection['id']}/revoke/", {"reason": "Talked."})
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "a_ml_engineer"
    again = api.post(f"/api/v1/signoffs/{rejection['id']}/revoke/")
    assert again.status_code == 409 and again.json()["code"] == "revoked_already"
    assert Event.objects.filter(verb="criteria.signoff_revoked").count() == 1
    inbox = api.get("/api/v1/signoffs/inbox/").json()
    assert [(e["project"], e["version"]) for e in inbox] == [("a-project", 2)]


def test_one_person_holding_both_roles_cannot_agree_alone(api, world):
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    # Also an ML engineer on the project, through a personal share.
    teams.project_share(actor=owner, project=w.project, role=Role.ML_ENGINEER, user=owner)
    v2 = _new_version(w)
    api.force_authenticate(owner)
    url = f"/api/v1/criteria-versions/{v2.pk}/signoffs/"
    assert (
        api.post(url, {"role": "ml_engineer", "decision": "approve"}, format="json").status_code
        == 201
    )
    second = api.post(url, {"role": "business_owner", "decision": "approve"}, format="json")
    assert second.status_code == 409
    assert not _check(w.project, SIGNED).passed


# --- Races (PostgreSQL in CI) ------------------------------------------------------------
def _concurrently(*calls) -> list:
    def run(fn):
        try:
            return fn()
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.django_db(transaction=True)
def test_two_people_signing_at_once_both_count_and_one_person_twice_counts_once():
    w = build_team("r", UserFactory(username="r_external"))
    v2 = _new_version(w)
    owner, engineer = w.people[Role.BUSINESS_OWNER], w.people[Role.ML_ENGINEER]

    def sign(person, role):
        return lambda: signoff_record(actor=person, document=v2, role=role, decision="approve")

    results = _concurrently(
        sign(owner, "business_owner"),
        sign(engineer, "ml_engineer"),
        sign(owner, "business_owner"),
        sign(engineer, "ml_engineer"),
    )
    made = [r for r in results if isinstance(r, SignOff)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(made) == 2, results
    assert all(isinstance(r, ApplicationError) and r.code == "signed_already" for r in refused)
    assert _check(w.project, SIGNED).passed
    assert Event.objects.filter(verb="criteria.signed", payload__version=2).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_signature_racing_an_edit_never_lands_on_content_it_did_not_see():
    w = build_team("e", UserFactory(username="e_external"))
    owner = w.people[Role.BUSINESS_OWNER]
    v2 = _new_version(w)
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["target"] = 0.6
    results = _concurrently(
        lambda: signoff_record(actor=owner, document=v2, role="business_owner", decision="approve"),
        lambda: criteria_save(
            actor=w.people[Role.ML_ENGINEER], project=w.project, criteria=criteria
        ),
    )
    signed, saved = results
    assert isinstance(saved, CriteriaVersion) and saved.version == 3
    if isinstance(signed, SignOff):
        # It landed first: bound to v2's content, and stale now that v3 exists.
        assert signed.content_sha256 == v2.content_sha256
        row = next(r for r in selectors.signoff_rows(v2) if r["signoff"].pk == signed.pk)
        assert row["stale"][0].startswith("criteria changed: v2 → v3")
    else:
        assert isinstance(signed, ApplicationError) and signed.code == "not_current"
    assert not SignOff.objects.filter(criteria_version=saved).exists()
    assert not _check(w.project, SIGNED).passed


def test_a_signer_who_left_the_role_no_longer_counts(api, world):
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    assert _check(w.project, SIGNED).passed
    # Now a viewer on the team: still sees the project, may no longer sign for it.
    teams.membership_change(
        actor=None, membership=w.memberships[Role.BUSINESS_OWNER], role=Role.VIEWER, is_admin=False
    )
    check = _check(w.project, SIGNED)
    assert not check.passed and "Waiting for a business owner" in check.detail
    row = next(r for r in selectors.signoff_rows(w.criteria) if r["signoff"].signed_by == owner)
    assert row["stale"] == ["a_business_owner no longer holds the business owner role"]
    # They can still withdraw what they signed.
    api.force_authenticate(owner)
    assert api.post(f"/api/v1/signoffs/{w.signoff.pk}/revoke/").status_code == 200


def test_renaming_a_dataset_leaves_the_signatures_standing(api, world):
    w = world["a"]
    api.force_authenticate(w.people[Role.ML_ENGINEER])
    response = api.patch(f"/api/v1/datasets/{w.dataset.pk}/", {"name": "loans-2026"}, format="json")
    assert response.status_code == 200
    assert _check(w.project, SIGNED).passed


@pytest.mark.parametrize(
    ("form", "status", "fragment"),
    [
        ({"metric": "a" * 61, "value": "1", "evidence": "x"}, 400, "no more than 60"),
        ({"metric": "recall", "value": "0.8", "evidence": "x"}, 400, "not entered by hand"),
        ({"metric": "conversion_rate", "value": "12", "evidence": "x"}, 400, "between 0 and 1"),
        ({"metric": "revenue", "value": "1e3", "evidence": " "}, 400, "may not be blank"),
    ],
)
def test_bad_business_figures_are_refused(api, world, form, status, fragment):
    w = world["a"]
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    before = BusinessMeasurement.objects.count()
    response = api.post(f"/api/v1/projects/{w.project.slug}/measurements/", form)
    assert response.status_code == status and fragment in response.json()["detail"]
    assert BusinessMeasurement.objects.count() == before


def test_an_attachment_over_the_limit_is_refused_not_dropped(api, client, world, settings):
    w = world["a"]
    settings.UPLOAD_MAX_BYTES = 1000
    form = {
        "metric": "revenue",
        "value": "1200",
        "evidence": "Ledger.",
        "attachment": SimpleUploadedFile("big.csv", b"x" * 200_000),
    }
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    before = BusinessMeasurement.objects.count()
    response = api.post(
        f"/api/v1/projects/{w.project.slug}/measurements/", form, format="multipart"
    )
    assert response.status_code == 413, response.json()
    client.force_login(w.people[Role.BUSINESS_OWNER])
    form["attachment"] = SimpleUploadedFile("big.csv", b"x" * 200_000)
    page = client.post(f"/projects/{w.project.slug}/measurements/", form, follow=True)
    assert "larger than" in page.content.decode()
    assert BusinessMeasurement.objects.count() == before


def test_the_editor_survives_a_nonsense_row_count(client, world):
    w = world["a"]
    client.force_login(w.people[Role.ML_ENGINEER])
    response = client.post(f"/projects/{w.project.slug}/criteria/edit/", {"rows": "²"})
    assert response.status_code == 400 and "at least one" in response.content.decode()
