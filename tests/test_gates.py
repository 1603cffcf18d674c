"""The gates as the apps assemble them through the registry (projects/gates.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from audits.models import BaselineRun
from projects import selectors
from projects.analysis.gates import DEPLOYMENT, MONITORING, PROTOTYPING, RETIRED, Check
from projects.gates import GateContext, gate_check, gate_check_remove, gate_checks
from projects.models import Project

pytestmark = pytest.mark.django_db

PEOPLE = [
    "Business owner named",
    "ML engineer named",
    "Owner and engineer are different people",
]
INTO_DEPLOYMENT = [
    "Project described",
    *PEOPLE,
    "Datasets registered with a labeling strategy",
    "A baseline on record",
    "Risk register decided: owners, statuses, high risks mitigated or excepted",
    "Fairness audit of the candidate model approved",
    "Success criteria signed off by a business owner and an ML engineer",
    "Every ML criterion met by the candidate",
    "Candidate evaluated on validation or test data independent of its training data",
    "Candidate against the best baseline on the primary metric",
    "Approval pack rendered for exactly this state",
]


def _names(result) -> list[str]:
    return [check.name for check in result.checks]


def _gate(project, *args, **kwargs):
    return selectors.project_gate(Project.objects.get(pk=project.pk), *args, **kwargs)


def test_it_lists_every_apps_checks_into_deployment_in_order(packed_world):
    result = _gate(packed_world["a"].project)
    assert (result.stage, result.target) == (PROTOTYPING, DEPLOYMENT)
    assert _names(result) == INTO_DEPLOYMENT
    assert result.passed


def test_the_checklist_a_pack_shows_leaves_the_pack_out(packed_world):
    result = _gate(packed_world["a"].project, DEPLOYMENT, with_pack=False)
    assert _names(result) == INTO_DEPLOYMENT[:-1]
    assert result.passed


def test_it_counts_trained_baselines_on_record(world):
    a = world["a"]
    BaselineRun.objects.filter(pk=a.run.pk).update(status=BaselineRun.Status.SUCCEEDED)
    baseline = next(c for c in _gate(a.project).checks if c.name == "A baseline on record")
    assert baseline.detail == f"Rules (previous system), trained on {a.version}"


#: The gate into monitoring: deployments' checks, then the go-live pack (audits, order 90).
MONITORING_CHECKS = [
    "Deployment plan signed by a business owner and an ML engineer",
    "Monitoring spec watches software, input and output metrics",
    "Rollout finished",
    "Software criteria met during the rollout",
]


def test_monitoring_needs_the_deployment_not_only_people(world):
    Project.objects.filter(pk=world["a"].project.pk).update(stage=DEPLOYMENT)
    result = _gate(world["a"].project)
    assert result.target == MONITORING
    assert _names(result)[:4] == MONITORING_CHECKS
    assert not any(name in _names(result) for name in PEOPLE)
    assert "Plan the deployment of the candidate model first." in result.checks[0].detail
    assert not result.passed


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (PROTOTYPING, "Say why the project goes back to prototyping."),
        (RETIRED, "Say why the project is retired."),
    ],
)
def test_going_back_or_retiring_needs_a_reason(world, target, why):
    Project.objects.filter(pk=world["a"].project.pk).update(stage=MONITORING)
    missing = _gate(world["a"].project, target)
    assert [(c.name, c.passed, c.detail) for c in missing.checks] == [
        ("Reason recorded", False, why)
    ]
    assert _gate(world["a"].project, target, "Drift past threshold").passed


def test_it_shows_checks_another_app_registers_for_monitoring(world):
    project = world["a"].project
    # Without the pack check (order 90), as the registered checks below are asked for.
    before = _names(_gate(project, MONITORING, with_pack=False))
    assert before == MONITORING_CHECKS
    seen: list[GateContext] = []

    @gate_check(MONITORING, order=1)
    def first(project, context):
        seen.append(context)
        return [Check("Test check first", False, f"Nothing for {project.slug} yet.")]

    @gate_check(MONITORING, order=21)
    def before_deployments(project, context):
        return iter([Check("Test check before the deployment's", True, "Fine.")])

    @gate_check(MONITORING, order=10_000)
    def last(project, context):
        return (Check("Test check last", True, "Fine."),)

    try:
        result = _gate(project, MONITORING, "why", with_pack=False)
        assert _names(result) == [
            "Test check first",
            "Test check before the deployment's",
            *before,
            "Test check last",
        ]
        assert result.checks[0].detail == "Nothing for a-project yet."
        assert not result.passed
        assert seen == [GateContext(with_pack=False, reason="why")]
        assert first not in gate_checks(DEPLOYMENT)
    finally:
        for fn in (first, before_deployments, last):
            gate_check_remove(fn)
    assert _names(_gate(project, MONITORING, with_pack=False)) == before
    assert first not in gate_checks(MONITORING)


def test_it_refuses_two_checks_at_one_order_in_one_gate():
    taken = gate_checks(MONITORING)
    with pytest.raises(
        ImproperlyConfigured, match="both take order 10 in the gate into deployment"
    ):

        @gate_check(DEPLOYMENT, MONITORING, order=10)
        def clashing(project, context):
            return []

    # Refused as a whole: not registered for monitoring either.
    assert gate_checks(MONITORING) == taken


def test_it_refuses_an_unknown_stage():
    with pytest.raises(ImproperlyConfigured, match="target stages"):
        gate_check("production", order=10)
    with pytest.raises(ImproperlyConfigured, match="target stages"):
        gate_check(order=10)
    with pytest.raises(ValueError, match="Unknown stage 'production'"):
        gate_checks("production")
