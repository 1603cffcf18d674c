"""Performance of a live deployment: estimated from each production period's scores before
labels arrive, realized once label batches join their prediction ids, and judged for decay
against the reference evaluation (the deployed model's newest evaluation with scores)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone

from deployments import selectors
from deployments.analysis.estimate import EstimateError, estimate, fit_reference, realized
from deployments.analysis.performance import (
    Decay,
    LabelError,
    binary_labels,
    decay_of,
    id_text,
    join_labels,
    label_text,
    labels_by_id,
    number,
    period_performance,
)
from deployments.models import Alert, Deployment, LabelBatch, ProductionPeriod
from deployments.services.alerts import alert_fire, alerts_resolve_open
from portal.exceptions import ApplicationError, Conflict, NotFound
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import local_file, parquet_source
from projects.analysis.tabular import read_columns
from projects.models import Dataset, DatasetVersion, Evaluation
from projects.services.datasets import version_require_ready
from projects.services.evaluations import evaluation_truth
from projects.services.events import event_record, job_failed_record
from projects.services.uploads import read_limits

if TYPE_CHECKING:
    from projects.models import ApiToken

#: What an estimate assumes and nothing here can check; shown wherever an estimate is.
ASSUMPTIONS = (
    "The scores are calibrated probabilities (after the reference's calibration, when "
    "applied): among rows scored p, a share p are positive.",
    "No concept shift: the inputs relate to the outcome as they did in the reference "
    "evaluation; a change in what the inputs mean makes the estimate wrong without a sign.",
)


@dataclass(frozen=True)
class ReferenceData:
    """The deployed model's evaluation with scores: its labels (0/1), scores and classes."""

    evaluation: Evaluation
    labels: np.ndarray
    scores: np.ndarray
    classes: tuple[str, ...]
    positive: str


def reference_data(deployment: Deployment) -> ReferenceData:
    """The newest finished evaluation of the deployed model that holds scores."""
    found = (
        Evaluation.objects.filter(
            model_version=deployment.model_version, status=Evaluation.Status.SUCCEEDED
        )
        .order_by("-created_at", "-pk")
        .select_related("model_version")
    )
    evaluation = next((e for e in found if e.mapping.get("y_score")), None)
    if evaluation is None:
        raise ApplicationError(
            f"{deployment.model_version} has no finished evaluation with scores (y_score) to "
            "serve as the reference; upload one to estimate and judge performance.",
            code="no_reference",
        )
    mapping = evaluation.mapping
    wanted = [mapping[k] for k in ("y_true", "y_score", "row_id") if k in mapping]
    with local_file(evaluation.file) as path:
        columns = read_columns(path, wanted, fmt=evaluation.format, limits=read_limits())
    truth = evaluation_truth(evaluation, columns)
    found_classes = np.unique(truth)
    if evaluation.task != "classification" or len(found_classes) != 2:
        raise ApplicationError(
            f"Evaluation {evaluation.pk} is not of a binary classifier; performance is "
            "estimated and judged for binary classifiers.",
            code="not_binary",
        )
    # The positive class is the larger label, as the evaluation's metrics take it.
    classes = label_text(found_classes)
    positive = classes.iloc[-1]
    labels = (label_text(truth) == positive).to_numpy(dtype=np.int8)
    scores = pd.to_numeric(pd.Series(columns[mapping["y_score"]]), errors="coerce").to_numpy(float)
    return ReferenceData(evaluation, labels, scores, tuple(classes.tolist()), positive)


def _period_scores(frame: pd.DataFrame, period: ProductionPeriod) -> np.ndarray:
    return pd.to_numeric(frame[period.score_column], errors="coerce").to_numpy(float)


def period_estimate(period: ProductionPeriod, frame: pd.DataFrame) -> dict[str, Any]:
    """The period's performance estimated from its scores (CBPE), or why there is none."""
    if not period.score_column or period.score_column not in frame.columns:
        return {"error": "The period names no score column, so nothing can be estimated."}
    try:
        reference = reference_data(period.deployment)
    except ApplicationError as exc:
        return {"error": exc.detail}
    scores = _period_scores(frame, period)
    scored = np.isfinite(scores)
    try:
        fitted = fit_reference(reference.scores, reference.labels, threshold=period.threshold)
        found = estimate(fitted, scores[scored])
    except EstimateError as exc:
        return {"error": f"No estimate: {exc}", "evaluation": reference.evaluation.pk}
    return {
        "evaluation": reference.evaluation.pk,
        "reference_rows": fitted.rows,
        "calibrated": found.calibrated,
        "threshold": period.threshold,
        "rows": found.rows,
        "unscored": int((~scored).sum()),
        "reference": {name: number(value) for name, value in fitted.realized.items()},
        "metrics": {
            m.metric: {
                "value": number(m.value),
                "sampling_error": number(m.sampling_error),
                "lower": number(m.lower_confidence),
                "upper": number(m.upper_confidence),
                "lower_threshold": number(m.lower_threshold),
                "upper_threshold": number(m.upper_threshold),
                "alert": m.alert,
            }
            for m in found.metrics
        },
    }


# --- Label batches ------------------------------------------------------------------------------


def production_version_require(version: DatasetVersion, project, what: str) -> None:
    """``version`` is profiled production data of ``project``, or the reason it is not."""
    if version.dataset.project_id != project.pk:
        # As for any object of another project: not found, whatever it is.
        raise NotFound("No such dataset version.")
    if version.dataset.purpose != Dataset.Purpose.PRODUCTION_SAMPLE:
        raise ApplicationError(
            f"{version} is {version.dataset.get_purpose_display().lower()} data; upload "
            f"{what} as a version of a dataset of purpose production_sample.",
            code="not_production_sample",
        )
    version_require_ready(version)


def _column_names(version: DatasetVersion) -> list[str]:
    return [c["name"] for c in version.schema]


def label_batch_create(
    *,
    actor,
    deployment: Deployment,
    version: DatasetVersion,
    id_column: str,
    label_column: str,
    token: ApiToken | None = None,
) -> LabelBatch:
    """Record that ``version`` holds labels for earlier predictions of ``deployment`` and
    queue their join to its production periods."""
    project = deployment.project
    production_version_require(version, project, "the labels")
    names = _column_names(version)
    for what, column in (("prediction ids", id_column), ("labels", label_column)):
        if not column or column not in names:
            raise ApplicationError(
                f"{version} has no column {column!r}; name the column that holds the "
                f"{what} (its columns: {', '.join(names[:20])}).",
                code="unknown_column",
            )
    if id_column == label_column:
        raise ApplicationError(
            "The prediction ids and the labels must be two columns.", code="invalid"
        )
    if not version.rows:
        raise ApplicationError(f"{version} has no rows: no label to join.", code="empty_labels")
    with transaction.atomic():
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        if not deployment.production_periods.exclude(id_column="").exists():
            raise Conflict(
                "No production period of this deployment names its prediction id column, so "
                "labels have nothing to join to; record the periods with their id_column.",
                code="no_prediction_ids",
            )
        if LabelBatch.objects.filter(deployment=deployment, dataset_version=version).exists():
            raise Conflict(
                f"{version} is already a label batch of this deployment.", code="version_used"
            )
        batch = LabelBatch.objects.create(
            deployment=deployment,
            dataset_version=version,
            id_column=id_column,
            label_column=label_column,
            created_by=actor,
        )
        event_record(
            actor=actor,
            verb="label_batch.created",
            target=batch,
            project=project,
            token=token,
            payload={
                "deployment": deployment.pk,
                "dataset_version": version.pk,
                "id_column": id_column,
                "label_column": label_column,
            },
        )
        job_enqueue(batch)
        return batch


def _labels(batch: LabelBatch) -> tuple[pd.Series, pd.Series]:
    with parquet_source(batch.dataset_version.parquet) as path:
        table = pq.read_table(path, columns=[batch.id_column, batch.label_column])
    return (
        table.column(batch.id_column).to_pandas(),
        table.column(batch.label_column).to_pandas(),
    )


def _period_columns(period: ProductionPeriod, columns: list[str]) -> pd.DataFrame:
    have = set(_column_names(period.dataset_version))
    with parquet_source(period.dataset_version.parquet) as path:
        return pq.read_table(path, columns=[c for c in columns if c in have]).to_pandas()


def _joinable(deployment: Deployment) -> list[ProductionPeriod]:
    return list(
        deployment.production_periods.exclude(id_column="")
        .select_related("dataset_version__dataset")
        .order_by("period_start", "pk")
    )


def _label_work(batch: LabelBatch, progress: Progress):
    deployment = batch.deployment
    progress(5, "Reading the labels")
    ids, labels = _labels(batch)
    reference = reference_data(deployment)
    by_id, _ = labels_by_id(ids, labels)
    try:
        binary_labels(by_id, reference.classes, reference.positive)
    except LabelError as exc:
        raise ApplicationError(f"The labels cannot be used: {exc}", code="bad_labels") from None
    periods = _joinable(deployment)
    progress(20, f"Joining {len(by_id):,} labels to {len(periods)} periods")
    joined = join_labels({p.pk: _ids(p) for p in periods}, ids, labels)
    seen = {p.pk for p in periods}

    def store() -> None:
        # The deployment's periods locked in one order: a batch recomputes its periods from
        # every batch that finished before it and this one, and a period's own job (which
        # holds its row) waits or is waited for; none is lost to a race, none deadlocks.
        locked = list(
            ProductionPeriod.objects.select_for_update(no_key=True)
            .filter(deployment=deployment)
            .exclude(id_column="")
            .select_related("dataset_version__dataset")
            .order_by("pk")
        )
        # A period recorded since the join was read is recomputed too.
        redo = [p for p in locked if p.pk in joined.periods or p.pk not in seen]
        LabelBatch.objects.filter(pk=batch.pk).update(result=joined.as_dict())
        if redo:
            every = all_labels(deployment)
            for period in redo:
                body = realized_from(period, every, reference)
                ProductionPeriod.objects.filter(pk=period.pk).update(realized=body)
        event_record(
            actor=batch.created_by,
            verb="label_batch.joined",
            target=batch,
            project=deployment.project,
            payload={
                k: v for k, v in joined.as_dict().items() if k not in ("periods", "unmatched_ids")
            }
            | {"periods": sorted(joined.periods), "unmatched_ids": list(joined.unmatched_ids)},
        )
        performance_alerts(deployment)

    return store


def _ids(period: ProductionPeriod) -> pd.Series:
    if period.id_column not in _column_names(period.dataset_version):
        return pd.Series([], dtype="string")
    return _period_columns(period, [period.id_column])[period.id_column]


def all_labels(deployment: Deployment) -> pd.Series:
    """Every label of the deployment's finished batches by prediction id, a later batch's
    label of an id replacing an earlier one. The running batch is marked succeeded in the
    transaction that stores its join, so it counts."""
    batches = LabelBatch.objects.filter(
        deployment=deployment, status=LabelBatch.Status.SUCCEEDED
    ).select_related("dataset_version")
    pairs = [_labels(b) for b in batches.order_by("created_at", "pk")]
    if not pairs:
        return pd.Series([], dtype="string")
    by_id, _ = labels_by_id(
        pd.concat([i for i, _ in pairs], ignore_index=True),
        pd.concat([v for _, v in pairs], ignore_index=True),
    )
    by_id.attrs["batches"] = sorted(b.pk for b in batches)
    return by_id


def realized_from(
    period: ProductionPeriod, by_id: pd.Series, reference: ReferenceData
) -> dict[str, Any]:
    """The period's realized performance from ``by_id`` (see :func:`all_labels`), or why
    there is none (no scores, scores that are not probabilities)."""
    sensitive = [
        c
        for c in period.dataset_version.dataset.sensitive_columns
        if c not in (period.id_column, period.score_column)
    ]
    frame = _period_columns(period, [period.id_column, period.score_column, *sensitive])
    base: dict[str, Any] = {
        "rows": len(frame),
        "batches": by_id.attrs.get("batches", []),
        "evaluation": reference.evaluation.pk,
        "updated_at": timezone.now().isoformat(),
        "labelled": 0,
        "metrics": {},
        "groups": [],
        "groups_note": "",
    }
    if period.score_column not in frame.columns:
        return base | {"error": "The period names no score column to judge."}
    found = by_id.index.get_indexer(id_text(frame[period.id_column]))
    scores = _period_scores(frame, period)
    usable = (found >= 0) & np.isfinite(scores)
    try:
        base["reference"] = {
            name: number(value)
            for name, value in realized(
                reference.labels, reference.scores, threshold=period.threshold
            ).values.items()
        }
        if not usable.any():
            return base
        labels01 = binary_labels(
            by_id.iloc[found[usable]].reset_index(drop=True), reference.classes, reference.positive
        )
        groups = {c: frame[c].to_numpy()[usable] for c in sensitive if c in frame.columns}
        return base | period_performance(
            labels01, scores[usable], threshold=period.threshold, sensitive=groups
        )
    except (EstimateError, LabelError) as exc:
        return base | {"error": f"Not judged: {exc}"}


def realized_of(period: ProductionPeriod, reference: ReferenceData) -> dict[str, Any]:
    """The period's realized performance from every finished label batch."""
    return realized_from(period, all_labels(period.deployment), reference)


def label_batch_run(*, batch_id: int) -> None:
    job_run(LabelBatch, batch_id, _label_work, on_failure=job_failed_record("label_batch.failed"))


# --- Decay ------------------------------------------------------------------------------------


def _monitoring(deployment: Deployment) -> dict:
    plan = selectors.plan_current(deployment)
    return (plan.content.get("monitoring") or {}) if plan else {}


def performance_spec(deployment: Deployment) -> dict | None:
    """The current plan's ``monitoring.performance``, or None when it watches none."""
    return _monitoring(deployment).get("performance")


def period_decay(period: ProductionPeriod, spec: dict) -> Decay | None:
    """The period's verdict on the spec's metric: on its labels once it has enough, on its
    estimate before; None when neither (or the reference) is known."""
    metric = spec["metric"]
    done, guessed = period.realized or {}, period.estimate or {}
    labelled = done.get("labelled", 0)
    return decay_of(
        metric=metric,
        max_drop=spec["max_drop"],
        min_labels=spec.get("min_labels", 1),
        reference=(done.get("reference") or guessed.get("reference") or {}).get(metric),
        estimated=((guessed.get("metrics") or {}).get(metric) or {}).get("value"),
        realized_value=(done.get("metrics") or {}).get(metric) if labelled else None,
        labelled=labelled,
    )


def decay_judged(deployment: Deployment, spec: dict):
    """The newest judged period's verdict and the period, or (None, None)."""
    for period in deployment.production_periods.order_by("-period_end", "-pk"):
        found = period_decay(period, spec)
        if found is not None:
            return found, period
    return None, None


def performance_alerts(deployment: Deployment) -> None:
    """Fire the spec's decay alerts when the newest judged period fell past ``max_drop``
    below the reference; resolve open ones when it is back within."""
    spec = _monitoring(deployment)
    watch = spec.get("performance")
    rules = [a for a in spec.get("alerts", []) if a["metric"] == "decay"]
    if not watch or not rules:
        return
    decay, period = decay_judged(deployment, watch)
    if decay is None:
        return
    side = f"{decay.drop:.3f} below" if decay.drop >= 0 else f"{-decay.drop:.3f} above"
    words = (
        f"{decay.basis.capitalize()} {decay.metric} {decay.value:.3f} for the period {period} "
        f"UTC, {side} the reference evaluation's {decay.reference:.3f} (decayed below "
        f"{decay.limit:.3f})."
    )
    for rule in rules:
        key = f"spec:{rule['name']}"
        if decay.decayed:
            alert_fire(
                deployment=deployment,
                source=Alert.Source.SPEC,
                rule=rule["name"],
                key=key,
                severity=rule["severity"],
                summary=words,
                details={"production_period": period.pk, "basis": decay.basis},
            )
            continue
        alerts_resolve_open(deployment, key, f"Back within: {words}")
