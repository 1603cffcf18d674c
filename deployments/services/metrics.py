"""Pushed live metrics: a batch stored whole, once per idempotency key."""

from __future__ import annotations

import json
import re
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deployments.analysis.months import month_start, retention_cutoff
from deployments.analysis.points import Batch, PointsError, clean_points
from deployments.models import Deployment, MetricBatch, MetricPoint
from deployments.services.rollups import rollups_due
from portal.exceptions import ApplicationError, Conflict

if TYPE_CHECKING:
    from projects.models import ApiToken

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:\-]{1,100}")

_COPY = (
    "COPY deployments_metricpoint (deployment_id, batch_id, name, timestamp, value, labels) "
    "FROM STDIN"
)


class BatchTooLarge(ApplicationError):
    status = 413
    code = "too_many_points"


def _insert(batch: MetricBatch, rows: Batch) -> None:
    # Written in the window index's order (name, time): a window's index scan then reads
    # each metric's points from neighbouring table pages instead of one page per point.
    ordered = sorted(rows.rows, key=itemgetter(0, 1))
    if connection.vendor == "postgresql":
        # COPY: a batch of 10,000 points is one round trip, not 10,000 inserts. Points
        # mostly repeat a few label sets: each is turned into JSON once.
        texts: dict[tuple, str] = {}
        with connection.cursor() as cursor, cursor.cursor.copy(_COPY) as copy:
            for name, moment, value, labels in ordered:
                key = tuple(labels.items())
                text = texts.get(key)
                if text is None:
                    text = texts[key] = json.dumps(labels)
                copy.write_row((batch.deployment_id, batch.pk, name, moment, value, text))
        return
    MetricPoint.objects.bulk_create(
        (
            MetricPoint(
                deployment_id=batch.deployment_id,
                batch=batch,
                name=name,
                timestamp=moment,
                value=value,
                labels=labels,
            )
            for name, moment, value, labels in ordered
        ),
        batch_size=2000,
    )


def _refuse_past_retention(rows: Batch, now: datetime) -> None:
    """Points of a month retention drops are refused: stored, they would be dropped within
    the hour, and their hours' rollups, kept from every point, recomputed from them alone."""
    cutoff = retention_cutoff(now, settings.METRIC_POINT_RETENTION_DAYS)
    if cutoff is None:
        return
    kept_from = month_start(cutoff)
    for number, (_name, moment, *_rest) in enumerate(rows.rows, start=1):
        if moment < kept_from:
            raise ApplicationError(
                f"points[{number}]: {moment:%Y-%m-%d %H:%M:%S} UTC is before "
                f"{kept_from:%Y-%m-%d}, the oldest month kept (METRIC_POINT_RETENTION_DAYS is "
                f"{settings.METRIC_POINT_RETENTION_DAYS}); points that old are not stored.",
                code="invalid_points",
            )


def metrics_push(
    *,
    actor,
    deployment: Deployment,
    points: list,
    idempotency_key: str,
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> tuple[MetricBatch, bool]:
    """Store a batch of points for ``deployment``; (batch, True) when stored now, (the
    earlier batch, False) when this key was pushed before with the same points."""
    key = (idempotency_key or "").strip()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApplicationError(
            "Give each batch an idempotency key (1 to 100 letters, digits, or . _ : -), the "
            "same when you retry it.",
            code="idempotency_key",
        )
    limit = settings.METRICS_MAX_BATCH
    if isinstance(points, list) and len(points) > limit:
        raise BatchTooLarge(
            f"At most {limit:,} points per batch, not {len(points):,}; split the batch."
        )
    now = now or timezone.now()
    try:
        rows = clean_points(points, now=now, max_points=limit)
    except PointsError as exc:
        raise ApplicationError(str(exc), code="invalid_points") from None

    def replay() -> tuple[MetricBatch, bool]:
        earlier = MetricBatch.objects.get(deployment=deployment, idempotency_key=key)
        if earlier.body_sha256 != rows.sha256:
            raise Conflict(
                f"Batch {key!r} was pushed before with other points; use a new key for new points.",
                code="idempotency_conflict",
            )
        return earlier, False

    if MetricBatch.objects.filter(deployment=deployment, idempotency_key=key).exists():
        return replay()
    _refuse_past_retention(rows, now)
    try:
        with transaction.atomic():
            batch = MetricBatch.objects.create(
                deployment=deployment,
                idempotency_key=key,
                body_sha256=rows.sha256,
                points=len(rows.rows),
                pushed_by=actor,
                token_prefix=token.prefix if token is not None else "",
            )
            _insert(batch, rows)
            rollups_due(deployment.pk, rows.rows)
    except IntegrityError:  # the same key pushed twice at the same moment
        return replay()
    return batch, True
