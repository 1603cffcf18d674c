"""Numbers rounded for reading; no Django here so pure-core text (deltas, memos) and the
template filters round alike."""

from __future__ import annotations

import math

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
