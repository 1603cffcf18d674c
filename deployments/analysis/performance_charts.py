"""A live model's performance over its production periods, drawn for people: the estimate
from the scores with its confidence band, the realized value once labels arrived, the
reference evaluation's value and the decay limit below it.

Pure: the SVG helpers of :mod:`projects.analysis.charts` and the axes of
:mod:`deployments.analysis.charts`, no Django, so the dashboard and the monitoring report
draw the same picture. Every chart carries a ``<title>`` and a ``<desc>`` saying in words
what it shows (:func:`performance_description`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from projects.analysis.charts import (
    ACCENT,
    ACCENT_TINT,
    GRID_GREY,
    MID_GREY,
    MUTED,
    TEXT,
    _line,
    _n,
    _nice_step,
    _open,
    _rect,
    _text,
    format_number,
    text_width,
)

from .charts import FAIL_INK, _epoch, _span_text, time_axis


@dataclass(frozen=True)
class PeriodPerformance:
    """One production period's watched metric: estimated (with its band) and realized."""

    start: float
    end: float
    estimated: float | None = None
    lower: float | None = None
    upper: float | None = None
    realized: float | None = None
    labelled: int = 0

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _text_of(value: float | None) -> str:
    return format_number(value) if _known(value) else "none"


def performance_description(
    periods: Sequence[PeriodPerformance],
    *,
    metric: str,
    reference: float | None,
    limit: float | None,
    window_start: datetime | float,
    window_end: datetime | float,
) -> str:
    """What the chart shows, in sentences."""
    start, end = _epoch(window_start), _epoch(window_end)
    text = [f"{metric} of the production periods {_span_text(start, end)}:"]
    estimated = [p for p in periods if _known(p.estimated)]
    realized = [p for p in periods if _known(p.realized)]
    if not periods:
        text.append("no production period in this window.")
    else:
        text.append(f"{len(periods)} periods, {len(estimated)} estimated from their scores,")
        text.append(f"{len(realized)} with labels.")
    if estimated:
        newest = estimated[-1]
        text.append(
            f"The newest estimate is {_text_of(newest.estimated)} (band "
            f"{_text_of(newest.lower)} to {_text_of(newest.upper)})."
        )
    if realized:
        newest = realized[-1]
        text.append(
            f"The newest realized value is {_text_of(newest.realized)} over "
            f"{newest.labelled:,} labelled rows."
        )
    if _known(reference):
        text.append(f"The reference evaluation scored {_text_of(reference)}.")
    if _known(limit):
        text.append(f"Below {_text_of(limit)} the model has decayed.")
    return " ".join(text)


def _value_range(values: list[float]) -> tuple[float, float, float]:
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.15, 0.02)
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    step = _nice_step(hi - lo, 5)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, step


def performance_chart_svg(
    periods: Sequence[PeriodPerformance],
    *,
    metric: str,
    reference: float | None,
    limit: float | None,
    window_start: datetime | float,
    window_end: datetime | float,
    title: str,
    width: int = 560,
    height: int = 240,
) -> str:
    """Each period at its middle: the estimate as a dashed line over its shaded band, the
    realized value as a solid line, the reference and the decay limit as level lines."""
    start, end = _epoch(window_start), _epoch(window_end)
    if not end > start:
        raise ValueError("A window ends after it starts.")
    values = [
        v
        for p in periods
        for v in (p.estimated, p.lower, p.upper, p.realized)
        if _known(v)  # type: ignore[arg-type]
    ] + [v for v in (reference, limit) if _known(v)]
    lo, hi, step = _value_range(values or [0.0, 1.0])
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    tick_texts = [format_number(round(t, 12)) for t in ticks]
    x0, x1 = max(text_width(t, 10) for t in tick_texts) + 14, width - 10.0
    y0, y1 = 34.0, height - 26.0

    def sx(t: float) -> float:
        return x0 + (min(max(t, start), end) - start) / (end - start) * (x1 - x0)

    def sy(value: float) -> float:
        return y1 - (value - lo) / (hi - lo) * (y1 - y0)

    parts = _open(width, height, title)
    description = performance_description(
        periods,
        metric=metric,
        reference=reference,
        limit=limit,
        window_start=start,
        window_end=end,
    )
    parts.append(f"<desc>{escape(description)}</desc>")
    parts.append(_rect(x0, y0, x1 - x0, y1 - y0, "#ffffff", stroke=GRID_GREY))
    for tick, text in zip(ticks, tick_texts, strict=True):
        parts.append(_line(x0, sy(tick), x1, sy(tick), GRID_GREY, class_="grid"))
        parts.append(_text(x0 - 6, sy(tick) + 3.5, text, size=10, text_anchor="end", fill=MUTED))
    parts += time_axis(sx, start, end, x0=x0, x1=x1, y=y1, width=width)
    # The legend, on its own row above the plot.
    legend_x = x0
    for ink, dash, words in (
        (ACCENT, "5 3", "estimated (band: ±3 sampling errors)"),
        (TEXT, None, "realized from labels"),
    ):
        parts.append(
            _line(legend_x, 14, legend_x + 18, 14, ink, stroke_width=2, stroke_dasharray=dash)
        )
        parts.append(_text(legend_x + 22, 18, words, size=10, fill=MUTED))
        legend_x += 22 + text_width(words, 10) + 14
    parts.append(_text(x1, 30, "times in UTC", size=10, text_anchor="end", fill=MUTED))

    banded = [p for p in periods if _known(p.lower) and _known(p.upper)]
    if len(banded) > 1:
        outline = [f"{_n(sx(p.middle))},{_n(sy(p.upper))}" for p in banded]  # type: ignore[arg-type]
        outline += [f"{_n(sx(p.middle))},{_n(sy(p.lower))}" for p in reversed(banded)]  # type: ignore[arg-type]
        parts.append(
            f'<polygon class="band" points="{" ".join(outline)}" fill="{ACCENT_TINT}"'
            ' stroke="none"><title>The estimate ± 3 sampling errors</title></polygon>'
        )
    for kind, ink, dash, pick in (
        ("estimated", ACCENT, "5 3", lambda p: p.estimated),
        ("realized", TEXT, None, lambda p: p.realized),
    ):
        shown = [(p, pick(p)) for p in periods if _known(pick(p))]
        if len(shown) > 1:
            path = " ".join(f"{_n(sx(p.middle))},{_n(sy(v))}" for p, v in shown)
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline class="{kind}" points="{path}" fill="none" stroke="{ink}"'
                f' stroke-width="1.8"{dashes}/>'
            )
        for p, v in shown:
            tip = f"{_span_text(p.start, p.end)}: {kind} {metric} {format_number(v)}"
            if kind == "estimated" and _known(p.lower):
                tip += f" (band {_text_of(p.lower)} to {_text_of(p.upper)})"
            if kind == "realized":
                tip += f" over {p.labelled:,} labelled rows"
            parts.append(
                f'<circle class="{kind}" cx="{_n(sx(p.middle))}" cy="{_n(sy(v))}" r="3"'
                f' fill="{ink}"><title>{escape(tip)}</title></circle>'
            )
    levels = [
        (reference, MID_GREY, "2 3", f"reference {_text_of(reference)}", "reference"),
        (limit, FAIL_INK, "6 4", f"decay below {_text_of(limit)}", "limit"),
    ]
    for value, ink, dash, words, kind in levels:
        if not _known(value):
            continue
        y = sy(value)  # type: ignore[arg-type]
        parts.append(
            f'<g class="{kind}"><title>{escape(words)}</title>'
            + _line(x0, y, x1, y, ink, stroke_width=1.5, stroke_dasharray=dash)
            + "</g>"
        )
        # The reference's label sits above its line, the limit's below, so they never meet.
        baseline = y - 4 if kind == "reference" else y + 12
        box = text_width(words, 10) + 6
        parts.append(_rect(x1 - box - 2, baseline - 10, box, 13, "#ffffff", fill_opacity=0.9))
        parts.append(_text(x1 - 4, baseline, words, size=10, text_anchor="end", fill=ink))
    if not periods:
        parts.append(
            _text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                "No production period in this window",
                size=12,
                text_anchor="middle",
                fill=MUTED,
                class_="no-data",
            )
        )
    parts.append("</svg>")
    return "".join(parts)
