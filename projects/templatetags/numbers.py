"""Numbers as people read them: three significant digits on the page, the full stored value
in the cell's ``title`` tooltip. Downloads (CSV, JSON, the API) keep full precision."""

from __future__ import annotations

import math

from django import template
from django.utils.html import format_html

register = template.Library()

#: What a table shows for a number that is not there.
NONE = "—"


def significant(value: float | int | None, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant digits, in plain notation:
    0.054362 -> "0.0544", 0.75 -> "0.750", 12345.6 -> "12300", 7 -> "7"."""
    if value is None or isinstance(value, bool):
        return NONE
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4:  # 0.0000123: scientific notation is shorter and clearer
        return f"{value:.{digits - 1}e}"
    decimals = digits - 1 - magnitude
    if decimals > 0:
        return f"{value:.{decimals}f}"
    return f"{round(value, decimals):.0f}"


def full(value: float | int) -> str:
    """The stored value in full: the shortest text that reads back as the same float."""
    return str(value) if isinstance(value, int) else repr(float(value))


@register.filter
def sig(value: float | int | None, digits: int = 3):
    """A number for a table cell: three significant digits, the full value as a tooltip.
    ``{{ gap|sig }}`` -> ``<span class="n" title="0.05436239654971442">0.0544</span>``."""
    if value is None or value == "" or isinstance(value, bool):
        return NONE
    try:
        number = value if isinstance(value, int) else float(value)
    except (TypeError, ValueError):
        return value
    return format_html(
        '<span class="n" title="{}">{}</span>', full(number), significant(number, int(digits))
    )
