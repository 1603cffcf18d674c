"""Datasets, models and evaluations: versions, lineage, profiles, baselines and comparisons."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.exceptions import NotFound
from projects.analysis.metrics import HIGHER_IS_BETTER
from projects.models import (
    ApiToken,
    Baseline,
    Dataset,
    DatasetLineage,
    DatasetVersion,
    Evaluation,
    Metric,
    ModelVersion,
    Project,
)
from projects.selectors.teams import project_list


def _visible(queryset: QuerySet, path: str, user, pk: int, token, what: str):
    """One object of ``queryset`` whose project (at ``path``) the user sees; 404 otherwise."""
    found = queryset.filter(pk=pk, **{f"{path}__in": project_list(user, token)}).first()
    if found is None:
        raise NotFound(f"No such {what}.", unfiltered=queryset.filter(pk=pk))
    return found


def dataset_get(user, pk: int, token: ApiToken | None = None) -> Dataset:
    return _visible(
        Dataset.objects.select_related("project__team"), "project", user, pk, token, "dataset"
    )


def version_get(user, pk: int, token: ApiToken | None = None) -> DatasetVersion:
    return _visible(
        DatasetVersion.objects.select_related("dataset__project__team", "uploaded_by"),
        "dataset__project",
        user,
        pk,
        token,
        "dataset version",
    )


def model_get(user, pk: int, token: ApiToken | None = None) -> ModelVersion:
    return _visible(
        ModelVersion.objects.select_related("project__team", "training_data__dataset"),
        "project",
        user,
        pk,
        token,
        "model",
    )


def evaluation_get(user, pk: int, token: ApiToken | None = None) -> Evaluation:
    return _visible(
        Evaluation.objects.select_related(
            "model_version__project__team", "dataset_version__dataset"
        ),
        "model_version__project",
        user,
        pk,
        token,
        "evaluation",
    )


def version_choices(project: Project) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(dataset__project=project)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def ready_versions(project: Project) -> QuerySet[DatasetVersion]:
    """Versions that are profiled: parents for new ones, data for evaluations."""
    return version_choices(project).filter(status=DatasetVersion.Status.SUCCEEDED)


def lineage_graph(version: DatasetVersion) -> dict:
    """The version's ancestors and descendants: ``{"nodes": [...], "edges": [[parent, child]]}``."""
    edges: set[tuple[int, int]] = set()
    seen = {version.pk}
    for direction in ("up", "down"):
        frontier = {version.pk}
        while frontier:
            if direction == "up":
                found = DatasetLineage.objects.filter(child__in=frontier)
            else:
                found = DatasetLineage.objects.filter(parent__in=frontier)
            pairs = set(found.values_list("parent_id", "child_id"))
            edges |= pairs
            ends = {p if direction == "up" else c for p, c in pairs}
            frontier = ends - seen
            seen |= ends
    versions = DatasetVersion.objects.filter(pk__in=seen).select_related("dataset")
    nodes = [
        {
            "id": v.pk,
            "dataset": v.dataset.name,
            "dataset_id": v.dataset_id,
            "number": v.number,
            "sha256": v.sha256,
            "status": v.status,
            "transformation": v.transformation,
            "code_reference": v.code_reference,
            "command": v.command,
            "current": v.pk == version.pk,
        }
        for v in sorted(versions, key=lambda v: (v.created_at, v.pk))
    ]
    return {"nodes": nodes, "edges": sorted([p, c] for p, c in edges)}


#: Profile entries that show a column's values: extremes, quantiles, frequent values.
VALUE_FIELDS = ("min", "max", "mean", "std", "quantiles", "histogram", "top")


def profile_without_personal_values(profile: dict, personal: list[str]) -> dict:
    """The profile with no values of personal-data columns; their counts stay."""
    columns = [
        {**c, **dict.fromkeys(VALUE_FIELDS)} if c["name"] in personal else c
        for c in profile.get("columns", [])
    ]
    groups = {
        name: _numbered(values, "group") if name in personal else values
        for name, values in (profile.get("groups") or {}).items()
    }
    label = profile.get("label")
    if label and label.get("column") in personal and label.get("classes"):
        label = {**label, "classes": _numbered(label["classes"], "class")}
    return {**profile, "columns": columns, "groups": groups, "label": label}


def _numbered(entries: list[dict], word: str) -> list[dict]:
    """Entries with their values replaced by "group 1", "group 2", ..."""
    return [{**e, "value": f"{word} {i}"} for i, e in enumerate(entries, start=1)]


def latest_profiled_version(dataset: Dataset) -> DatasetVersion | None:
    """The dataset's newest version with known columns: what its column pickers offer."""
    return (
        dataset.versions.filter(status=DatasetVersion.Status.SUCCEEDED).order_by("-number").first()
    )


def version_column_names(version: DatasetVersion | None) -> list[str]:
    """The version's column names in file order; none for no version."""
    return [column["name"] for column in version.schema] if version is not None else []


def version_profile(version: DatasetVersion) -> dict:
    """The version's profile as people may see it: no values of personal-data columns,
    also of columns declared personal after it was computed."""
    return profile_without_personal_values(
        version.profile or {}, version.dataset.personal_data_columns
    )


def baselines_recorded(project: Project) -> QuerySet[Baseline]:
    return project.baselines.select_related("recorded_by").order_by("metric", "-created_at", "pk")


def _trained_entries(project: Project, version: DatasetVersion | None) -> list[dict]:
    from audits.models import BaselineRun

    runs = BaselineRun.objects.filter(
        dataset_version__dataset__project=project, status=BaselineRun.Status.SUCCEEDED
    ).select_related("dataset_version__dataset")
    if version is not None:
        runs = runs.filter(dataset_version=version)
    entries = []
    for run in runs:
        for model in run.result.get("models", []):
            for metric, summary in model["metrics"].items():
                if summary.get("mean") is not None:
                    entries.append(
                        {
                            "label": f"{model['label']} · {run.dataset_version}",
                            "kind": "trained",
                            "metric": metric,
                            "value": summary["mean"],
                            "std": summary.get("std"),
                        }
                    )
    return entries


def comparison(
    project: Project, evaluations: list[Evaluation], version: DatasetVersion | None = None
) -> list[dict]:
    """Per metric: the evaluations' values beside every recorded baseline and the
    trained ones (only those on ``version`` when given: scores on other data are not
    comparable).

    Only metrics that at least one baseline or evaluation reports appear, in the
    metric set's order."""
    entries = [
        {
            "label": f"{b.name} ({b.get_kind_display()})",
            "kind": "baseline",
            "metric": b.metric,
            "value": b.value,
            "std": None,
        }
        for b in project.baselines.all()
    ]
    entries += _trained_entries(project, version)
    for evaluation in evaluations:
        for metric, value in (evaluation.metrics or {}).items():
            if value is not None:
                entries.append(
                    {
                        "label": str(evaluation.model_version),
                        "kind": "model",
                        "metric": metric,
                        "value": value,
                        "std": None,
                    }
                )
    rows = []
    for metric, label in Metric.choices:
        found = [
            {k: v for k, v in e.items() if k != "metric"} for e in entries if e["metric"] == metric
        ]
        if found:
            rows.append(
                {
                    "metric": metric,
                    "label": label,
                    "higher_is_better": HIGHER_IS_BETTER[metric],
                    "entries": found,
                }
            )
    return rows


def evaluation_comparison(evaluation: Evaluation) -> list[dict]:
    if evaluation.status != Evaluation.Status.SUCCEEDED:
        return []
    rows = comparison(evaluation.model_version.project, [evaluation], evaluation.dataset_version)
    # Only the metrics this model reports are compared.
    return [row for row in rows if any(e["kind"] == "model" for e in row["entries"])]


def latest_evaluations(project: Project) -> list[Evaluation]:
    """The newest finished evaluation of each model version."""
    latest: dict[int, Evaluation] = {}
    finished = Evaluation.objects.filter(
        model_version__project=project, status=Evaluation.Status.SUCCEEDED
    ).select_related("model_version", "dataset_version__dataset")
    for evaluation in finished.order_by("created_at"):
        latest[evaluation.model_version_id] = evaluation
    return list(latest.values())
