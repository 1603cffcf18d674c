"""Where each gate check is fixed, and the one next step there, in words.

The gate's rules stay pure (``*/analysis/gates.py``): a check carries a stable ``key`` and
the id of the object it names (``ref``). This module, on the web side, turns those into a
link; audits' and deployments' pages are named by URL name, so projects imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from projects.analysis.gates import Check, GateResult
from projects.models import Project

Resolve = Callable[[Project, "int | None"], str]


@dataclass(frozen=True)
class NextStep:
    words: str
    url: str


def _page(name: str, *, anchor: str = "") -> Resolve:
    """A page of the project (by its slug)."""
    return lambda project, ref: reverse(name, args=[project.slug]) + anchor


def _object(name: str, fallback: str | Resolve) -> Resolve:
    """The object the check names (by ``ref``), else a page of the project."""
    otherwise = _page(fallback) if isinstance(fallback, str) else fallback
    return lambda project, ref: (
        reverse(name, args=[ref]) if ref is not None else otherwise(project, ref)
    )


_PEOPLE = _page("project-detail", anchor="#sharing")
#: The project page's deployments panel, where a deployment of the candidate is started.
_DEPLOYMENTS = _page("project-detail", anchor="#deployments")

#: Check key -> (the next step, where it is taken).
STEPS: dict[str, tuple[str, Resolve]] = {
    "project.description": ("Describe what the model is for.", _page("project-edit")),
    "people.business_owner": (
        "Share the project with a business owner, or ask a team admin to add one.",
        _PEOPLE,
    ),
    "people.ml_engineer": (
        "Share the project with an ML engineer, or ask a team admin to add one.",
        _PEOPLE,
    ),
    "people.distinct": (
        "Give the business owner and the ML engineer roles to two different people.",
        _PEOPLE,
    ),
    "data.none": ("Register the training, validation or test data.", _page("dataset-create")),
    "data.labelling": (
        "Open each dataset named and say how it is labelled.",
        _page("project-detail", anchor="#data"),
    ),
    "baseline.none": ("Record a baseline or train one.", _page("baseline-list")),
    "risks.register": (
        "Give every risk an owner, then mitigate or accept it.",
        _page("risk-list"),
    ),
    "audit.no_candidate": ("Mark a model version as the candidate.", _page("model-list")),
    "audit.placeholders": (
        "Write why each audit limit suits this project.",
        _page("audit-settings"),
    ),
    "audit.not_evaluated": (
        "Evaluate the candidate model on held-out data.",
        _object("model-detail", "model-list"),
    ),
    "audit.not_run": (
        "Run a fairness audit of the candidate's evaluation.",
        _object("evaluation-detail", "model-list"),
    ),
    "audit.in_progress": (
        "Follow the audit until it finishes.",
        _object("audit-detail", "audit-settings"),
    ),
    "audit.failed": (
        "Fix the audit's input and run it again.",
        _object("audit-detail", "audit-settings"),
    ),
    "audit.waiting": (
        "Ask an auditor to review the audit.",
        _object("audit-detail", "audit-settings"),
    ),
    "audit.decision": (
        "Answer the auditor's review: change and audit again, or renew the exception.",
        _object("audit-detail", "audit-settings"),
    ),
    "criteria.none": ("Write the success criteria.", _page("criteria")),
    "criteria.signoffs": ("Sign the success criteria.", _page("criteria")),
    "criteria.ml_missing": ("Add an ML criterion to the success criteria.", _page("criteria")),
    "criteria.ml_unmet": (
        "Improve the candidate, or accept the unmet criterion as an exception.",
        _page("criteria"),
    ),
    "evaluation.missing": ("Evaluate the candidate model.", _page("model-list")),
    "evaluation.independence": (
        "Evaluate the candidate on validation or test data it never learnt from.",
        _object("evaluation-detail", "model-list"),
    ),
    "evaluation.baseline_standing": (
        "Compare the candidate with the baselines.",
        _page("baseline-list"),
    ),
    "pack.render": ("Render a new pack.", _page("pack-list")),
    "pack.rendering": (
        "Follow the pack until it is rendered.",
        _object("pack-detail", "pack-list"),
    ),
    "deployment.none": ("Plan the deployment of the candidate.", _DEPLOYMENTS),
    "deployment.plan": (
        "Write the deployment plan and have it signed.",
        _object("deployment", _DEPLOYMENTS),
    ),
    "deployment.monitoring": (
        "Name software, input and output metrics in the plan's monitoring spec.",
        _object("deployment", _DEPLOYMENTS),
    ),
    "deployment.rollout": ("Drive the rollout to its end.", _object("deployment", _DEPLOYMENTS)),
    "deployment.software": (
        "Promote the rollout: its last analysis measures the software criteria.",
        _object("deployment", _DEPLOYMENTS),
    ),
    "move.reason": ("Write why in the move form.", _page("project-detail", anchor="#move")),
}


def next_step(project: Project, check: Check) -> NextStep | None:
    """The next step of a failing check, or None when it passes (or has no key yet)."""
    if check.passed or check.key not in STEPS:
        return None
    words, resolve = STEPS[check.key]
    return NextStep(words, resolve(project, check.ref))


def gate_rows(project: Project, gate: GateResult) -> list[tuple[Check, NextStep | None]]:
    """Each check of ``gate`` with its next step, for the checklist."""
    return [(check, next_step(project, check)) for check in gate.checks]
