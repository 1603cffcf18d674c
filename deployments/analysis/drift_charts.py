"""A drift check's column drawn for people: the reference's and the current period's shares
side by side, per bin of a numeric column or per value of a categorical one.

Pure: the SVG helpers of :mod:`projects.analysis.charts`, no Django, so the page and a
report draw the same picture. Every chart carries a ``<title>`` and a ``<desc>`` that says
in words where the shares moved most.
"""

from __future__ import annotations

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
