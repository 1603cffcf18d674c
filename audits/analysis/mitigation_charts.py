"""The trade-off of a mitigation drawn for people: accuracy against disparity for the model
as evaluated and for each ThresholdOptimizer option.

Pure: the SVG helpers of :mod:`projects.analysis.charts`, no Django, drawn from the stored
result alone (the dict :func:`audits.analysis.mitigation.mitigation_columns` makes), so the
audit page and an approval pack draw the same picture. One ``<svg>`` for the whole result:
per sensitive feature a row of two panels, accuracy (up) against the demographic-parity
difference and against the equalized-odds difference (right is worse). A ``<desc>`` says
the numbers in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from projects.analysis.charts import (
    ACCENT,
    FLAG,
    GRID_GREY,
    LIGHT_GREY,
    MID_GREY,
    MUTED,
    SMALL,
    TEXT,
    _el,
    _line,
    _nice_step,
    _open,
    _rect,
    _text,
    format_number,
    no_data_svg,
    text_width,
    truncate,
)
from projects.analysis.metric_names import METRIC_NAMES

TITLE = "Accuracy against disparity, before and after ThresholdOptimizer"
#: The two x axes: the stored key and its caption.
AXES = tuple(
    (key, METRIC_NAMES[key])
    for key in ("demographic_parity_difference", "equalized_odds_difference")
)
#: Marker shape and fill per option; shape as well as colour, so print in grey still reads.
MARKERS = {
    "original": ("circle", MID_GREY),
    "demographic_parity": ("square", ACCENT),
    "equalized_odds": ("diamond", FLAG),
}
LEGEND_H, ROW_TITLE_H, PANEL_H, GAP = 22, 20, 170, 8
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 6, 34


def _marker(name: str, x: float, y: float, tip: str) -> str:
    shape, fill = MARKERS.get(name, ("circle", MUTED))
    if shape == "square":
        body = _rect(x - 4.5, y - 4.5, 9, 9, fill, stroke=TEXT, stroke_width=0.75)
    elif shape == "diamond":
        points = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"
        body = _el("polygon", points=points, fill=fill, stroke=TEXT, stroke_width=0.75)
    else:
        body = _el("circle", cx=x, cy=y, r=5, fill=fill, stroke=TEXT, stroke_width=0.75)
    return f'<g class="point {escape(name)}"><title>{escape(tip)}</title>{body}</g>'


def _range(values: Sequence[float], *, from_zero: bool) -> tuple[float, float, float]:
    """A nice (low, high, step) around ``values``: from 0 for a disparity (its distance from
    parity is the point), around the values for accuracy (the options differ by little)."""
    lo_raw = 0.0 if from_zero else min(values)
    hi_raw = max(values)
    span = hi_raw - lo_raw
    if span <= 1e-12:
        span = max(abs(hi_raw) * 0.1, 0.02)
        if not from_zero:
            lo_raw -= span / 2
        hi_raw = lo_raw + span
    step = _nice_step(span)
    lo = math.floor(lo_raw / step + 1e-9) * step
    hi = math.ceil(hi_raw / step - 1e-9) * step
    if not from_zero:  # accuracy stays within 0..1
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    if hi <= lo:
        hi = lo + step
    return lo, hi, step


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    return [round(lo + i * step, 12) for i in range(round((hi - lo) / step) + 1)]


def _panel(
    options: Sequence[Mapping[str, Any]],
    key: str,
    caption: str,
    box: tuple[float, float, float, float],
    y_range: tuple[float, float, float],
) -> list[str]:
    x0, top, x1, bottom = box
    lo, hi, step = _range([o[key] for o in options], from_zero=True)
    ylo, yhi, ystep = y_range

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    def sy(v: float) -> float:
        return bottom - (v - ylo) / (yhi - ylo) * (bottom - top)

    parts = []
    for tick in _ticks(lo, hi, step):
        parts.append(_line(sx(tick), top, sx(tick), bottom, GRID_GREY, class_="grid"))
        parts.append(
            _text(
                sx(tick),
                bottom + 13,
                format_number(tick),
                size=SMALL,
                text_anchor="middle",
                fill=MUTED,
            )
        )
    for tick in _ticks(ylo, yhi, ystep):
        parts.append(_line(x0, sy(tick), x1, sy(tick), GRID_GREY, class_="grid"))
        parts.append(
            _text(
                x0 - 5, sy(tick) + 3, format_number(tick), size=SMALL, text_anchor="end", fill=MUTED
            )
        )
    parts.append(_line(x0, bottom + 0.5, x1, bottom + 0.5, MID_GREY, class_="axis"))
    parts.append(_line(x0 - 0.5, top, x0 - 0.5, bottom, MID_GREY, class_="axis"))
    parts.append(_text((x0 + x1) / 2, bottom + 28, caption, size=SMALL, text_anchor="middle"))
    origin = next((o for o in options if o["name"] == "original"), None)
    for option in options:
        if origin is not None and option is not origin:
            # Where the option moves the model to, from where it was.
            parts.append(
                _line(
                    sx(origin[key]),
                    sy(origin["accuracy"]),
                    sx(option[key]),
                    sy(option["accuracy"]),
                    LIGHT_GREY,
                    stroke_dasharray="4 3",
                    class_="move",
                )
            )
    for option in options:
        tip = (
            f"{option['label']}: accuracy {format_number(option['accuracy'])}, "
            f"{caption.lower()} {format_number(option[key])}"
        )
        parts.append(_marker(option["name"], sx(option[key]), sy(option["accuracy"]), tip))
    return parts


def tradeoff_description(result: Mapping[str, Any]) -> str:
    """The chart's numbers in words, one sentence per feature."""
    sentences = []
    for feature in result.get("features", []):
        said = [
            f"{o['label'].lower()}: accuracy {format_number(o['accuracy'])}, demographic-parity "
            f"difference {format_number(o['demographic_parity_difference'])}, equalized-odds "
            f"difference {format_number(o['equalized_odds_difference'])}"
            for o in feature["options"]
        ]
        sentences.append(f"By {feature['feature']}: " + "; ".join(said) + ".")
    return " ".join(sentences)


def tradeoff_svg(result: Mapping[str, Any], *, width: int = 640) -> str:
    """Accuracy against both disparities for every option of every feature of ``result``."""
    features = result.get("features") or []
    if not features:
        return no_data_svg(TITLE, width)
    row_h = ROW_TITLE_H + PANEL_H + GAP
    height = LEGEND_H + row_h * len(features)
    parts = _open(width, height, TITLE)
    parts.append(f"<desc>{escape(tradeoff_description(result))}</desc>")
    x = 4.0
    for option in features[0]["options"]:
        parts.append(_marker(option["name"], x + 6, 11, option["label"]))
        parts.append(_text(x + 16, 15, option["label"], size=SMALL, fill=MUTED))
        x += 16 + text_width(option["label"], SMALL) + 16
    parts.append(
        _text(
            width - 4,
            15,
            "Up: more accurate. Left: fairer.",
            size=SMALL,
            text_anchor="end",
            fill=MUTED,
        )
    )
    panel_w = width / len(AXES)
    for row, feature in enumerate(features):
        top = LEGEND_H + row * row_h
        title = truncate(f"By {feature['feature']}", width - 8, 12, bold=True)
        parts.append(_text(4, top + 14, title, bold=True, fill=TEXT))
        options = feature["options"]
        y_range = _range([o["accuracy"] for o in options], from_zero=False)
        for i, (key, caption) in enumerate(AXES):
            box = (
                i * panel_w + LEFT,
                top + ROW_TITLE_H + TOP,
                (i + 1) * panel_w - RIGHT,
                top + ROW_TITLE_H + PANEL_H - BOTTOM,
            )
            parts += _panel(options, key, caption, box, y_range)
        middle = top + ROW_TITLE_H + TOP + (PANEL_H - BOTTOM - TOP) / 2
        parts.append(
            _text(
                10,
                middle,
                "Accuracy",
                size=SMALL,
                text_anchor="middle",
                transform=f"rotate(-90 10 {middle:.1f})",
            )
        )
    parts.append("</svg>")
    return "".join(parts)
