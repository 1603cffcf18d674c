"""A drift check's column drawn for people: the reference's and the current period's shares
side by side, per bin of a numeric column or per value of a categorical one.

Pure: the SVG helpers of :mod:`projects.analysis.charts`, no Django, so the page and a
report draw the same picture. Every chart carries a ``<title>`` and a ``<desc>`` that says
in words where the shares moved most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from projects.analysis.charts import (
    ACCENT,
    LIGHT_GREY,
    MID_GREY,
    MUTED,
    _line,
    _open,
    _rect,
    _text,
    format_share,
    text_width,
    truncate,
)

from .drift import Histogram

REFERENCE_FILL = LIGHT_GREY
CURRENT_FILL = ACCENT


def histogram_description(histogram: Histogram, *, column: str) -> str:
    """Where the shares moved most, in one sentence."""
    if not histogram.labels:
        return f"{column}: no values to draw."
    moves = [
        (abs(c - r), label, r, c)
        for label, r, c in zip(
            histogram.labels, histogram.reference, histogram.current, strict=True
        )
    ]
    _, label, r, c = max(moves)
    where = f"between {label}" if histogram.edges else f"{label!r}"
    return (
        f"{column}: reference and current shares over {len(moves)} "
        f"{'bins' if histogram.edges else 'values'}; the largest move is {where}, "
        f"{format_share(r)} in the reference and {format_share(c)} now."
    )


def drift_histogram_svg(
    histogram: Histogram, *, column: str, width: int = 360, height: int = 120
) -> str:
    """Paired bars: the reference's share in grey, the current period's in blue."""
    pad, legend_h, label_h, size = 4, 16, 14 if not histogram.edges else 12, 10
    top, base = pad + legend_h, height - label_h - pad
    plot_h = base - top
    n = max(len(histogram.labels), 1)
    slot = (width - 2 * pad) / n
    bar = max(slot / 2 - (1 if slot > 6 else 0), 0.5)
    peak = max([*histogram.reference, *histogram.current, 0.0]) or 1.0
    description = histogram_description(histogram, column=column)
    parts = _open(width, height, f"{column}: reference and current shares")
    parts.append(f"<desc>{escape(description)}</desc>")
    parts.append(_rect(pad, pad + 2, 9, 9, REFERENCE_FILL))
    parts.append(_text(pad + 13, pad + 10, "reference", size=size, fill=MUTED))
    parts.append(_rect(pad + 72, pad + 2, 9, 9, CURRENT_FILL))
    parts.append(_text(pad + 85, pad + 10, "current period", size=size, fill=MUTED))
    for index, (label, r, c) in enumerate(
        zip(histogram.labels, histogram.reference, histogram.current, strict=True)
    ):
        x = pad + index * slot
        for offset, share, fill, side in (
            (0, r, REFERENCE_FILL, "reference"),
            (bar, c, CURRENT_FILL, "current"),
        ):
            h = plot_h * share / peak
            tip = f"{label}: {format_share(share)} ({side})"
            parts.append(_rect(x + offset, base - h, bar, h, fill, class_="bar", tip=tip))
        if not histogram.edges and slot >= 24:
            short = truncate(label, slot - 2, size)
            parts.append(
                _text(
                    x + slot / 2,
                    height - pad - 2,
                    short,
                    size=size,
                    text_anchor="middle",
                    fill=MUTED,
                )
            )
    parts.append(_line(pad, base + 0.5, width - pad, base + 0.5, MID_GREY, class_="axis"))
    if histogram.edges:
        low, high = histogram.edges[0], histogram.edges[-1]
        parts.append(_text(pad, height - pad - 1, f"{low:g}", size=size, fill=MUTED))
        parts.append(
            _text(
                width - pad, height - pad - 1, f"{high:g}", size=size, text_anchor="end", fill=MUTED
            )
        )
    parts.append("</svg>")
    return "".join(parts)


#: A column's verdict in a drift check, by how far its PSI moved (Evidently's usual reading
#: of PSI: under 0.1 little, 0.1 to 0.25 some, above 0.25 a major shift).
HEAT_STABLE = ("#e6f4ea", "#c7e9d0")
HEAT_DRIFTED = ("#f9c8cc", "#ef8a92", "#cf222e")
HEAT_ABSENT = "#ffffff"


def _heat(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return HEAT_ABSENT
    psi = cell.get("psi") or 0.0
    if not cell.get("drifted"):
        return HEAT_STABLE[psi >= 0.1]
    return HEAT_DRIFTED[(psi >= 0.1) + (psi >= 0.25)]


def _cell_text(column: str, label: str, cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return f"{column}, {label}: not compared"
    verdict = "drifted" if cell.get("drifted") else "no drift"
    statistic = cell.get("statistic")
    measured = "n/a" if statistic is None else f"{statistic:.4g}"
    psi = cell.get("psi")
    return (
        f"{column}, {label}: {verdict} ({cell.get('method')} {measured} against "
        f"{cell.get('threshold'):g}; PSI {'n/a' if psi is None else f'{psi:.3f}'})"
    )


def heatmap_description(columns: Sequence[str], checks: Sequence[tuple[str, Mapping]]) -> str:
    """Which columns drifted in which checks, in sentences."""
    if not checks:
        return "No drift checks in this period."
    parts = [f"{len(columns)} columns over {len(checks)} drift checks."]
    for label, cells in checks:
        drifted = [c for c in columns if (cells.get(c) or {}).get("drifted")]
        parts.append(
            f"{label}: {', '.join(drifted)} drifted." if drifted else f"{label}: no column drifted."
        )
    return " ".join(parts)


def drift_heatmap_svg(
    columns: Sequence[str],
    checks: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]],
    *,
    title: str = "Drift by column and check",
    width: int = 560,
) -> str:
    """Columns (rows) by drift checks in time order (columns of cells): green where the
    column held, red where it drifted, darker as its PSI grows; each cell's tooltip gives
    the test, its statistic and threshold."""
    label_w = min(170.0, max((text_width(c, 11) for c in columns), default=40) + 12)
    cell_h, top = 18.0, 34.0
    n = max(len(checks), 1)
    cell_w = max(min((width - label_w - 10) / n, 60.0), 4.0)
    height = top + cell_h * len(columns) + 28
    parts = _open(width, height, title)
    parts.append(f"<desc>{escape(heatmap_description(columns, checks))}</desc>")
    every = max(1, math.ceil(n / max(1, int((width - label_w) // 46))))
    for j, (label, _cells) in enumerate(checks):
        if j % every == 0:
            x = label_w + j * cell_w + cell_w / 2
            parts.append(_text(x, top - 8, label, size=10, text_anchor="middle", fill=MUTED))
    for i, column in enumerate(columns):
        y = top + i * cell_h
        parts.append(
            _text(
                label_w - 8, y + 13, truncate(column, label_w - 12, 11), size=11, text_anchor="end"
            )
        )
        for j, (label, cells) in enumerate(checks):
            cell = cells.get(column)
            parts.append(
                _rect(
                    label_w + j * cell_w + 1,
                    y + 1,
                    cell_w - 2,
                    cell_h - 2,
                    _heat(cell),
                    tip=_cell_text(column, label, cell),
                    class_="drifted" if cell and cell.get("drifted") else "held",
                    stroke=LIGHT_GREY,
                )
            )
    legend_y = top + cell_h * len(columns) + 18
    x = label_w
    for fill, words in (
        (HEAT_STABLE[0], "held"),
        (HEAT_DRIFTED[0], "drifted"),
        (HEAT_DRIFTED[2], "drifted, PSI > 0.25"),
    ):
        parts.append(_rect(x, legend_y - 10, 12, 12, fill, stroke=LIGHT_GREY))
        parts.append(_text(x + 16, legend_y, words, size=10, fill=MUTED))
        x += 24 + text_width(words, 10)
    if not checks:
        parts.append(_text(label_w, top + 12, "No drift checks yet", size=12, fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)
