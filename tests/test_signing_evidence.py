"""Sign-offs show and record what the evidence says, not only which evidence it is; ML
criteria with nothing to measure them, and reasons still in a template's words, cannot be
approved."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.analysis.criteria_templates import TEMPLATES
from projects.analysis.signoffs import criteria_refusal
from projects.models import Role, SignOff
from projects.services import evaluations
from projects.services.criteria import criteria_save
from tests.factories import WORLD_CRITERIA, grant_exception

pytestmark = pytest.mark.django_db

TEMPLATE_REASON = TEMPLATES["credit_scoring"][0]["rationale"]
APPROVE_AS_OWNER = {"role": "business_owner", "decision": "approve"}


def _sign(api, person, version, body=APPROVE_AS_OWNER):
    api.force_authenticate(person)
    return api.post(f"/api/v1/criteria-versions/{version.pk}/signoffs/", body, format="json")


def test_a_signature_records_the_audit_verdict_and_its_exception(api, world):
    a = world["a"]
    audit = grant_exception(a, a.people[Role.AUDITOR])
    until = audit.reviews.get().exception.expires_on.isoformat()
    verdict = audit.get_verdict_display()
    owner = a.people[Role.BUSINESS_OWNER]
    response = _sign(api, owner, a.criteria)
    assert response.status_code == 201, response.json()
    signed = SignOff.objects.get(pk=response.json()["id"])
    assert signed.evidence["audit"]["name"] == (
        f"audit {audit.pk} ({verdict}; approved as an exception until {until})"
    )
    # What a signer reads before signing says the same.
    page = _page(a, a.people[Role.ML_ENGINEER])
    assert f"audit {audit.pk} ({verdict}; approved as an exception until {until})" in page


def _page(a, person) -> str:
    browser = Client()
    browser.force_login(person)
    return browser.get(f"/projects/{a.project.slug}/criteria/").content.decode()


def test_ml_criteria_with_no_evaluation_behind_them_cannot_be_approved(api, world):
    a = world["a"]
    # The candidate is now a model version nobody has evaluated.
    evaluations.model_mark_candidate(actor=a.people[Role.ML_ENGINEER], model=a.spare_model)
    owner, version = a.people[Role.BUSINESS_OWNER], a.criteria
    response = _sign(api, owner, version)
    assert response.status_code == 409 and response.json()["code"] == "no_evidence"
    assert "f1 need a finished evaluation of the candidate model" in response.json()["detail"]
    assert "Approval must wait" in _page(a, owner)
    rejection = {"role": "business_owner", "decision": "reject", "comment": "No model yet."}
    assert _sign(api, owner, version, rejection).status_code == 201


def test_reasons_in_the_templates_words_must_be_rewritten_before_approval(api, world):
    a = world["a"]
    engineer, owner = a.people[Role.ML_ENGINEER], a.people[Role.BUSINESS_OWNER]
    # The world's evidence measures every criterion: only the wording stands in the way
    # (a template's reason, whatever its case and spacing).
    own = [dict(c, rationale=f"Ours: {c['metric']} {i}.") for i, c in enumerate(WORLD_CRITERIA)]
    words = [dict(c) for c in WORLD_CRITERIA]
    words[0]["rationale"] = "  below 0.75 IT ranks applicants no better than our rules. "
    templated = criteria_save(actor=engineer, project=a.project, criteria=words)
    response = _sign(api, owner, templated)
    assert response.status_code == 409 and response.json()["code"] == "placeholder_rationale"
    assert "The reasons for f1 are still the template's words" in response.json()["detail"]
    rewritten = criteria_save(actor=engineer, project=a.project, criteria=own)
    assert _sign(api, owner, rewritten).status_code == 201


@pytest.mark.parametrize(
    ("criteria", "evidence", "expected"),
    [
        (
            [{"metric": "f1", "source": "evaluation", "rationale": "x"}],
            {"evaluation": {"id": 1}},
            None,
        ),
        ([{"metric": "revenue", "source": "business", "rationale": "x"}], {}, None),
        ([{"metric": "p95_latency_ms", "source": "deployment", "rationale": "x"}], {}, None),
        (
            [{"metric": "demographic_parity_difference", "source": "audit", "rationale": "x"}],
            {"evaluation": {"id": 1}, "audit": None},
            "no_evidence",
        ),
        (
            [{"metric": "f1", "source": "baseline", "rationale": "x"}],
            {"evaluation": None},
            "no_evidence",
        ),
        (
            [{"metric": "roc_auc", "source": "evaluation", "rationale": TEMPLATE_REASON}],
            {"evaluation": {"id": 1}},
            "placeholder_rationale",
        ),
    ],
)
def test_the_refusal_rules(criteria, evidence, expected):
    refusal = criteria_refusal(criteria, evidence)
    assert (refusal[0] if refusal else None) == expected
