"""The lifecycle gates: projects' own checks, and the gate assembled from every app's.

Each app registers the checks it owns (``projects.gates.gate_check``); projects' are here:
description, people, data, baselines, criteria, evaluation rigor and reasons. Audits adds
risks, the candidate's audit and the approval pack from ``audits/gates.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.once import computed_once, once
from projects.analysis.criteria import ML
from projects.analysis.gates import (
    DEPLOYMENT,
    PROTOTYPING,
    RETIRED,
    Check,
    CriteriaState,
    GateResult,
    baseline_check,
    criteria_checks,
    criterion_key,
    datasets_check,
    description_check,
    next_stage,
    people_checks,
    reason_check,
)
from projects.analysis.rigor import baseline_standing_check, independence_check
from projects.gates import (
    GateContext,
    baseline_sources,
    criterion_exceptions,
    gate_check,
    gate_checks,
)
from projects.models import Dataset, Project, Role
from projects.selectors.criteria import criteria_assessment, criteria_current
from projects.selectors.marks import kept_per_project
from projects.selectors.rigor import candidate_baseline_standing, candidate_evaluated_data
from projects.selectors.signoffs import signoff_summary
from projects.selectors.teams import people_in_role

__all__ = [
    "LABELLED_PURPOSES",
    "baseline_names",
    "criteria_state",
    "labelled_datasets",
    "next_gates_polled",
    "project_gate",
    "project_gate_polled",
]


def project_gate(
    project: Project, target: str | None = None, reason: str = "", *, with_pack: bool = True
) -> GateResult:
    """The checklist for moving ``project`` to ``target`` (default: the next stage): the
    checks every app registered for that stage, by order. ``with_pack=False`` leaves out
    the approval pack: the checklist a pack shows, and the state a pack is matched against."""
    target = target or next_stage(project.stage)
    context = GateContext(with_pack=with_pack, reason=reason)
    # The checks share their reads (the candidate, its evaluation and audit).
    with computed_once():
        checks = tuple(check for fn in gate_checks(target) for check in fn(project, context))
    return GateResult(stage=project.stage, target=target, checks=checks)


def project_gate_polled(project: Project, target: str | None = None) -> GateResult:
    """:func:`project_gate` for the readers that poll it (CI pipelines, release tools, the
    project page), kept in the shared cache until the project's records move."""
    if target is None:
        return next_gates_polled([project])[project.pk]
    kept = kept_per_project(f"gate:{target}", [project], lambda p: project_gate(p, target))
    return kept[project.pk]


def next_gates_polled(projects: Iterable[Project]) -> dict[int, GateResult]:
    """Each project's gate into its next stage, kept as :func:`project_gate_polled` keeps
    one: two queries for the lot when none has changed."""
    return kept_per_project("gate:next", projects, project_gate)


@once
def baseline_names(project: Project) -> list[str]:
    """Every baseline on record: the ones entered here, then those other apps keep (the
    trained ones that finished)."""
    names = [f"{b.name} ({b.get_kind_display().lower()})" for b in project.baselines.all()]
    for source in baseline_sources():
        names += source(project)
    return names


#: Data whose labels the model learns or is judged on.
LABELLED_PURPOSES = (
    Dataset.Purpose.TRAINING,
    Dataset.Purpose.VALIDATION,
    Dataset.Purpose.TEST,
)


def labelled_datasets(project: Project) -> list[tuple[str, str]]:
    """(name, labeling strategy) of each dataset holding data the model learns or is judged
    on; a dataset still being collected has no labels to account for yet."""
    rows = (
        project.datasets.filter(purpose__in=LABELLED_PURPOSES, versions__isnull=False)
        .distinct()
        .order_by("name")
    )
    return [
        (
            d.name,
            ""
            if d.labeling_strategy == Dataset.Labeling.NOT_LABELLED
            else d.get_labeling_strategy_display(),
        )
        for d in rows
    ]


def criteria_state(project: Project) -> CriteriaState:
    version = criteria_current(project)
    if version is None:
        return CriteriaState()
    summary = signoff_summary(version)
    rows = [row for row in criteria_assessment(version) if row["criterion"]["category"] == ML]
    exceptions = criterion_exceptions(version)
    ml, excepted = [], {}
    for row in rows:
        text = f"{row['label']} {row['outcome'].target_text}"
        ml.append(
            (
                text,
                row["outcome"].status,
                row["outcome"].detail or row["outcome"].status.replace("_", " "),
            )
        )
        key = criterion_key(row["criterion"]["metric"], row["criterion"]["source"])
        if key in exceptions:
            excepted[text] = exceptions[key]
    return CriteriaState(version.version, summary.passed, summary.detail, tuple(ml), excepted)


# --- Projects' checks (audits registers 50 risks, 60 audit, 90 pack) ----------------------
@gate_check(DEPLOYMENT, order=10)
def project_described(project: Project, context: GateContext) -> list[Check]:
    return [description_check(project.description)]


@gate_check(DEPLOYMENT, order=20)
def people_named(project: Project, context: GateContext) -> list[Check]:
    return people_checks(
        people_in_role(project, Role.BUSINESS_OWNER), people_in_role(project, Role.ML_ENGINEER)
    )


@gate_check(DEPLOYMENT, order=30)
def datasets_labelled(project: Project, context: GateContext) -> list[Check]:
    return [datasets_check(labelled_datasets(project))]


@gate_check(DEPLOYMENT, order=40)
def baseline_on_record(project: Project, context: GateContext) -> list[Check]:
    return [baseline_check(baseline_names(project))]


@gate_check(DEPLOYMENT, order=70)
def criteria_signed_and_met(project: Project, context: GateContext) -> list[Check]:
    return criteria_checks(criteria_state(project))


@gate_check(DEPLOYMENT, order=75)
def candidate_evaluated_rigorously(project: Project, context: GateContext) -> list[Check]:
    """The candidate judged on held-out data that is not its training data nor derived from
    it; and, as a flag that holds nothing, where it stands against the best baseline."""
    return [
        independence_check(candidate_evaluated_data(project)),
        baseline_standing_check(candidate_baseline_standing(project)),
    ]


@gate_check(PROTOTYPING, order=10)
def reason_to_go_back(project: Project, context: GateContext) -> list[Check]:
    return [reason_check(context.reason, "Say why the project goes back to prototyping.")]


@gate_check(RETIRED, order=10)
def reason_to_retire(project: Project, context: GateContext) -> list[Check]:
    return [reason_check(context.reason, "Say why the project is retired.")]
