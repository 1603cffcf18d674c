"""Upkeep of the metric points table: monthly partitions made ahead, old months dropped.

On PostgreSQL the table is partitioned by calendar month (UTC) with a DEFAULT partition
(migration 0008). :func:`metric_points_upkeep`, run hourly by beat, keeps this month's and
the next :data:`MONTHS_AHEAD` months' partitions in place. A month's points pushed before
its partition existed wait in the default partition; PostgreSQL refuses to create a
partition whose range has rows there, so they are moved into the new one in the same
transaction that attaches it.

With ``METRIC_POINT_RETENTION_DAYS`` set, a month is dropped whole once it ended that many
days ago, and only when no :class:`RollupDue` row covers any of its hours: its minute and
hour rollups stay, computed from every point. The month's partition is counted and dropped
while attached, with the table locked (dropping a detached one would lock the tables its
foreign keys point at, deployments among them); its points still in the default
partition are deleted with it. Each deployment whose points went gets one event per month
on its project's trail, in the same transaction. On SQLite, where the table is plain,
retention deletes the same months' points with one statement per month.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from deployments.analysis.months import (
    expired_months,
    month_range,
    month_start,
    months_ahead,
    partition_month,
    partition_name,
    retention_cutoff,
    spans_cover,
)
from deployments.models import Deployment, MetricBatch, MetricPoint, RollupDue
from projects.services.events import event_record

log = logging.getLogger(__name__)

TABLE = MetricPoint._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
#: Partitions exist for this month and this many after it.
MONTHS_AHEAD = 3
#: How long the upkeep waits for a lock on the table before giving up until its next run,
#: so pushes and reads never queue for long behind it.
LOCK_TIMEOUT = "5s"
#: PostgreSQL's error code when lock_timeout passes.
LOCK_NOT_AVAILABLE = "55P03"
_COLUMNS = "id, name, timestamp, value, labels, batch_id, deployment_id"
#: The tables the points' foreign keys point at, in the order a push writes them.
_REFERENCED = ", ".join(f'"{model._meta.db_table}"' for model in (MetricBatch, Deployment))


@dataclass
class Upkeep:
    """What one run did: months as their first day (UTC)."""

    created: list[datetime] = field(default_factory=list)
    #: Points moved out of the default partition into a month created for them.
    moved: int = 0
    dropped: list[datetime] = field(default_factory=list)
    #: Points removed with the dropped months.
    removed: int = 0
    #: Months past retention kept because rollups of some of their hours are due.
    waiting: list[datetime] = field(default_factory=list)


def is_partitioned() -> bool:
    """Whether the points table is partitioned here (PostgreSQL, after migration 0008)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions() -> dict[datetime, str]:
    """The monthly partitions attached now: month -> table name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = {partition_month(TABLE, name): name for name in names}
    found.pop(None, None)
    return found


def partition_create(*, month: datetime) -> int:
    """Attach ``month``'s partition, moving its points out of the default partition in the
    same transaction; how many were moved (0 when it exists already)."""
    start, end = month_range(month)
    name = partition_name(TABLE, start)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # Locks in the order a push takes them, so neither waits for the other in a circle:
        # the points table (this mode only keeps other upkeeps out); the tables its foreign
        # keys point at, which attaching locks to give the partition its keys (pushes in
        # flight finish first; new ones wait before they touch the points); then the
        # default partition, so no point of this month lands there until it is attached.
        cursor.execute(f'LOCK TABLE "{TABLE}" IN SHARE UPDATE EXCLUSIVE MODE')
        cursor.execute(f"LOCK TABLE {_REFERENCED} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f'LOCK TABLE "{DEFAULT_PARTITION}" IN ACCESS EXCLUSIVE MODE')
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return 0  # another run made it while this one waited for the locks
        cursor.execute(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" '
            "WHERE timestamp >= %s AND timestamp < %s "
            f"RETURNING {_COLUMNS}) "
            f'INSERT INTO "{name}" ({_COLUMNS}) SELECT {_COLUMNS} FROM moved',
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(
            f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [start, end],
        )
    if moved:
        log.info("Moved %s points of %s out of the default partition", moved, f"{start:%Y-%m}")
    return moved


def metric_partitions_ensure(*, now: datetime | None = None) -> Upkeep:
    """Create this month's partition and the next ones' that are missing."""
    done = Upkeep()
    if not is_partitioned():
        return done
    existing = partitions()
    for month in months_ahead(now or timezone.now(), MONTHS_AHEAD):
        if month not in existing:
            done.moved += partition_create(month=month)
            done.created.append(month)
    return done


def _loose_months(before: datetime) -> set[datetime]:
    """Months before ``before`` with points outside any monthly partition: in the default
    partition on PostgreSQL, anywhere in the plain table elsewhere."""
    if is_partitioned():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT date_trunc('month', timestamp, 'UTC') "
                f'FROM "{DEFAULT_PARTITION}" WHERE timestamp < %s',
                [before],
            )
            return {month_start(row[0]) for row in cursor.fetchall()}
    moments = MetricPoint.objects.filter(timestamp__lt=before).values_list("timestamp", flat=True)
    months: set[datetime] = set()
    oldest = moments.order_by("timestamp").first()
    # One query per month from the oldest point on, not one row per point.
    while oldest is not None:
        start, end = month_range(oldest)
        months.add(start)
        oldest = moments.filter(timestamp__gte=end).order_by("timestamp").first()
    return months


def _covered(start: datetime, end: datetime) -> bool:
    """Whether rollups of any hour in ``[start, end)`` are still due."""
    due = RollupDue.objects.values_list("spans", flat=True)
    return any(spans_cover(spans, start, end) for spans in due)


def _month_drop(*, month: datetime, table: str | None, days: int) -> int | None:
    """Remove ``month``'s points: its partition (if any) and its points outside partitions,
    with one event per deployment. How many points went; None when rollups of the month
    turned out to be due once the table was locked."""
    start, end = month_range(month)
    with transaction.atomic():
        if is_partitioned():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                # The table alone, before anything else: pushes and reads of points wait
                # for the count and the drop (about 25 ms per 200,000 points). A partition
                # dropped while attached locks no table its foreign keys point at.
                cursor.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
        # A push commits its points with their due rollups: with the table locked, none
        # is in flight, so this answer holds until the drop.
        if _covered(start, end):
            return None
        counts: Counter[int] = Counter()
        if table is not None:
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT deployment_id, count(*) FROM "{table}" GROUP BY deployment_id'
                )
                counts.update(dict(cursor.fetchall()))
                cursor.execute(f'DROP TABLE "{table}"')
        # The month's range now maps to the default partition alone; on SQLite this is
        # every point of the month.
        loose = MetricPoint.objects.filter(timestamp__gte=start, timestamp__lt=end)
        counts.update(dict(loose.order_by().values_list("deployment_id").annotate(n=Count("id"))))
        loose.delete()
        deployments = Deployment.objects.select_related("project").in_bulk(list(counts))
        for deployment_id, points in sorted(counts.items()):
            deployment = deployments[deployment_id]
            event_record(
                actor=None,
                verb="deployment.points_dropped",
                target=deployment,
                project=deployment.project,
                payload={"month": f"{start:%Y-%m}", "points": points, "retention_days": days},
            )
    return sum(counts.values())


def metric_points_expire(*, now: datetime | None = None) -> Upkeep:
    """Drop the months past ``METRIC_POINT_RETENTION_DAYS`` whose rollups are done."""
    done = Upkeep()
    days = settings.METRIC_POINT_RETENTION_DAYS
    cutoff = retention_cutoff(now or timezone.now(), days)
    if cutoff is None:
        return done
    attached = partitions() if is_partitioned() else {}
    candidates = set(attached) | _loose_months(month_start(cutoff))
    for month in expired_months(candidates, cutoff):
        # Checked first without the lock, so a month that waits holds up no push.
        removed = None
        if not _covered(*month_range(month)):
            removed = _month_drop(month=month, table=attached.get(month), days=days)
        if removed is None:
            done.waiting.append(month)
        else:
            done.removed += removed
            done.dropped.append(month)
    if done.waiting:
        log.info(
            "Kept %s past retention: their rollups are due",
            ", ".join(f"{m:%Y-%m}" for m in done.waiting),
        )
    return done


def metric_points_upkeep(*, now: datetime | None = None) -> Upkeep | None:
    """The hourly upkeep: partitions ahead, then retention. None when the table stayed
    locked past :data:`LOCK_TIMEOUT`: the next run does what is left."""
    now = now or timezone.now()
    try:
        made = metric_partitions_ensure(now=now)
        gone = metric_points_expire(now=now)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.warning(
            "Metric points upkeep gave up waiting %s for a lock on the points table; "
            "the next run tries again",
            LOCK_TIMEOUT,
        )
        return None
    log.info(
        "Metric points upkeep: %s partitions created (%s points moved), %s months dropped "
        "(%s points)",
        len(made.created),
        made.moved,
        len(gone.dropped),
        gone.removed,
    )
    return Upkeep(
        created=made.created,
        moved=made.moved,
        dropped=gone.dropped,
        removed=gone.removed,
        waiting=gone.waiting,
    )
