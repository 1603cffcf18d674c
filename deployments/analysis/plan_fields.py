"""Reading one field of a deployment plan document, with a message that names its path.

Plain Python, no Django: the building blocks of :func:`.plan.clean_plan`. A reader takes
the raw value, its path (``pattern.steps[2].traffic``, list positions counted from 1) and
what the field is in words ("the share of traffic"); it returns the normalised value or
raises :class:`PlanError` with "path: what is wrong and what to do." Numbers may come as
text from forms ("150"); NaN, infinities and booleans are not numbers; text is stripped.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from .catalog import is_metric_name, number_text

MAX_TEXT = 2000  # free text: notes, reasons, PromQL, the Prometheus URL
MAX_SHORT = 200  # names: a replaced system, an alert, a column, a GPU
MAX_ITEMS = 50
MAX_WINDOW = 1440  # a day, in minutes
MAX_COUNT = 10**12  # rows per run, cases, points
DEFAULT_WINDOW = 30


class PlanError(ValueError):
    """A plan that cannot be agreed as given; one sentence for a person, naming the field."""


def fail(path: str, message: str) -> NoReturn:
    raise PlanError(f"{path}: {message}")


def shown(raw: Any) -> str:
    return repr(str(raw)[:30])


def absent(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def read_mapping(raw: Any, path: str, fields: Sequence[str], what: str) -> Mapping[str, Any]:
    """``raw`` as a mapping that holds no field but ``fields``."""
    if not isinstance(raw, Mapping):
        fail(path, f"give {what} as a mapping of its fields ({', '.join(fields)}).")
    unknown = sorted(str(key)[:30] for key in raw if key not in fields)
    if unknown:
        listed = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
        plural = "s" if len(unknown) > 1 else ""
        fail(path, f"unknown field{plural} {listed}; the fields of {what} are {', '.join(fields)}.")
    return raw


def read_list(raw: Any, path: str, what: str, limit: int = MAX_ITEMS) -> Sequence[Any]:
    if raw is None:
        return []
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        fail(path, f"give the {what} as a list.")
    if len(raw) > limit:
        fail(path, f"give at most {limit} {what}; this plan has {len(raw)}.")
    return raw


def read_number(raw: Any, path: str, what: str) -> float:
    if absent(raw):
        fail(path, f"give {what}.")
    value = None
    if isinstance(raw, numbers.Real | str) and not isinstance(raw, bool):
        with contextlib.suppress(ValueError, OverflowError):
            value = float(raw)
    if value is None:
        fail(path, f"{what} must be a number, not {shown(raw)}.")
    if not math.isfinite(value):
        fail(path, f"{what} must be a finite number, not {value}.")
    return value


def read_positive(raw: Any, path: str, what: str, unit: str = "") -> float:
    value = read_number(raw, path, what)
    if value <= 0:
        fail(path, f"{what} must be above 0, not {number_text(value)}{unit}.")
    return value


def read_whole(
    raw: Any, path: str, what: str, low: int, high: int, unit: str = "", default: int | None = None
) -> int:
    if default is not None and absent(raw):
        return default
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        value = int(raw)
    else:
        number = read_number(raw, path, what)
        if not number.is_integer():
            fail(path, f"{what} must be a whole number, not {number_text(number)}.")
        value = int(number)
    if not low <= value <= high:
        bounds = f"from {number_text(low)} to {number_text(high)}{unit}"
        fail(path, f"{what} must be {bounds}, not {number_text(value)}.")
    return value


def read_text(raw: Any, path: str, what: str, required: bool = False, limit: int = MAX_TEXT) -> str:
    if absent(raw):
        if required:
            fail(path, f"give {what}.")
        return ""
    if not isinstance(raw, str):
        fail(path, f"{what} must be text, not {shown(raw)}.")
    value = raw.strip()
    if len(value) > limit:
        fail(path, f"keep {what} to at most {limit:,} characters; it has {len(value):,}.")
    if "\x00" in value:
        fail(path, f"{what} holds a NUL character; remove it.")
    return value


def read_choice(
    raw: Any, path: str, allowed: Sequence[str], what: str, default: str | None = None
) -> str:
    if absent(raw):
        if default is not None:
            return default
        fail(path, f"choose {what} from {', '.join(allowed)}.")
    value = raw.strip() if isinstance(raw, str) else raw
    if value not in allowed:
        fail(path, f"{shown(raw)} is not {what}; choose one of {', '.join(allowed)}.")
    return value


def read_window(raw: Any, path: str, default: int = DEFAULT_WINDOW) -> int:
    return read_whole(raw, path, "the window", 1, MAX_WINDOW, " minutes", default)


def share_hint(value: float) -> str:
    return (
        f"; for {number_text(value)}% give {number_text(value / 100)}" if 1 < value <= 100 else ""
    )


def read_metric_name(raw: Any, path: str) -> str:
    if absent(raw):
        fail(path, "name the metric: one from the catalog or a custom name such as queue_depth.")
    name = raw.strip() if isinstance(raw, str) else raw
    if not is_metric_name(name):
        fail(
            path,
            f"{shown(raw)} is not in the metric catalog; a custom metric is named in lowercase "
            "letters, digits and underscores, starting with a letter, at most 60 characters "
            "(e.g. queue_depth).",
        )
    return name
