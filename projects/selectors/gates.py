"""What the lifecycle gates judge: a project's state, and the gate it gives."""

from __future__ import annotations

from django.conf import settings

from projects.analysis.criteria import ML
from projects.analysis.gates import CriteriaState, GateResult, ProjectState, evaluate_gate
from projects.models import Dataset, Project, Role
from projects.selectors.criteria import criteria_assessment, criteria_current
from projects.selectors.signoffs import signoff_summary
from projects.selectors.teams import people_in_role


def baseline_names(project: Project) -> list[str]:
    """Every baseline on record: the ones entered and the trained ones that finished."""
    from audits.models import BaselineRun

    names = [f"{b.name} ({b.get_kind_display().lower()})" for b in project.baselines.all()]
    runs = BaselineRun.objects.filter(
        dataset_version__dataset__project=project, status=BaselineRun.Status.SUCCEEDED
    ).select_related("dataset_version__dataset")
    names += [f"trained on {run.dataset_version}" for run in runs.order_by("pk")]
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
    ml = tuple(
        (
            f"{row['label']} {row['outcome'].target_text}",
            row["outcome"].status,
            row["outcome"].detail or row["outcome"].status.replace("_", " "),
        )
        for row in criteria_assessment(version)
        if row["criterion"]["category"] == ML
    )
    return CriteriaState(version.version, summary.passed, summary.detail, ml)


def project_state(project: Project, *, with_pack: bool = True) -> ProjectState:
    """Everything the gates judge. ``with_pack=False`` leaves out the approval pack: the
    checklist a pack shows, and the state a pack is matched against."""
    from audits.selectors import audit_gate_state, pack_gate_state  # audits builds on projects

    threshold = settings.RISK_GATE_SEVERITY
    severe = [
        risk.title
        for risk in project.risks.filter(status="open").order_by("created_at")
        if risk.severity >= threshold
    ]
    return ProjectState(
        stage=project.stage,
        description=project.description,
        business_owners=tuple(people_in_role(project, Role.BUSINESS_OWNER)),
        ml_engineers=tuple(people_in_role(project, Role.ML_ENGINEER)),
        severe_open_risks=tuple(severe),
        risk_threshold=threshold,
        audit=audit_gate_state(project),
        criteria=criteria_state(project),
        baselines=tuple(baseline_names(project)),
        labelled_datasets=tuple(labelled_datasets(project)),
        pack=pack_gate_state(project) if with_pack else None,
    )


def project_gate(
    project: Project, target: str | None = None, reason: str = "", *, with_pack: bool = True
) -> GateResult:
    return evaluate_gate(project_state(project, with_pack=with_pack), target, reason)
