"""Numbers as people read them: three significant digits on the page, the full stored value
in the cell's ``title`` tooltip. Downloads (CSV, JSON, the API) keep full precision."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from projects.analysis.numbers import NONE, significant

register = template.Library()


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
