"""An evaluation's charts as server-side SVG, drawn from its stored curve data.

Pure: no Django import. The same functions serve the evaluation page and the approval
pack. Each chart scales to its container (a viewBox and 100 % width) and is drawn at
:data:`WIDTH` units wide, so its text (at least 12 units) is at least 12 px wherever the
chart is shown that wide or wider. Each has a title, an ``aria-label`` and a short
summary in words, returned beside the SVG for the page to show. Axes of rates run over
[0, 1]. The input is the dict :func:`projects.analysis.curves.evaluation_curves` made.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .charts import (
    ACCENT,
    ACCENT_TINT,
    FLAG,
    FLAG_TEXT,
    GRID_GREY,
    MID_GREY,
    MUTED,
    PANEL,
    TEXT,
    _el,
    _line,
    _n,
    _nice_step,
    _rect,
    _text,
    format_number,
    format_share,
    text_width,
    truncate,
)

WIDTH = 360
HEIGHT = 330
#: The plot area inside a chart: room for tick labels left and below, and axis titles.
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 50
SIZE = 12
NEGATIVE_FILL = "#8c959f"
UNIT_TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _diagonal(axes: _Axes) -> str:
    """The dashed line from (0, 0) to (1, 1): chance on a ROC curve, perfect calibration on a
    reliability curve."""
    return _line(
        axes.x(0),
        axes.y(0),
        axes.x(1),
        axes.y(1),
        MID_GREY,
        stroke_dasharray="5 3",
        class_="chance",
    )


def _frame(title: str, summary: str, height: float = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(height)}"'
        f' width="100%" role="img" aria-label={quoteattr(title)} class="evaluation-chart">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}</desc>",
    ]


class _Axes:
    """A plot area mapping data ranges to the chart's units."""

    def __init__(
        self, x_range: tuple[float, float], y_range: tuple[float, float], height: float = HEIGHT
    ):
        self.x_lo, self.x_hi = x_range
        self.y_lo, self.y_hi = y_range
        self.left, self.right = LEFT, WIDTH - RIGHT
        self.top, self.bottom = TOP, height - BOTTOM

    def x(self, value: float) -> float:
        span = self.x_hi - self.x_lo or 1.0
        return self.left + (value - self.x_lo) / span * (self.right - self.left)

    def y(self, value: float) -> float:
        span = self.y_hi - self.y_lo or 1.0
        return self.bottom - (value - self.y_lo) / span * (self.bottom - self.top)

    def draw(
        self, x_ticks: Sequence[float], y_ticks: Sequence[float], x_title: str, y_title: str
    ) -> list[str]:
        parts = [
            _rect(self.left, self.top, self.right - self.left, self.bottom - self.top, "#ffffff")
        ]
        for tick in x_ticks:
            x = self.x(tick)
            parts.append(_line(x, self.top, x, self.bottom, GRID_GREY))
            parts.append(
                _text(x, self.bottom + 16, _tick(tick), size=SIZE, text_anchor="middle", fill=MUTED)
            )
        for tick in y_ticks:
            y = self.y(tick)
            parts.append(_line(self.left, y, self.right, y, GRID_GREY))
            parts.append(
                _text(self.left - 5, y + 4, _tick(tick), size=SIZE, text_anchor="end", fill=MUTED)
            )
        parts.append(_line(self.left, self.bottom, self.right, self.bottom, MID_GREY))
        parts.append(_line(self.left, self.top, self.left, self.bottom, MID_GREY))
        middle_x = (self.left + self.right) / 2
        parts.append(_text(middle_x, self.bottom + 38, x_title, size=SIZE, text_anchor="middle"))
        middle_y = (self.top + self.bottom) / 2
        parts.append(
            _text(
                14,
                middle_y,
                y_title,
                size=SIZE,
                text_anchor="middle",
                transform=f"rotate(-90 14 {_n(middle_y)})",
            )
        )
        return parts


def _tick(value: float) -> str:
    return format_number(round(value, 10))


def _nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """A range widened to whole steps, and its ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0, [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    step = _nice_step(hi - lo, target)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    count = round((hi - lo) / step)
    return lo, hi, [lo + i * step for i in range(count + 1)]


def _path(points: Sequence[tuple[float, float]], stroke: str, **attrs: object) -> str:
    d = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points)
    return _el("path", d=d, fill="none", stroke=stroke, **attrs)


def _legend(
    items: Sequence[tuple[str, str, bool | None]], x: float, y: float, *, left: bool = False
) -> list[str]:
    """Legend rows (label, colour, dashed; None for a dot) right-aligned at ``x`` (or from
    ``x`` when ``left``), from ``y`` down, on a white box so grid lines do not run through
    the words."""
    widest = max(text_width(label, SIZE) for label, _, _ in items)
    box_w, row_h = widest + 34, 17
    if left:
        x += box_w
    parts = [_rect(x - box_w, y - 13, box_w, row_h * len(items) + 6, "#ffffff", stroke=GRID_GREY)]
    for row, (label, colour, dashed) in enumerate(items):
        ly = y + row * row_h
        dash = "5 3" if dashed else None
        if dashed is None:
            # A marker, not a line: the uploaded labels' point.
            parts.append(_el("circle", cx=x - box_w + 15, cy=ly - 4, r=5, fill=colour, stroke=TEXT))
            parts.append(_text(x - box_w + 28, ly, label, size=SIZE))
            continue
        parts.append(
            _line(
                x - box_w + 6,
                ly - 4,
                x - box_w + 24,
                ly - 4,
                colour,
                stroke_width=2,
                stroke_dasharray=dash,
            )
        )
        parts.append(_text(x - box_w + 28, ly, label, size=SIZE))
    return parts


def _dot(x: float, y: float, fill: str, tip: str, r: float = 5) -> str:
    return _el(
        "circle",
        f"<title>{escape(tip)}</title>",
        cx=x,
        cy=y,
        r=r,
        fill=fill,
        stroke=TEXT,
        stroke_width=1,
        class_="operating-point",
    )


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"


# --- classification ----------------------------------------------------------------------


def roc_svg(roc: dict[str, Any], operating: dict[str, Any] | None = None) -> tuple[str, str]:
    """The ROC curve with the chance diagonal, its AUC, and the uploaded labels' point."""
    auc = roc["auc"]
    summary = (
        f"ROC curve: area under the curve {auc:.3f} (0.5 is chance, 1 perfect), drawn "
        f"through {len(roc['fpr'])} of its {roc['points']} points."
    )
    at = operating if operating and None not in (operating["fpr"], operating["tpr"]) else None
    if at:
        summary += (
            f" The uploaded labels sit at a false positive rate of {at['fpr']:.3f} and a "
            f"true positive rate of {at['tpr']:.3f}."
        )
    title = "ROC curve"
    axes = _Axes((0.0, 1.0), (0.0, 1.0))
    parts = _frame(title, summary)
    parts += axes.draw(UNIT_TICKS, UNIT_TICKS, "False positive rate", "True positive rate")
    parts.append(_diagonal(axes))
    points = [(axes.x(x), axes.y(y)) for x, y in zip(roc["fpr"], roc["tpr"], strict=True)]
    parts.append(_path(points, ACCENT, stroke_width=2, class_="curve"))
    if at:
        tip = f"Uploaded labels: FPR {at['fpr']:.3f}, TPR {at['tpr']:.3f}"
        parts.append(_dot(axes.x(at["fpr"]), axes.y(at["tpr"]), FLAG, tip))
    items = [(f"Model (AUC {auc:.3f})", ACCENT, False), ("Chance", MID_GREY, True)]
    if at:
        items.append(("Uploaded labels", FLAG, None))
    parts += _legend(items, axes.right - 6, axes.bottom - 21 - 17 * (len(items) - 1))
    parts.append("</svg>")
    return "".join(parts), summary


def pr_svg(pr: dict[str, Any], operating: dict[str, Any] | None = None) -> tuple[str, str]:
    """Precision against recall as the step function average precision sums, with the
    no-skill line at the share of positives."""
    ap, prevalence = pr["average_precision"], pr["prevalence"]
    summary = (
        f"Precision-recall curve: average precision {ap:.3f}; a model without skill scores "
        f"the share of positives, {prevalence:.3f}."
    )
    at = operating if operating and None not in (operating["tpr"], operating["precision"]) else None
    if at:
        summary += (
            f" The uploaded labels give recall {at['tpr']:.3f} at precision {at['precision']:.3f}."
        )
    axes = _Axes((0.0, 1.0), (0.0, 1.0))
    parts = _frame("Precision-recall curve", summary)
    parts += axes.draw(UNIT_TICKS, UNIT_TICKS, "Recall", "Precision")
    parts.append(
        _line(
            axes.x(0),
            axes.y(prevalence),
            axes.x(1),
            axes.y(prevalence),
            MID_GREY,
            stroke_dasharray="5 3",
            class_="chance",
        )
    )
    ordered = sorted(zip(pr["recall"], pr["precision"], strict=True), key=lambda p: p[0])
    steps = [(axes.x(ordered[0][0]), axes.y(ordered[0][1]))]
    for (r0, _), (r1, p1) in itertools.pairwise(ordered):
        steps.append((axes.x(r0), axes.y(p1)))
        steps.append((axes.x(r1), axes.y(p1)))
    parts.append(_path(steps, ACCENT, stroke_width=2, class_="curve"))
    if at:
        tip = f"Uploaded labels: recall {at['tpr']:.3f}, precision {at['precision']:.3f}"
        parts.append(_dot(axes.x(at["tpr"]), axes.y(at["precision"]), FLAG, tip))
    items = [(f"Model (AP {ap:.3f})", ACCENT, False), ("No skill", MID_GREY, True)]
    if at:
        items.append(("Uploaded labels", FLAG, None))
    # Bottom left: a precision-recall curve seldom passes there, and ends bottom right.
    parts += _legend(items, axes.left + 6, axes.bottom - 21 - 17 * (len(items) - 1), left=True)
    parts.append("</svg>")
    return "".join(parts), summary


def calibration_svg(calibration: dict[str, Any]) -> tuple[str, str]:
    """Share of positives against mean score per bin, beside the diagonal of a perfectly
    calibrated model; each point's tooltip gives its number of rows."""
    means, shares, counts = (
        calibration["mean_predicted"],
        calibration["fraction_positive"],
        calibration["counts"],
    )
    gaps = [abs(s - m) for m, s in zip(means, shares, strict=True)]
    total = sum(counts)
    # The expected calibration error over these bins: the row-weighted mean gap.
    ece = sum(g * c for g, c in zip(gaps, counts, strict=True)) / total if total else 0.0
    summary = (
        f"Reliability curve over {calibration['bins']} equal score bins, {len(means)} with "
        f"rows: the mean gap between score and observed share of positives, weighted by "
        f"rows, is {ece:.3f}; the largest gap in a bin is {max(gaps, default=0):.3f}."
    )
    axes = _Axes((0.0, 1.0), (0.0, 1.0))
    parts = _frame("Reliability curve", summary)
    parts += axes.draw(UNIT_TICKS, UNIT_TICKS, "Mean score in the bin", "Share of positives")
    parts.append(_diagonal(axes))
    points = [(axes.x(m), axes.y(s)) for m, s in zip(means, shares, strict=True)]
    if len(points) > 1:
        parts.append(_path(points, ACCENT, stroke_width=2, class_="curve"))
    for (x, y), m, s, c in zip(points, means, shares, counts, strict=True):
        tip = f"Mean score {m:.3f}: {s:.3f} positive, {c:,} rows"
        parts.append(_dot(x, y, ACCENT, tip, r=4))
    items = [("Model", ACCENT, False), ("Perfectly calibrated", MID_GREY, True)]
    parts += _legend(items, axes.right - 6, axes.bottom - 38)
    parts.append("</svg>")
    return "".join(parts), summary


def _bars(
    axes: _Axes, edges: Sequence[float], counts: Sequence[int], fill: str, label: str, **attrs
) -> list[str]:
    parts = []
    for left, right, count in zip(edges, edges[1:], counts, strict=False):
        if count <= 0:
            continue
        x0, x1 = axes.x(left), axes.x(right)
        top = axes.y(count)
        tip = f"{label}: {format_number(count)} rows with a score from {left:.3g} to {right:.3g}"
        parts.append(_rect(x0, top, x1 - x0, axes.bottom - top, fill, tip=tip, **attrs))
    return parts


def score_histogram_svg(
    histogram: dict[str, Any], threshold: float | None = None
) -> tuple[str, str]:
    """The scores of each true class over shared bins, overlaid, with the threshold."""
    edges = histogram["edges"]
    classes = histogram["classes"]
    peak = max((max(c["counts"], default=0) for c in classes), default=0)
    lo, hi = edges[0], edges[-1]
    x_ticks = list(UNIT_TICKS) if (lo, hi) == (0.0, 1.0) else _nice_ticks(lo, hi)[2]
    x_lo, x_hi = (0.0, 1.0) if (lo, hi) == (0.0, 1.0) else (x_ticks[0], x_ticks[-1])
    _, y_hi, y_ticks = _nice_ticks(0.0, max(peak, 1))
    axes = _Axes((x_lo, x_hi), (0.0, y_hi))
    words = "; ".join(
        f"True class {c['label']}: {sum(c['counts']):,} rows, most between "
        f"{_mode_range(edges, c['counts'])}"
        for c in classes
        if sum(c["counts"])
    )
    summary = f"Scores by true class over {len(edges) - 1} bins. {words}."
    if threshold is not None:
        summary += f" Threshold drawn at {threshold:.3g}."
    parts = _frame("Scores by true class", summary)
    parts += axes.draw(x_ticks, y_ticks, "Score", "Rows")
    fills = [NEGATIVE_FILL, ACCENT]
    items = []
    for index, entry in enumerate(classes[-2:]):
        fill = fills[index]
        name = f"True class {entry['label']}"
        parts += _bars(
            axes, edges, entry["counts"], fill, name, fill_opacity=0.55, class_=f"bar class-{index}"
        )
        items.append((truncate(name, 150, SIZE), fill, False))
    if threshold is not None and x_lo <= threshold <= x_hi:
        x = axes.x(threshold)
        parts.append(
            _line(
                x,
                axes.top,
                x,
                axes.bottom,
                FLAG_TEXT,
                stroke_width=2,
                stroke_dasharray="4 3",
                class_="threshold",
            )
        )
        items.append((f"Threshold {threshold:.3g}", FLAG_TEXT, True))
    parts += _legend(items, axes.right - 6, axes.top + 16)
    parts.append("</svg>")
    return "".join(parts), summary


def _mode_range(edges: Sequence[float], counts: Sequence[int]) -> str:
    top = max(range(len(counts)), key=lambda i: counts[i])
    return f"{edges[top]:.3g} and {edges[top + 1]:.3g}"


def _tint(share: float) -> str:
    """White to the accent colour as ``share`` goes from 0 to 1."""
    share = min(max(share, 0.0), 1.0)
    white, accent = (255, 255, 255), (0x1F, 0x6F, 0xEB)
    mixed = (round(w + (a - w) * share) for w, a in zip(white, accent, strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def confusion_svg(classes: Sequence[str], counts: Sequence[Sequence[int]]) -> tuple[str, str]:
    """Counts of true (rows) against predicted (columns) classes, each cell with its share
    of the true class (the row); darker is a larger share."""
    k = len(classes)
    total = sum(sum(row) for row in counts)
    correct = sum(counts[i][i] for i in range(k))
    row_sums = [sum(row) for row in counts]
    label_w = min(max(text_width(c, SIZE) for c in classes) + 8, 90)
    left, top = 24 + label_w, 44
    side = WIDTH - left - 10
    cell = side / k
    height = top + side + 10
    words = [f"{correct:,} of {total:,} rows on the diagonal ({format_share(correct / total)})"]
    if k <= 4:
        for i, name in enumerate(classes):
            if row_sums[i]:
                words.append(
                    f"true {name}: "
                    + ", ".join(f"{counts[i][j]:,} predicted {classes[j]}" for j in range(k))
                )
    summary = "Confusion matrix, rows the true class and columns the predicted one: " + (
        "; ".join(words) + "."
    )
    parts = _frame("Confusion matrix", summary, height)
    parts.append(
        _text(left + side / 2, 14, "Predicted class", size=SIZE, text_anchor="middle", bold=True)
    )
    middle = top + side / 2
    parts.append(
        _text(
            12,
            middle,
            "True class",
            size=SIZE,
            text_anchor="middle",
            bold=True,
            transform=f"rotate(-90 12 {_n(middle)})",
        )
    )
    show_rate = cell >= 50
    show_count = cell >= 34
    for j, name in enumerate(classes):
        x = left + (j + 0.5) * cell
        parts.append(
            _text(
                x,
                top - 8,
                truncate(name, cell - 2, SIZE),
                size=SIZE,
                text_anchor="middle",
                fill=MUTED,
            )
        )
    for i, name in enumerate(classes):
        y = top + i * cell
        parts.append(
            _text(
                left - 6,
                y + cell / 2 + 4,
                truncate(name, label_w - 6, SIZE),
                size=SIZE,
                text_anchor="end",
                fill=MUTED,
            )
        )
        for j in range(k):
            count = counts[i][j]
            share = count / row_sums[i] if row_sums[i] else 0.0
            x = left + j * cell
            fill = _tint(share) if row_sums[i] else PANEL
            tip = f"True {name}, predicted {classes[j]}: {_rows(count)}" + (
                f", {format_share(share)} of true {name}" if row_sums[i] else ""
            )
            parts.append(
                _rect(
                    x,
                    y,
                    cell,
                    cell,
                    fill,
                    tip=tip,
                    stroke="#ffffff",
                    class_="cell diagonal" if i == j else "cell",
                )
            )
            ink = "#ffffff" if share > 0.55 else TEXT
            mid = x + cell / 2
            exact = f"{count:,}"
            if show_count:
                dy = -2 if show_rate else 4
                parts.append(
                    _text(
                        mid,
                        y + cell / 2 + dy,
                        exact
                        if text_width(exact, 13, bold=True) <= cell - 6
                        else format_number(count),
                        size=13,
                        bold=True,
                        text_anchor="middle",
                        fill=ink,
                    )
                )
            if show_rate and row_sums[i]:
                parts.append(
                    _text(
                        mid,
                        y + cell / 2 + 15,
                        format_share(share),
                        size=SIZE,
                        text_anchor="middle",
                        fill=ink,
                    )
                )
    parts.append("</svg>")
    return "".join(parts), summary


# --- regression --------------------------------------------------------------------------


def residual_svg(residuals: dict[str, Any], rows: int) -> tuple[str, str]:
    """Residual (true minus predicted) against the prediction, with the zero line."""
    xs, ys = residuals["predicted"], residuals["residual"]
    shown = len(xs)
    how = (
        f"{shown:,} of {rows:,} rows: a fixed sample and the largest residuals"
        if residuals["sampled"]
        else f"all {rows:,} rows"
    )
    summary = (
        f"Residuals (true value minus prediction) against the prediction, {how}. Mean "
        f"residual {format_number(residuals['mean'])}, standard deviation "
        f"{format_number(residuals['std'])}."
    )
    finite = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    x_lo, x_hi, x_ticks = _nice_ticks(
        min((x for x, _ in finite), default=0), max((x for x, _ in finite), default=1), 4
    )
    y_lo, y_hi, y_ticks = _nice_ticks(
        min([0.0] + [y for _, y in finite]), max([0.0] + [y for _, y in finite])
    )
    axes = _Axes((x_lo, x_hi), (y_lo, y_hi))
    parts = _frame("Residuals against predictions", summary)
    parts += axes.draw(x_ticks, y_ticks, "Prediction", "Residual (true - predicted)")
    parts.append('<g class="points">')
    for x, y in finite:
        parts.append(
            _el("circle", cx=axes.x(x), cy=axes.y(y), r=2.2, fill=ACCENT, fill_opacity=0.45)
        )
    parts.append("</g>")
    parts.append(
        _line(
            axes.left, axes.y(0), axes.right, axes.y(0), TEXT, stroke_width=1.5, class_="zero-line"
        )
    )
    parts.append("</svg>")
    return "".join(parts), summary


def residual_histogram_svg(histogram: dict[str, Any]) -> tuple[str, str]:
    edges, counts = histogram["edges"], histogram["counts"]
    total = sum(counts)
    summary = (
        f"Histogram of all {total:,} residuals over {len(counts)} equal bins from "
        f"{format_number(edges[0])} to {format_number(edges[-1])}; the fullest bin lies "
        f"between {_mode_range(edges, counts)}."
    )
    x_lo, x_hi, x_ticks = _nice_ticks(edges[0], edges[-1], 4)
    _, y_hi, y_ticks = _nice_ticks(0.0, max(max(counts, default=0), 1))
    axes = _Axes((x_lo, x_hi), (0.0, y_hi))
    parts = _frame("Residual histogram", summary)
    parts += axes.draw(x_ticks, y_ticks, "Residual (true - predicted)", "Rows")
    parts += _bars(axes, edges, counts, ACCENT, "Residuals", class_="bar", stroke=ACCENT_TINT)
    if x_lo <= 0 <= x_hi:
        parts.append(
            _line(
                axes.x(0),
                axes.top,
                axes.x(0),
                axes.bottom,
                TEXT,
                stroke_dasharray="4 3",
                class_="zero-line",
            )
        )
    parts.append("</svg>")
    return "".join(parts), summary


# --- what a page shows -------------------------------------------------------------------


def drawn_threshold(operating: dict[str, Any] | None) -> float | None:
    """One threshold that gives the uploaded labels, to draw: the usual 0.5 when it does,
    else the lowest score labelled positive; None when no single threshold does."""
    found = (operating or {}).get("threshold")
    if not found or not found["consistent"]:
        return None
    if found["usual"]:
        return found["usual_value"]
    return found["high"]


def threshold_text(curves: dict[str, Any], y_pred: str) -> str:
    """Where the decision threshold stands, in a sentence: none is stored with an
    evaluation, so this says what the uploaded labels imply."""
    head = (
        "No decision threshold is stored with the evaluation: accuracy, precision, recall, F1 "
        f"and the confusion matrix use the labels uploaded in column {y_pred}"
    )
    if not curves:
        return head + "."
    operating = curves.get("operating")
    if not operating:
        if curves.get("classes") and len(curves["classes"]) > 2:
            return head + ", the class the model predicted for each row."
        return head + "; without a score column no threshold can be read from them."
    found = operating["threshold"]
    positive = curves.get("positive")
    if not found["consistent"]:
        tail = (
            f"; they are not one threshold of the score: some rows labelled {positive} "
            "score lower than some that are not"
        )
        if "disagree_with_usual" in found:
            tail += (
                f", and {found['disagree_with_usual']:,} rows differ from "
                f"score ≥ {found['usual_value']:g}"
            )
        return head + tail + "."
    low, high = found["low"], found["high"]
    if low is None:
        span = f"any threshold up to {high:.4g}: every row is labelled {positive}"
    elif high is None:
        span = f"any threshold above {low:.4g}: no row is labelled {positive}"
    else:
        span = f"score ≥ t for any t above {low:.4g} and up to {high:.4g}"
    if found["usual"]:
        return (
            f"{head}. They equal {positive} when score ≥ {found['usual_value']:g}, the usual "
            f"threshold ({span})."
        )
    return f"{head}. They equal {positive} at {span}; not at {found['usual_value']:g}."


def evaluation_figures(curves: dict[str, Any]) -> list[dict[str, str]]:
    """The charts of one evaluation's curve data, each a dict of ``key``, ``title``,
    ``svg`` and ``summary``; none for data from before curves were kept."""
    if not curves or "task" not in curves:
        return []
    figures: list[dict[str, str]] = []

    def add(key: str, title: str, drawn: tuple[str, str]) -> None:
        figures.append({"key": key, "title": title, "svg": drawn[0], "summary": drawn[1]})

    if curves["task"] == "regression":
        add(
            "residuals",
            "Residuals against predictions",
            residual_svg(curves["residuals"], curves["rows"]),
        )
        add(
            "residual-histogram",
            "Residual histogram",
            residual_histogram_svg(curves["residual_histogram"]),
        )
        return figures
    operating = curves.get("operating")
    if curves.get("confusion"):
        add("confusion", "Confusion matrix", confusion_svg(curves["classes"], curves["confusion"]))
    if curves.get("roc"):
        add("roc", "ROC curve", roc_svg(curves["roc"], operating))
    if curves.get("pr"):
        add("pr", "Precision-recall curve", pr_svg(curves["pr"], operating))
    if curves.get("calibration"):
        add("calibration", "Reliability curve", calibration_svg(curves["calibration"]))
    if curves.get("score_histogram"):
        add(
            "scores",
            "Scores by true class",
            score_histogram_svg(curves["score_histogram"], drawn_threshold(operating)),
        )
    return figures
