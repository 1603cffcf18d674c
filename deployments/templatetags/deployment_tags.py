"""Filters of the deployment pages: comparators and figures as people read them."""

from __future__ import annotations

from django import template

from deployments.analysis.catalog import PATTERN_LABELS, SYMBOLS
from deployments.analysis.catalog import number_text as catalog_number
from deployments.analysis.window import number_text
from projects.analysis.metric_names import words

register = template.Library()


@register.filter
def symbol(comparator: str) -> str:
    """ "<=" -> "≤" """
    return SYMBOLS.get(comparator, comparator)


@register.filter
def figure(value, unit: str = "") -> str:
    """A measured value to four significant digits, with its unit: "302.1 ms", "0.01"."""
    if value is None or value == "":
        return "—"
    try:
        text = number_text(float(value), 4)
    except (TypeError, ValueError):
        return str(value)
    if unit in ("", "share", "score"):
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


@register.filter
def amount(value, unit: str = "") -> str:
    """A threshold exactly as set, with its unit: "200 ms", "0.01", "1,500 requests/s"."""
    if value is None or value == "":
        return "—"
    try:
        text = catalog_number(float(value))
    except (TypeError, ValueError):
        return str(value)
    if unit in ("", "share", "score"):
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


@register.filter
def pattern_label(kind: str) -> str:
    """ "blue_green" -> "Blue-green" """
    return PATTERN_LABELS.get(kind, words(kind))
