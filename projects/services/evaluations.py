"""Recorded baselines, model versions and their evaluations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import transaction

from portal.exceptions import ApplicationError, Conflict, unique_or_conflict
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import local_file, parquet_source
from projects.analysis.curves import evaluation_curves
from projects.analysis.metrics import MetricError, compute_metrics, detect_task
from projects.analysis.pairing import check_row_ids, row_order
from projects.analysis.tabular import DataError, check_columns, read_columns, read_groups
from projects.models import (
    Baseline,
    DatasetVersion,
    Evaluation,
    Metric,
    ModelVersion,
    Project,
)
from projects.services.datasets import version_require_ready
from projects.services.events import event_record, job_failed_record
from projects.services.uploads import CheckedUpload, read_limits, stored

if TYPE_CHECKING:
    from projects.models import ApiToken

#: Where each metric's values can lie; the rest lie between 0 and 1.
METRIC_RANGE = {
    "log_loss": (0.0, float("inf")),
    "mae": (0.0, float("inf")),
    "rmse": (0.0, float("inf")),
    "r2": (float("-inf"), 1.0),
}
MAPPING_KEYS = ("y_true", "y_pred", "y_score", "row_id", "sensitive")
#: The stored mapping's key for the dataset version's label column when the predictions
#: map no y_true: the name is kept, so a later edit of the dataset's label column does not
#: change what this evaluation was scored against.
LABEL_KEY = "label_column"


def baseline_record(
    *,
    actor,
    project: Project,
    kind: str,
    name: str,
    metric: str,
    value: float,
    citation: str = "",
    evidence: str = "",
    token: ApiToken | None = None,
) -> Baseline:
    if kind not in Baseline.Kind.values:
        raise ApplicationError(f"Unknown kind {kind!r}.", code="invalid")
    if metric not in Metric.values:
        raise ApplicationError(f"Unknown metric {metric!r}.", code="invalid")
    if not np.isfinite(value):
        raise ApplicationError("The value must be a finite number.", code="invalid")
    low, high = METRIC_RANGE.get(metric, (0.0, 1.0))
    if not low <= value <= high:
        raise ApplicationError(
            f"{Metric(metric).label} lies between {low:g} and {high:g}; {value:g} cannot be.",
            code="invalid",
        )
    if kind == Baseline.Kind.LITERATURE and not citation.strip():
        raise ApplicationError("A literature baseline needs its citation.", code="citation_missing")
    with transaction.atomic():
        baseline = Baseline.objects.create(
            project=project,
            kind=kind,
            name=name,
            metric=metric,
            value=value,
            citation=citation,
            evidence=evidence,
            recorded_by=actor,
        )
        event_record(
            actor=actor,
            verb="baseline.recorded",
            target=baseline,
            project=project,
            token=token,
            payload={"kind": kind, "name": name, "metric": metric, "value": value},
        )
        return baseline


def _training_data(project: Project, version_id: int | None) -> DatasetVersion | None:
    """The project's dataset version ``version_id``, the data a model learnt from. Another
    project's version and one that does not exist get the same answer, so an id reveals
    nothing of another team's data."""
    if version_id is None:
        return None
    found = (
        DatasetVersion.objects.filter(pk=version_id, dataset__project=project)
        .select_related("dataset")
        .first()
    )
    if found is None:
        raise ApplicationError(
            f"No dataset version {version_id} in project {project.slug}: training_data must "
            "be the id of a version of this project's data, the one the model was trained on.",
            code="invalid_training_data",
        )
    if found.status == DatasetVersion.Status.FAILED:
        raise ApplicationError(
            f"{found} failed to load; it cannot be a model's training data.",
            code="invalid_training_data",
        )
    return found


def model_register(
    *,
    actor,
    project: Project,
    name: str,
    version: str,
    training_data: int | None = None,
    token: ApiToken | None = None,
    **fields,
) -> ModelVersion:
    """Register a model version; ``training_data`` is the id of the project's dataset
    version it was trained on (the gate into deployment asks for it)."""
    if not isinstance(fields.get("parameters", {}), dict):
        raise ApplicationError("parameters must be an object.", code="invalid")
    training = _training_data(project, training_data)
    with unique_or_conflict(
        f"{name} {version} is registered already; give the new one another version.",
        "version_taken",
    ):
        model = ModelVersion.objects.create(
            project=project,
            name=name,
            version=version,
            training_data=training,
            created_by=actor,
            **fields,
        )
        trained_on = {
            "training_data": training.pk if training else None,
            "training_data_version": str(training) if training else None,
        }
        event_record(
            actor=actor,
            verb="model.registered",
            target=model,
            project=project,
            token=token,
            payload={"name": name, "version": version, **fields, **trained_on},
        )
        return model


def model_training_data_record(
    *, actor, model: ModelVersion, training_data: int, token: ApiToken | None = None
) -> ModelVersion:
    """Record the training data of a model registered without it, once: what a model
    learnt from does not change, so a recorded one is refused (409); other data makes a new
    model version."""
    with transaction.atomic():
        model = (
            ModelVersion.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project", "training_data__dataset")
            .get(pk=model.pk)
        )
        if model.training_data is not None:
            raise Conflict(
                f"{model}'s training data is recorded already: {model.training_data}. A model "
                "learns from its data once; register a new version for other data.",
                code="training_data_recorded",
            )
        training = _training_data(model.project, training_data)
        model.training_data = training
        model.save(update_fields=["training_data"])
        event_record(
            actor=actor,
            verb="model.training_data_recorded",
            target=model,
            project=model.project,
            token=token,
            payload={"training_data": training.pk, "training_data_version": str(training)},
        )
        return model


def model_mark_candidate(
    *, actor, model: ModelVersion, token: ApiToken | None = None
) -> ModelVersion:
    """Put ``model`` forward as the project's candidate: the gate and the criteria judge it."""
    with transaction.atomic():
        project = Project.objects.select_for_update(no_key=True).get(pk=model.project_id)
        if project.candidate_model_id == model.pk:
            return model
        previous = project.candidate_model
        project.candidate_model = model
        project.save(update_fields=["candidate_model"])
        event_record(
            actor=actor,
            verb="model.marked_candidate",
            target=model,
            project=project,
            token=token,
            payload={"model": str(model), "previous": str(previous) if previous else None},
        )
        return model


def _check_mapping(mapping: dict) -> dict:
    unknown = set(mapping) - set(MAPPING_KEYS)
    if unknown:
        raise ApplicationError(
            f"Unknown mapping keys: {', '.join(sorted(unknown))}; use {', '.join(MAPPING_KEYS)}.",
            code="invalid_mapping",
        )
    if not isinstance(mapping.get("y_pred"), str) or not mapping["y_pred"]:
        raise ApplicationError("Name the column that holds y_pred.", code="invalid_mapping")
    if mapping.get("y_true") and not isinstance(mapping["y_true"], str):
        raise ApplicationError(
            "y_true must name a column, or be left out to take the dataset version's label.",
            code="invalid_mapping",
        )
    sensitive = mapping.get("sensitive") or []
    if not isinstance(sensitive, list) or not all(isinstance(c, str) for c in sensitive):
        raise ApplicationError("sensitive must be a list of column names.", code="invalid_mapping")
    clean = {k: mapping[k] for k in ("y_true", "y_pred", "y_score", "row_id") if mapping.get(k)}
    clean["sensitive"] = sensitive
    return clean


def _version_label(version: DatasetVersion) -> str:
    """The label column of ``version``, which holds the true value when the predictions
    map none; refused at once when there is none to take."""
    label = version.dataset.label_column
    if not label:
        raise ApplicationError(
            f"Name the column that holds y_true: {version.dataset.name} has no label column "
            "to take the true value from.",
            code="invalid_mapping",
        )
    if label not in {column["name"] for column in version.schema}:
        raise ApplicationError(
            f"Name the column that holds y_true: {version} lacks its dataset's label column "
            f"{label!r} to take the true value from.",
            code="invalid_mapping",
        )
    return label


def evaluation_upload(
    *,
    actor,
    model: ModelVersion,
    dataset_version: DatasetVersion,
    upload: CheckedUpload,
    mapping: dict,
    token: ApiToken | None = None,
) -> Evaluation:
    mapping = _check_mapping(mapping)
    if dataset_version.dataset.project_id != model.project_id:
        raise ApplicationError(
            "The dataset version belongs to another project.", code="invalid_dataset"
        )
    version_require_ready(dataset_version)
    if "y_true" not in mapping:
        mapping[LABEL_KEY] = _version_label(dataset_version)
    path = f"predictions/{model.pk}/{upload.sha256}/predictions.{upload.format}"
    with stored(path, upload.file) as name, transaction.atomic():
        evaluation = Evaluation.objects.create(
            model_version=model,
            dataset_version=dataset_version,
            file=name,
            original_name=upload.name[:255],
            format=upload.format,
            size_bytes=upload.size,
            sha256=upload.sha256,
            mapping=mapping,
            requested_by=actor,
        )
        event_record(
            actor=actor,
            verb="evaluation.uploaded",
            target=evaluation,
            project=model.project,
            token=token,
            payload={
                "model": str(model),
                "dataset_version": dataset_version.pk,
                "file": upload.name,
                "sha256": upload.sha256,
                "mapping": mapping,
            },
        )
        job_enqueue(evaluation)
        return evaluation


def _plain(value) -> str:
    """A value as a person writes it (1, 'yes'), not as numpy spells it (np.int64(1))."""
    return repr(value.item() if hasattr(value, "item") else value)


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality that reads 1 and 1.0 as the same label."""
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        # Compared as numbers without a float copy of either side (1 == 1.0 holds).
        return np.equal(a, b)
    return a.astype(str) == b.astype(str)


def _matches_dataset(evaluation: Evaluation, columns: dict[str, np.ndarray]) -> None:
    """Refuse predictions that are not about the dataset version's rows."""
    version = evaluation.dataset_version
    rows = len(columns[evaluation.mapping["y_pred"]])
    if rows != version.rows:
        raise ApplicationError(
            f"The predictions file has {rows} rows but {version} has {version.rows}; "
            "upload one prediction per row of the dataset version."
        )
    row_id = evaluation.mapping.get("row_id")
    if row_id:
        _matches_row_ids(version, row_id, columns[row_id])
        return
    label = version.dataset.label_column
    if label and version.parquet and "y_true" in evaluation.mapping:
        # Without row ids, rows pair up by position: the labels must then agree.
        limits = read_limits()
        with parquet_source(version.parquet) as parquet:
            truth = read_columns(parquet, [label], fmt="parquet", limits=limits, compact=True)
            truth = truth[label]
        ours = columns[evaluation.mapping["y_true"]]
        differ = np.flatnonzero(~_equal(truth, ours))
        if differ.size:
            first = int(differ[0])
            raise ApplicationError(
                f"Row {first + 1}: y_true is {_plain(ours[first])} but {version}'s label is "
                f"{_plain(truth[first])} ({differ.size} rows differ). Are the rows in the same "
                "order as the dataset version? Map a row id column otherwise."
            )


def _matches_row_ids(version: DatasetVersion, row_id: str, ids: np.ndarray) -> None:
    """Predictions mapped with a row id pair with the dataset version's rows through the
    column of that name there: each id once on both sides, and none the version lacks."""
    if row_id not in {column["name"] for column in version.schema}:
        raise ApplicationError(
            f"{version} has no column {row_id!r} to pair the row ids with; map as row_id a "
            "column that both the predictions file and the dataset version have."
        )
    with parquet_source(version.parquet) as parquet:
        known = read_columns(parquet, [row_id], fmt="parquet", limits=read_limits())
    check = check_row_ids(ids, known[row_id])
    if check.missing:
        raise ApplicationError(
            f"{check.missing:,} rows have no row id; every prediction needs its row's id."
        )
    if check.first_repeated is not None:
        raise ApplicationError(
            f"Row id {check.first_repeated} appears more than once; row ids must be unique."
        )
    if check.known_missing or check.known_repeated:
        raise ApplicationError(
            f"{version}'s column {row_id!r} does not tell its rows apart ("
            f"{check.known_missing:,} rows without a value, {check.known_repeated:,} rows "
            "sharing theirs); pair by position instead, leaving row_id out."
        )
    if check.unknown:
        raise ApplicationError(
            f"{check.unknown:,} of {check.rows:,} row ids are not in {version}'s id column "
            f"{row_id!r} (first: {', '.join(check.first_unknown)}). Predict the rows of the "
            "dataset version, with its ids."
        )


def truth_column(evaluation: Evaluation) -> str | None:
    """The dataset version's column that holds the true value, when the predictions map no
    y_true; None when y_true is a column of the predictions file."""
    mapping = evaluation.mapping
    if mapping.get("y_true"):
        return None
    return mapping.get(LABEL_KEY) or evaluation.dataset_version.dataset.label_column


def version_columns(
    evaluation: Evaluation,
    names: list[str],
    *,
    ids: np.ndarray | None = None,
    groups: bool = False,
) -> dict[str, Any]:
    """Columns ``names`` of the evaluation's dataset version, row for row with its
    predictions: by position, or by row id when one is mapped (``ids`` are the predictions'
    own, read from the file when not given). ``groups`` reads them as categoricals, as
    sensitive features are read. The pairing is the one the evaluation checked, so a row
    id is here once on each side."""
    version, row_id = evaluation.dataset_version, evaluation.mapping.get("row_id")
    limits = read_limits()
    read = read_groups if groups else read_columns
    with parquet_source(version.parquet) as parquet:
        columns = read(parquet, names, fmt="parquet", limits=limits)
        if not row_id:
            return columns
        known = read_columns(parquet, [row_id], fmt="parquet", limits=limits)[row_id]
    if ids is None:
        with local_file(evaluation.file) as path:
            ids = read_columns(path, [row_id], fmt=evaluation.format, limits=limits)[row_id]
    try:
        order = row_order(ids, known)
    except ValueError:
        raise DataError(
            f"The predictions' row ids no longer pair with {version}'s column {row_id!r}."
        ) from None
    return {name: values.take(order) for name, values in columns.items()}


def evaluation_truth(evaluation: Evaluation, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The true values, row for row with the predictions: the file's y_true column, or the
    dataset version's label column. ``columns`` are the predictions file's, read with the
    row id when one is mapped."""
    label = truth_column(evaluation)
    if label is None:
        return columns[evaluation.mapping["y_true"]]
    row_id = evaluation.mapping.get("row_id")
    return version_columns(evaluation, [label], ids=columns.get(row_id) if row_id else None)[label]


def _evaluation_work(evaluation: Evaluation, progress: Progress):
    mapping = evaluation.mapping
    wanted = [mapping[k] for k in ("y_true", "y_pred", "y_score", "row_id") if k in mapping]
    sensitive = [c for c in mapping["sensitive"] if c not in wanted]
    progress(5, "Reading predictions")
    try:
        with local_file(evaluation.file) as path:
            fmt, limits = evaluation.format, read_limits()
            # The sensitive columns need only be there (the audit reads them): reading them
            # as text took most of this job's memory.
            check_columns(path, wanted + sensitive, fmt=fmt, limits=limits)
            columns = read_columns(path, wanted, fmt=fmt, limits=limits, compact=True)
        _matches_dataset(evaluation, columns)
        progress(50, "Computing metrics")
        project_task = evaluation.model_version.project.task_type
        y_true = evaluation_truth(evaluation, columns)
        task = project_task if project_task != Project.TaskType.OTHER else detect_task(y_true)
        y_score = columns[mapping["y_score"]] if "y_score" in mapping else None
        metrics = compute_metrics(task, y_true, columns[mapping["y_pred"]], y_score)
    except (DataError, MetricError) as exc:
        raise ApplicationError(str(exc), code="bad_data") from None
    progress(80, "Computing curves")
    curves = evaluation_curves(task, y_true, columns[mapping["y_pred"]], y_score)

    def store() -> None:
        Evaluation.objects.filter(pk=evaluation.pk).update(
            task=task, rows=len(y_true), metrics=metrics, curves=curves
        )
        event_record(
            actor=evaluation.requested_by,
            verb="evaluation.computed",
            target=evaluation,
            project=evaluation.model_version.project,
            payload={"task": task, "metrics": metrics},
        )

    return store


def evaluation_run(*, evaluation_id: int) -> None:
    job_run(
        Evaluation,
        evaluation_id,
        _evaluation_work,
        on_failure=job_failed_record("evaluation.failed"),
    )
