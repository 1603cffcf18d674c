"""Every failing gate check says the one next step and links to the page where it is taken."""

from __future__ import annotations

import pytest
from django.http import HttpRequest

from audits.analysis.gates import (
    AUDIT_WAITING,
    PACK_WAITING,
    AuditState,
    PackState,
    RegisterRow,
    audit_check,
    pack_check,
    register_check,
)
from deployments.analysis.gates import (
    ROLLOUT_WAITING,
    DeploymentState,
    monitoring_check,
    plan_check,
    rollout_check,
    software_check,
)
from projects.analysis.gates import (
    Check,
    CriteriaState,
    baseline_check,
    criteria_checks,
    datasets_check,
    description_check,
    people_checks,
    reason_check,
)
from projects.analysis.rigor import (
    BaselineStanding,
    EvaluatedData,
    baseline_standing_check,
    independence_check,
)
from projects.gate_links import STEPS, next_step
from projects.models import Project, Role
from tests.factories import PASSWORD, make_deployment


def _every_check() -> list[Check]:
    """The checks the pure rules give over states that pass and fail every way they can."""
    checks: list[Check] = []
    checks += people_checks([], []) + people_checks(["ann"], ["ann"]) + people_checks(["a"], ["b"])
    checks += [description_check(""), description_check("Scores loan applications by risk.")]
    checks += [datasets_check([]), datasets_check([("loans", "")]), datasets_check([("l", "x")])]
    checks += [baseline_check([]), baseline_check(["majority (trained)"])]
    met = (("auc ≥ 0.8", "met", "0.9"),)
    for state in (
        CriteriaState(),
        CriteriaState(version=1),
        CriteriaState(version=1, signed=True, ml=(("auc ≥ 0.8", "not_met", "0.7"),)),
        CriteriaState(version=1, signed=True, ml=met),
    ):
        checks += criteria_checks(state)
    data = EvaluatedData(1, 2, "loans-test v1", "training", 2, "loans-train v1")
    checks += [independence_check(None), independence_check(data)]
    checks += [
        independence_check(EvaluatedData(1, 3, "loans-test v1", "test", 2, "loans-train v1"))
    ]
    checks += [baseline_standing_check(BaselineStanding("auc", "AUC", 0.8, "m", 0.5, False, ""))]
    checks += [reason_check("", "Say why."), reason_check("Drift.", "Say why.")]
    checks += [
        register_check([]),
        register_check([RegisterRow("Leak", "high", "open")]),
        register_check([RegisterRow("Leak", "low", "mitigated", owner="ann")]),
    ]
    audits = [AuditState(), AuditState("m v1", placeholders=("ratio",), config_version=2)]
    audits += [
        AuditState("m v1", status, 4, model_id=1, evaluation_id=2) for status in AUDIT_WAITING
    ]
    audits += [AuditState("m v1", status, 4) for status in ("approve", "exception", "odd")]
    checks += [audit_check(state) for state in audits]
    packs = [*PACK_WAITING, "current", "odd"]
    checks += [pack_check(PackState(status, 3)) for status in packs]
    deployments = [
        DeploymentState(),
        DeploymentState("scorer", 5),
        DeploymentState("scorer", 5, plan_version=1, monitoring_gaps=("input",)),
        DeploymentState("scorer", 5, plan_version=1, plan_signed=True, rollout="finished"),
        DeploymentState(
            "scorer",
            5,
            1,
            True,
            rollout="finished",
            analysis_id=8,
            software=(("p99", "fail", "x"),),
        ),
        *(DeploymentState("scorer", 5, 1, True, rollout=status) for status in ROLLOUT_WAITING),
    ]
    for state in deployments:
        checks += [plan_check(state), monitoring_check(state), rollout_check(state)]
        checks += [software_check(state)]
    return checks


def test_it_gives_every_check_a_key_with_a_next_step():
    checks = _every_check()
    assert any(check.passed for check in checks) and any(not check.passed for check in checks)
    unknown = {(check.name, check.key) for check in checks if check.key not in STEPS}
    assert not unknown
    # No step is kept for a key no rule gives any more.
    assert {check.key for check in checks} == set(STEPS)


def test_a_passing_check_has_no_next_step():
    project = Project(slug="p")
    assert next_step(project, Check("x", True, "", key="baseline.none")) is None
    step = next_step(project, Check("x", False, "", key="baseline.none"))
    assert step is not None and step.url == "/projects/p/baselines/"


def _refs(world) -> dict[str, int]:
    """The object each check with an id names, taken from the world."""
    a = world["a"]
    deployment = make_deployment(a, stage=False)[0]
    pack = a.project.approval_packs.first()
    return {
        "audit.not_evaluated": a.model.pk,
        "audit.not_run": a.evaluation.pk,
        "audit.in_progress": a.audit.pk,
        "audit.failed": a.audit.pk,
        "audit.waiting": a.audit.pk,
        "audit.decision": a.audit.pk,
        "evaluation.independence": a.evaluation.pk,
        "deployment.plan": deployment.pk,
        "deployment.monitoring": deployment.pk,
        "deployment.rollout": deployment.pk,
        "deployment.software": deployment.pk,
        "pack.rendering": pack.pk,
    }


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
@pytest.mark.django_db
def test_it_links_every_check_key_to_a_page_that_opens(client, packed_world):
    a = packed_world["a"]
    refs = _refs(packed_world)
    assert client.login(
        request=HttpRequest(), username=a.people[Role.ML_ENGINEER].username, password=PASSWORD
    )
    for key in STEPS:
        for ref in {None, refs.get(key)}:
            step = next_step(a.project, Check("x", False, "", key=key, ref=ref))
            assert step is not None and step.words.endswith(".")
            response = client.get(step.url.split("#")[0])
            assert response.status_code == 200, (key, ref, step.url, response.status_code)


@pytest.mark.django_db
def test_the_project_page_links_each_failing_check(client, world):
    a = world["a"]
    Project.objects.filter(pk=a.project.pk).update(description="")
    client.force_login(a.people[Role.ML_ENGINEER])
    html = client.get(a.project.get_absolute_url()).content.decode()
    assert 'href="/projects/a-project/edit/">Next: Describe what the model is for.' in html
    assert 'href="/projects/a-project/approval-packs/">Next: Render a new pack.' in html


@pytest.mark.django_db
def test_the_api_gate_carries_each_next_step(api, world):
    a = world["a"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {a.token_key}")
    body = api.get("/api/v1/projects/a-project/gates/").json()
    pack = next(c for c in body["checks"] if c["key"] == "pack.render")
    assert not pack["passed"] and pack["next_step"] == "Render a new pack."
    assert pack["next_url"] == "http://testserver/projects/a-project/approval-packs/"
    passing = [c for c in body["checks"] if c["passed"]]
    assert passing and all(c["next_step"] is None and c["next_url"] is None for c in passing)
