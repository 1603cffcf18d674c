"""The portal recognizes its own placeholder rationales: an audit configuration whose limits
in use keep the portal's default text backs no gate until the team writes its reasons."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from audits.analysis.audit_config import THRESHOLD_SPECS, default_config, placeholder_thresholds
from audits.analysis.gates import AuditState, audit_check
from audits.services.fairness import audit_config_save
from projects import selectors
from projects.models import Project, Role
from tests.factories import WORLD_AUDIT

pytestmark = pytest.mark.django_db

CHECK = "Fairness audit of the candidate model approved"


def test_the_defaults_in_use_are_placeholders_and_the_ones_switched_off_are_not():
    assert placeholder_thresholds(default_config(["sex"])) == [
        "demographic_parity_difference",
        "equalized_odds_difference",
        "min_group_size",
        "max_interval_width",
    ]
    config = default_config(["sex"])
    config["thresholds"].update(copy.deepcopy(WORLD_AUDIT["thresholds"]))
    assert placeholder_thresholds(config) == []
    # A default text the team only began to edit still reads as the portal's.
    config["thresholds"]["min_group_size"]["rationale"] = "Portal default. Fine by us."
    assert placeholder_thresholds(config) == ["min_group_size"]
    # A threshold switched on with the default "off" text is a placeholder too.
    config["thresholds"]["min_recall"] = {
        "limit": 0.5,
        "rationale": THRESHOLD_SPECS["min_recall"].rationale,
    }
    assert placeholder_thresholds(config) == ["min_recall", "min_group_size"]


def test_the_check_names_the_placeholders_whatever_the_review_says():
    state = AuditState(
        "scorer 1",
        "approve",
        4,
        reviewer="ada",
        config_version=2,
        placeholders=("Rows a group needs to be judged",),
    )
    result = audit_check(state)
    assert not result.passed
    assert "Audit configuration v2 keeps the portal's default rationale" in result.detail
    assert "Rows a group needs to be judged" in result.detail


def _audit_check(project):
    result = selectors.project_gate(Project.objects.get(pk=project.pk), with_pack=False)
    return next(c for c in result.checks if c.name == CHECK)


def test_a_configuration_back_to_the_default_text_holds_the_gate(world):
    a = world["a"]
    assert _audit_check(a.project).passed
    spec = THRESHOLD_SPECS["equalized_odds_difference"]
    audit_config_save(
        actor=a.people[Role.ML_ENGINEER],
        project=a.project,
        changes={"thresholds": {spec.name: {"limit": 0.08, "rationale": spec.rationale}}},
    )
    check = _audit_check(a.project)
    assert not check.passed
    assert spec.label in check.detail and "v2" in check.detail

    client = Client()
    client.force_login(a.people[Role.ML_ENGINEER])
    page = client.get(f"/projects/{a.project.slug}/audits/").content.decode()
    assert 'id="placeholder-rationales"' in page and spec.label in page
