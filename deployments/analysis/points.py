"""Pushed metric points: checked and normalised before they are stored. No Django.

A point is ``{"name", "value", "timestamp", "labels"}``: a catalog or custom metric name,
a finite number, a time with its zone (ISO 8601, or Unix seconds, which are UTC) no more
than five minutes ahead of the server's clock, and at most 20 labels of short text. A
batch is refused whole, naming the first bad point, so nothing half-stored needs undoing.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .catalog import is_metric_name

#: How far ahead of the server's clock a point may be (clocks drift; the future does not).
MAX_AHEAD = timedelta(minutes=5)
MAX_LABELS = 20
MAX_LABEL_KEY = 60
MAX_LABEL_VALUE = 200
FIELDS = ("name", "value", "timestamp", "labels")
FIELD_SET = frozenset(FIELDS)


class PointsError(ValueError):
    """A batch that cannot be stored as given; one sentence for a person."""


@dataclass(frozen=True)
class Batch:
    #: (name, timestamp in UTC, value, labels) per point, in the order sent.
    rows: tuple[tuple[str, datetime, float, dict[str, str]], ...]
    #: sha256 of the normalised points: a retry with the same key must send the same.
    sha256: str
    names: tuple[str, ...]


def _timestamp(raw: Any, where: str, now: datetime) -> datetime:
    # Text first, the usual case: it is neither a bool nor a number.
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise PointsError(
                f"{where}: {raw[:40]!r} is not an ISO 8601 time (2026-12-06T09:30:00Z)."
            ) from None
        if moment.tzinfo is not UTC:  # "Z" and "+00:00" parse to UTC itself
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise PointsError(
                    f"{where}: {raw[:40]!r} has no time zone; give UTC, as in 2026-12-06T09:30:00Z."
                )
            moment = moment.astimezone(UTC)
    elif isinstance(raw, bool):
        raise PointsError(f"{where}: the timestamp is a time, not {raw!r}.")
    elif isinstance(raw, numbers.Real):
        if not math.isfinite(raw):
            raise PointsError(f"{where}: the timestamp must be a finite number of seconds.")
        try:
            moment = datetime.fromtimestamp(float(raw), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PointsError(f"{where}: {raw!r} seconds is not a time.") from None
    else:
        raise PointsError(f"{where}: give the timestamp as ISO 8601 text or Unix seconds.")
    if moment > now + MAX_AHEAD:
        raise PointsError(
            f"{where}: {moment:%Y-%m-%d %H:%M:%S} UTC is more than five minutes in the future; "
            "check the sender's clock."
        )
    return moment


def _value(raw: Any, where: str) -> float:
    # float first: isinstance against the numbers ABC is slow (and bool is a number to it).
    if type(raw) is not float and (isinstance(raw, bool) or not isinstance(raw, numbers.Real)):
        raise PointsError(f"{where}: the value {str(raw)[:30]!r} is not a number.")
    try:
        value = float(raw)
    except OverflowError:  # an integer of hundreds of digits
        raise PointsError(f"{where}: the value is too large for a number.") from None
    if not math.isfinite(value):
        raise PointsError(f"{where}: the value must be a finite number, not {value}.")
    return value


def _labels(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise PointsError(f"{where}: labels are an object of names and text values.")
    if len(raw) > MAX_LABELS:
        raise PointsError(f"{where}: at most {MAX_LABELS} labels, not {len(raw)}.")
    labels = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > MAX_LABEL_KEY:
            raise PointsError(f"{where}: a label name is text of 1 to {MAX_LABEL_KEY} characters.")
        if type(value) is not str and (
            isinstance(value, bool) or not isinstance(value, str | numbers.Real)
        ):
            raise PointsError(f"{where}: label {key!r} must be text or a number.")
        text = str(value)
        if len(text) > MAX_LABEL_VALUE:
            raise PointsError(
                f"{where}: label {key!r} is longer than {MAX_LABEL_VALUE} characters."
            )
        labels[key] = text
    return labels


def clean_points(raw: Any, *, now: datetime, max_points: int) -> Batch:
    """Check a batch of points and normalise it (UTC times, float values, text labels)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise PointsError("points: give a list of points.")
    if not raw:
        raise PointsError("points: the batch is empty.")
    if len(raw) > max_points:
        raise PointsError(f"points: at most {max_points:,} points per batch, not {len(raw):,}.")
    rows = []
    for number, point in enumerate(raw, start=1):
        where = f"points[{number}]"
        if type(point) is not dict and not isinstance(point, Mapping):
            raise PointsError(f"{where}: a point is an object with name, value and timestamp.")
        if not point.keys() <= FIELD_SET:
            unknown = set(point) - FIELD_SET
            raise PointsError(f"{where}: unknown field {sorted(map(str, unknown))[0]!r}.")
        name = point.get("name")
        if not is_metric_name(name):
            raise PointsError(
                f"{where}: {str(name)[:60]!r} is not a metric name (lowercase snake_case, "
                "at most 60 characters, for example latency_ms)."
            )
        rows.append(
            (
                name,
                _timestamp(point.get("timestamp"), where, now),
                _value(point.get("value"), where),
                _labels(point.get("labels"), where),
            )
        )
    return Batch(
        rows=tuple(rows),
        sha256=points_sha256(rows),
        names=tuple(sorted({r[0] for r in rows})),
    )


def points_sha256(rows: Sequence[tuple[str, datetime, float, dict[str, str]]]) -> str:
    """sha256 of normalised points as canonical JSON (the same however times, numbers and
    labels were spelled in the request)."""
    body = json.dumps(
        [[n, t.isoformat(), v, labels] for n, t, v, labels in rows],
        separators=(",", ":"),
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()
