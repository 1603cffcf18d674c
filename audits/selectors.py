"""Reads for audits, always through the project the user sees."""

from __future__ import annotations

from django.db.models import QuerySet

from audits.models import BaselineRun, RiskItem
from portal.exceptions import NotFound
from projects import selectors
from projects.models import ApiToken, Project


def baseline_run_get(user, pk: int, token: ApiToken | None = None) -> BaselineRun:
    run = (
        BaselineRun.objects.filter(
            pk=pk, dataset_version__dataset__project__in=selectors.project_list(user, token)
        )
        .select_related("dataset_version__dataset__project")
        .first()
    )
    if run is None:
        raise NotFound("No such baseline run.")
    return run


def baseline_runs(project: Project) -> QuerySet[BaselineRun]:
    return (
        BaselineRun.objects.filter(dataset_version__dataset__project=project)
        .select_related("dataset_version__dataset", "requested_by")
        .order_by("-created_at")
    )


def risk_get(user, pk: int, token: ApiToken | None = None) -> RiskItem:
    risk = (
        RiskItem.objects.filter(pk=pk, project__in=selectors.project_list(user, token))
        .select_related("project__team")
        .first()
    )
    if risk is None:
        raise NotFound("No such risk.")
    return risk


def risk_list(project: Project) -> list[RiskItem]:
    """The register, most severe first, then newest."""
    risks = project.risks.select_related("created_by")
    return sorted(risks, key=lambda r: (-r.severity, -r.created_at.timestamp()))
