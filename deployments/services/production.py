"""Production periods: the data a deployment saw over a span of time, and the input and
output metrics derived from it as a job."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments.analysis.production import DEFAULT_THRESHOLD, PeriodMetrics, period_metrics
from deployments.models import Deployment, ProductionPeriod
from deployments.services.metrics import metrics_push
from deployments.services.performance import (
    performance_alerts,
    period_estimate,
    production_version_require,
    realized_of,
    reference_data,
)
from portal.exceptions import ApplicationError, Conflict
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import parquet_source
from projects.models import DatasetVersion
from projects.services.events import event_record, job_failed_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: Columns taken as the model's output when the request names none, in this order.
SCORE_COLUMNS = ("score", "y_score", "prediction", "y_pred")
#: Columns taken as the prediction id when the request names none, in this order.
ID_COLUMNS = ("prediction_id", "request_id", "row_id")


def _moment(value: datetime, what: str) -> datetime:
    # A time without its zone is ambiguous by hours: refused, never guessed.
    if timezone.is_naive(value):
        raise ApplicationError(
            f"The period's {what} {value.isoformat()} has no time zone; give it in UTC, as in "
            "2026-12-06T00:00:00Z.",
            code="naive_timestamp",
        )
    return value.astimezone(UTC)


def _chosen_column(version: DatasetVersion, asked: str, usual: tuple[str, ...], what: str) -> str:
    names = [c["name"] for c in version.schema]
    if asked:
        if asked not in names:
            raise ApplicationError(
                f"{version} has no column {asked!r}; name the column that holds {what}.",
                code="unknown_column",
            )
        return asked
    return next((n for n in usual if n in names), "")


def production_period_create(
    *,
    actor,
    deployment: Deployment,
    version: DatasetVersion,
    period_start: datetime,
    period_end: datetime,
    score_column: str = "",
    id_column: str = "",
    threshold: float | None = None,
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> ProductionPeriod:
    """Record that ``version`` holds what ``deployment`` saw from ``period_start`` to
    ``period_end``, and queue the derivation of its metrics."""
    project = deployment.project
    production_version_require(version, project, "the period's data")
    start = _moment(period_start, "start")
    end = _moment(period_end, "end")
    if end <= start:
        raise ApplicationError(
            f"The period ends ({end:%Y-%m-%d %H:%M} UTC) before it starts "
            f"({start:%Y-%m-%d %H:%M} UTC); give the start first.",
            code="invalid_period",
        )
    # Its metrics are timestamped at its end, and points from the future are refused.
    if end > (now or timezone.now()):
        raise ApplicationError(
            f"The period ends in the future ({end:%Y-%m-%d %H:%M} UTC); record it once it is over.",
            code="period_in_future",
        )
    if not version.rows:
        raise ApplicationError(
            f"{version} has no rows: a period without data says nothing about production.",
            code="empty_period",
        )
    chosen = _chosen_column(version, score_column, SCORE_COLUMNS, "the model's score")
    ids = _chosen_column(version, id_column, ID_COLUMNS, "the prediction ids")
    cut = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not math.isfinite(cut):
        raise ApplicationError("The threshold must be a finite number.", code="invalid")
    with transaction.atomic():
        # The deployment's row first: two requests for overlapping periods wait in turn.
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        periods = ProductionPeriod.objects.filter(deployment=deployment)
        if periods.filter(dataset_version=version).exists():
            raise Conflict(
                f"{version} is already a production period of this deployment.",
                code="version_used",
            )
        overlapping = periods.filter(period_start__lt=end, period_end__gt=start).first()
        if overlapping is not None:
            raise Conflict(
                f"The period overlaps production period {overlapping.pk} ({overlapping} UTC); "
                "periods of one deployment do not overlap.",
                code="overlapping_period",
            )
        period = ProductionPeriod.objects.create(
            deployment=deployment,
            dataset_version=version,
            period_start=start,
            period_end=end,
            score_column=chosen,
            id_column=ids,
            threshold=cut,
            created_by=actor,
        )
        event_record(
            actor=actor,
            verb="production_period.created",
            target=period,
            project=project,
            token=token,
            payload={
                "deployment": deployment.pk,
                "dataset_version": version.pk,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "score_column": chosen,
                "id_column": ids,
                "threshold": cut,
            },
        )
        job_enqueue(period)
        return period


def _derive(period: ProductionPeriod, frame: pd.DataFrame) -> PeriodMetrics:
    version = period.dataset_version
    dataset = version.dataset
    kinds = {c["name"]: c["kind"] for c in version.schema}
    # The label seldom comes with production data; personal data never becomes a label.
    skip = {dataset.label_column, period.id_column, *dataset.personal_data_columns} - {""}
    return period_metrics(
        frame,
        kinds,
        score_column=period.score_column or None,
        skip=skip,
        threshold=period.threshold,
    )


def _push(period: ProductionPeriod, derived: PeriodMetrics) -> int:
    """Store the points through the metrics push, one batch per key: a rerun finds its
    batches and stores nothing twice."""
    points = derived.as_points(period.period_end)
    size = settings.METRICS_MAX_BATCH
    for n, first in enumerate(range(0, len(points), size), start=1):
        key = period.idempotency_key if n == 1 else f"{period.idempotency_key}.{n}"
        metrics_push(
            actor=period.created_by,
            deployment=period.deployment,
            points=points[first : first + size],
            idempotency_key=key,
        )
    return len(points)


def _metrics_work(period: ProductionPeriod, progress: Progress):
    progress(10, "Reading the period's rows")
    with parquet_source(period.dataset_version.parquet) as path:
        frame = pq.read_table(path).to_pandas()
    derived = _derive(period, frame)
    progress(50, "Estimating performance from the scores")
    estimated = period_estimate(period, frame)
    del frame
    progress(80, f"Storing {len(derived.metrics)} metric points")

    def store() -> None:
        count = _push(period, derived)
        ProductionPeriod.objects.filter(pk=period.pk).update(points=count, estimate=estimated)
        # Labels that arrived before the period was recorded join it now.
        if period.id_column and period.deployment.label_batches.filter(status="succeeded"):
            with contextlib.suppress(ApplicationError):
                done = realized_of(period, reference_data(period.deployment))
                ProductionPeriod.objects.filter(pk=period.pk).update(realized=done)
        event_record(
            actor=period.created_by,
            verb="production_period.metrics_derived",
            target=period,
            project=period.deployment.project,
            payload={
                "rows": derived.rows,
                "points": count,
                "metrics": sorted({m.name for m in derived.metrics}),
                "batch": period.idempotency_key,
                "estimated": "error" not in estimated,
            },
        )
        performance_alerts(period.deployment)

    return store


def production_metrics_run(*, period_id: int) -> None:
    job_run(
        ProductionPeriod,
        period_id,
        _metrics_work,
        on_failure=job_failed_record("production_period.failed"),
    )
