"""Calendar months in UTC: the ranges metric points are partitioned and dropped by.

Pure: no Django. A month is named by its first moment, ``datetime(y, m, 1, tzinfo=UTC)``,
and covers ``[start, next month's start)``, as a PostgreSQL range partition does (its
upper bound is exclusive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

#: Table names of the monthly partitions: ``<table>_p2027_01``.
_MONTH_SUFFIX = re.compile(r"_p(\d{4})_(\d{2})$")


def month_start(moment: datetime) -> datetime:
    """The first moment (UTC) of the month ``moment`` falls in; naive means UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start: datetime, count: int) -> datetime:
    """The start of the month ``count`` months after (or before) ``start``'s month."""
    start = month_start(start)
    index = start.year * 12 + start.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_range(start: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``start``'s month."""
    first = month_start(start)
    return first, add_months(first, 1)


def months_ahead(now: datetime, ahead: int) -> list[datetime]:
    """This month and the ``ahead`` months after it: those whose partitions must exist."""
    return [add_months(now, n) for n in range(ahead + 1)]


def partition_name(table: str, start: datetime) -> str:
    first = month_start(start)
    return f"{table}_p{first.year:04d}_{first.month:02d}"


def partition_month(table: str, name: str) -> datetime | None:
    """The month a partition of ``table`` named by :func:`partition_name` holds; None for
    another table (the default partition, say)."""
    if not name.startswith(table):
        return None
    found = _MONTH_SUFFIX.fullmatch(name[len(table) :])
    if found is None:
        return None
    year, month = int(found.group(1)), int(found.group(2))
    if not 1 <= month <= 12:
        return None
    return datetime(year, month, 1, tzinfo=UTC)


def retention_cutoff(now: datetime, days: int) -> datetime | None:
    """Points before this moment are past retention; None when ``days`` is 0 (keep all)."""
    if days <= 0:
        return None
    return now - timedelta(days=days)


def expired_months(months: Iterable[datetime], cutoff: datetime | None) -> list[datetime]:
    """The months that end at or before ``cutoff``, oldest first: a month is dropped whole
    once its last point is past retention, never while part of it is still kept."""
    if cutoff is None:
        return []
    return sorted({month_start(m) for m in months if add_months(m, 1) <= cutoff})


def spans_cover(spans: Mapping[str, list[list[str]]], start: datetime, end: datetime) -> bool:
    """Whether any run of hours in ``spans`` (a RollupDue's {metric: [[first hour's start,
    last hour's start], ...]}, ISO 8601) overlaps ``[start, end)``. Each run's last hour
    lasts until an hour after its start."""
    for runs in spans.values():
        for first, last in runs:
            lo = datetime.fromisoformat(first)
            hi = datetime.fromisoformat(last) + timedelta(hours=1)
            if lo < end and hi > start:
                return True
    return False
