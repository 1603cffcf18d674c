"""Limits on what people send, and the text no database here can store.

One place for the numbers, so the API and the web forms refuse the same things with the
same words: a 400 that names the field, never a 500 from the database or the audit trail.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.http import QueryDict

from portal.exceptions import ApplicationError

#: Descriptions, rationales, comments, notes, evidence: free text a person writes.
LONG_TEXT_MAX = 10_000
#: Metadata, parameters and other free-form JSON, serialized as UTF-8.
JSON_MAX_BYTES = 64 * 1024
#: Deeper documents are refused before anything walks them recursively (hashing,
#: rendering, the database's encoder).
JSON_MAX_DEPTH = 32

# Python keeps a lone surrogate from a JSON escape such as "\ud800" as a character that
# UTF-8 cannot encode; a valid pair is already one character when json decodes it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        # PostgreSQL's text and jsonb cannot hold it; SQLite would, so refuse it everywhere.
        return "contains a NUL character (\\u0000), which cannot be stored"
    if _SURROGATE.search(text):
        return "is not valid Unicode (it holds a lone surrogate such as \\ud800)"
    return None


def json_problem(value: object, *, max_depth: int = JSON_MAX_DEPTH) -> str | None:
    """Why a decoded JSON document cannot be stored, or None: too deep, text that is
    not storable (keys too), a number JSON has no spelling for (NaN, Infinity). The
    answer says where (``metadata.region``, ``criteria[0].rationale``)."""
    # Most documents are fine, and naming every path costs more than the check itself (a
    # batch of 10,000 metric points): a first pass names none, and only a document with a
    # problem is walked again to say where.
    if _json_walk(value, max_depth, paths=False) is None:
        return None
    return _json_walk(value, max_depth, paths=True)


def _json_walk(value: object, max_depth: int, *, paths: bool) -> str | None:
    # A stack, not recursion: the document may be as deep as the parser allowed.
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"holds text that {problem}{_at(path)}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"holds a number JSON cannot store (NaN or Infinity){_at(path)}"
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                return f"nests deeper than {max_depth} levels{_at(path)}"
            if isinstance(item, Mapping):
                for key, child in item.items():
                    key_path = (f"{path}.{key}" if path else str(key)) if paths else ""
                    # The key goes on top: checked before its value's answer can quote it.
                    stack.append((child, depth + 1, key_path))
                    stack.append((key, depth, path))
            elif paths:
                stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))
            else:
                stack.extend((child, depth + 1, "") for child in item)
    return None


def _at(path: str) -> str:
    return f" (at {path})" if path else ""


def validate_json_value(value: object) -> None:
    """A validator for JSON fields (DRF serializers and Django forms alike): storable,
    at most ``JSON_MAX_BYTES`` serialized, no text in it longer than ``LONG_TEXT_MAX``."""
    problem = json_problem(value)
    if problem:
        raise ValidationError(f"This {problem}.", code="invalid")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > JSON_MAX_BYTES:
        raise ValidationError(
            f"Keep this to at most {JSON_MAX_BYTES // 1024} KB of JSON; "
            f"it has {size / 1024:,.0f} KB.",
            code="max_length",
        )
    if _longest_text(value) > LONG_TEXT_MAX:
        raise ValidationError(
            f"Keep each text in this to at most {LONG_TEXT_MAX:,} characters.", code="max_length"
        )


def _longest_text(value: object) -> int:
    longest, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            longest = max(longest, len(item))
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return longest


def check_posted_text(data: QueryDict, *, max_lengths: Mapping[str, int] | None = None) -> None:
    """For a page whose POST no form checks: ApplicationError (400) naming the first field
    whose text cannot be stored or is longer than its entry in ``max_lengths`` (by
    default ``LONG_TEXT_MAX``)."""
    max_lengths = max_lengths or {}
    for name, values in data.lists():
        for value in values:
            limit = max_lengths.get(name, LONG_TEXT_MAX)
            if len(value) > limit:
                raise ApplicationError(
                    f"{name}: keep it to at most {limit:,} characters.", code="too_long"
                )
            problem = text_problem(value)
            if problem:
                raise ApplicationError(f"{name}: the text {problem}.", code="invalid_text")
