"""Small server-side SVG charts, built as plain strings.

Each function returns one standalone ``<svg>`` element that renders the same in a
browser page and in a WeasyPrint PDF: no script, no CSS, explicit colours and
fonts on every element. No Django import here.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

ACCENT = "#1f6feb"
ACCENT_TINT = "#dbe9ff"
FLAG = "#d29922"
FLAG_TEXT = "#9a6700"  # darker amber: the bar colour is too light for text on white
MID_GREY = "#8c959f"
LIGHT_GREY = "#d0d7de"
BORDER_GREY = "#afb8c1"
GRID_GREY = "#eaeef2"
TEXT = "#24292f"
MUTED = "#57606a"
PANEL = "#f6f8fa"
FONT = "sans-serif"
#: The smallest chart text, in drawing units: charts are drawn at their size on a desktop
#: page, so this is also the smallest text in CSS px people read there.
SMALL = 12
ELLIPSIS = "\u2026"

VALUE_FORMATS = ("count", "share", "number")
BAR_KINDS = ("model", "trained", "baseline")
KIND_NAMES = {"model": "This model", "trained": "Trained baseline", "baseline": "Recorded baseline"}
KIND_FILLS = {"model": ACCENT, "trained": MID_GREY, "baseline": LIGHT_GREY}


@dataclass(frozen=True)
class ComparisonBar:
    label: str
    value: float
    std: float | None = None
    kind: str = "baseline"

    def __post_init__(self) -> None:
        if self.kind not in BAR_KINDS:
            raise ValueError(f"kind must be one of {BAR_KINDS}, not {self.kind!r}")


@dataclass(frozen=True)
class IntervalBar:
    """One group's rate for :func:`interval_bars_svg`; ``value`` None means undefined."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    flagged: bool = False
    note: str = ""


@dataclass(frozen=True)
class LineageNode:
    id: str
    label: str
    sublabel: str = ""
    href: str | None = None


# --- formatting ------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Compact: 1.2k, 3.4M, 0.873, 12."""
    if not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        # Just under a unit counts as the unit, so 999,960 reads "1M" rather than "1000k".
        if size >= limit * 0.9995:
            scaled = size / limit
            text = f"{scaled:.1f}" if scaled < 100 else f"{scaled:.0f}"
            return sign + text.removesuffix(".0") + suffix
    if size == int(size):
        return sign + str(int(size))
    text = f"{size:.3g}"
    # .3g switches to exponents below 1e-4; fixed point reads better in a chart.
    if "e" in text:
        text = f"{size:.6f}".rstrip("0")
    return sign + text


def format_share(value: float) -> str:
    """A fraction of one as a percentage: 0.12 -> 12%, 0.004 -> 0.4%."""
    if not math.isfinite(value):
        return "n/a"
    percent = value * 100
    text = f"{percent:.0f}" if abs(percent) >= 10 or percent == 0 else f"{percent:.1f}"
    return text.removesuffix(".0") + "%"


def format_value(value: float, value_format: str) -> str:
    if value_format == "share":
        return format_share(value)
    if value_format == "count" and math.isfinite(value):
        return format_number(round(value))
    return format_number(value)


# --- SVG helpers -----------------------------------------------------------------------------


def _n(x: float) -> str:
    """A coordinate with at most one decimal, so the markup stays short."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Rough rendered width in px, sized for DejaVu Sans (wide, WeasyPrint's usual default)."""
    total = 0.0
    for char in text:
        if char in "iljI.,:;|!'` ":
            total += 0.32
        elif char in "tfr()[]-":
            total += 0.43
        elif char in "mwMW@%":
            total += 0.95
        elif char.isupper() or char in "&#~<>=+":
            total += 0.74
        else:
            total += 0.64
    return total * size * (1.1 if bold else 1.0)


def truncate(text: str, max_width: float, size: float, *, bold: bool = False) -> str:
    """Cut ``text`` to fit ``max_width``, ending with an ellipsis when shortened."""
    if text_width(text, size, bold=bold) <= max_width:
        return text
    while text and text_width(text + ELLIPSIS, size, bold=bold) > max_width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def truncate_name(text: str, max_width: float, size: float, *, bold: bool = False) -> str:
    """Like :func:`truncate`, but the last word ("v12") is kept whole: two versions of one
    long dataset name must never shorten to the same text."""
    if text_width(text, size, bold=bold) <= max_width or " " not in text.strip():
        return truncate(text, max_width, size, bold=bold)
    head, tail = text.rstrip().rsplit(" ", 1)
    room = max_width - text_width(" " + tail, size, bold=bold)
    if room < text_width("ab" + ELLIPSIS, size, bold=bold):
        return truncate(text, max_width, size, bold=bold)
    return f"{truncate(head, room, size, bold=bold)} {tail}"


def _el(tag: str, body: str | None = None, **attrs: object) -> str:
    """One element; ``font_size`` is written ``font-size``, ``class_`` is ``class``."""
    text = "".join(
        f" {name.rstrip('_').replace('_', '-')}="
        + quoteattr(_n(value) if isinstance(value, float | int) else str(value))
        for name, value in attrs.items()
        if value not in (None, "")
    )
    return f"<{tag}{text}/>" if body is None else f"<{tag}{text}>{body}</{tag}>"


def _open(width: float, height: float, title: str, *, xlink: bool = False) -> list[str]:
    ns = ' xmlns:xlink="http://www.w3.org/1999/xlink"' if xlink else ""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg"{ns} viewBox="0 0 {_n(width)} {_n(height)}"'
        f' width="{_n(width)}" height="{_n(height)}" role="img">',
        f"<title>{escape(title)}</title>",
    ]


def _text(
    x: float, y: float, content: str, *, size: int = 12, bold: bool = False, **attrs: object
) -> str:
    font = {"font_family": FONT, "font_size": f"{size}px", "font_weight": "bold" if bold else None}
    attrs = {"text_anchor": "start", "fill": TEXT, **font, **attrs}
    return _el("text", escape(content), x=x, y=y, **attrs)


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "", **attrs: object) -> str:
    body = f"<title>{escape(tip)}</title>" if tip else None
    return _el("rect", body, x=x, y=y, width=max(w, 0), height=max(h, 0), fill=fill, **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: object) -> str:
    return _el("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, **attrs)


def no_data_svg(title: str, width: int = 240, height: int = 40) -> str:
    parts = _open(width, height, f"{title}: no data")
    parts.append(_rect(0.5, 0.5, width - 1, height - 1, PANEL, stroke=LIGHT_GREY))
    parts.append(_text(width / 2, height / 2 + 4, "No data", text_anchor="middle", fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


# --- histogram -------------------------------------------------------------------------------


def histogram_svg(
    bins: Sequence[tuple[float, float, int]], *, title: str, width: int = 240, height: int = 80
) -> str:
    """A sparkline-size histogram; ``bins`` are (left edge, right edge, count)."""
    if not bins:
        return no_data_svg(title, width, min(height, 40))
    bins = sorted(bins, key=lambda b: b[0])
    pad, label_h, size = 2, 16, SMALL
    base = height - label_h
    plot_h = base - pad
    lo, hi = bins[0][0], max(b[1] for b in bins)
    peak = max(max(b[2], 0) for b in bins)
    span = hi - lo
    parts = _open(width, height, title)
    inner = width - 2 * pad
    for index, (left, right, count) in enumerate(bins):
        # Unequal bins keep their true widths; a degenerate range falls back to equal slots.
        if span > 0 and math.isfinite(span):
            x0 = pad + (left - lo) / span * inner
            x1 = pad + (right - lo) / span * inner
        else:
            x0 = pad + index * inner / len(bins)
            x1 = x0 + inner / len(bins)
        gap = 1 if x1 - x0 > 3 else 0
        h = plot_h * max(count, 0) / peak if peak else 0
        tip = f"{format_number(left)} to {format_number(right)}: {format_number(count)}"
        parts.append(_rect(x0, base - h, x1 - x0 - gap, h, ACCENT, class_="bar", tip=tip))
    parts.append(_line(pad, base + 0.5, width - pad, base + 0.5, MID_GREY, class_="axis"))
    parts.append(_text(pad, height - 2, format_number(lo), size=size, fill=MUTED))
    parts.append(
        _text(width - pad, height - 2, format_number(hi), size=size, text_anchor="end", fill=MUTED)
    )
    parts.append("</svg>")
    return "".join(parts)


# --- horizontal bars -------------------------------------------------------------------------


def bars_svg(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    flagged: Collection[str] = (),
    value_format: str = "count",
    width: int = 320,
) -> str:
    """Horizontal bars, labels on the left, values at the end; flagged labels in amber."""
    if value_format not in VALUE_FORMATS:
        raise ValueError(f"value_format must be one of {VALUE_FORMATS}, not {value_format!r}")
    if not items:
        return no_data_svg(title, width)
    size, row_h, bar_h, pad = 12, 20, 12, 4
    flagged = set(flagged)
    values = [v if _finite(v) else math.nan for _, v in items]
    texts = [format_value(v, value_format) for v in values]
    label_w = min(
        max(text_width(label, size, bold=label in flagged) for label, _ in items), width * 0.4
    )
    value_w = max(text_width(t, size) for t in texts) + 6
    bar_x = pad + label_w + 8
    bar_max = max(width - pad - value_w - bar_x, 10)
    peak = max((v for v in values if v > 0), default=0)
    any_flag = any(label in flagged for label, _ in items)
    height = pad * 2 + row_h * len(items) + (row_h if any_flag else 0)
    parts = _open(width, height, title)
    for row, ((label, _), value, text) in enumerate(zip(items, values, texts, strict=True)):
        top = pad + row * row_h
        mid = top + row_h / 2
        is_flag = label in flagged
        # Counts and shares are never negative; a negative input draws no bar. A tiny positive
        # value still gets a sliver, so it does not read as zero.
        w = max(bar_max * value / peak, 1.5) if peak and value > 0 else 0
        tip = f"{label}: {text}" + (" (flagged)" if is_flag else "")
        # A flagged row may have a bar too thin to show its colour, so its text is amber too.
        ink, cls = (FLAG_TEXT, "bar flagged") if is_flag else (TEXT, "bar")
        short = truncate(label, label_w, size, bold=is_flag)
        parts.append(_text(bar_x - 8, mid + 4, short, text_anchor="end", fill=ink, bold=is_flag))
        fill = FLAG if is_flag else ACCENT
        parts.append(_rect(bar_x, mid - bar_h / 2, w, bar_h, fill, class_=cls, tip=tip))
        ink = FLAG_TEXT if is_flag else MUTED
        parts.append(_text(bar_x + w + 4, mid + 4, text, fill=ink, class_="value"))
    if any_flag:
        # Colour alone should not carry the meaning, so say what amber stands for.
        top = pad + len(items) * row_h + 5
        parts.append(_rect(bar_x, top, 10, 10, FLAG))
        parts.append(_text(bar_x + 14, top + 9, "flagged", size=SMALL, fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


# --- model vs baselines ----------------------------------------------------------------------


def _nice_step(span: float, target: int = 4) -> float:
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def comparison_svg(
    series: Sequence[ComparisonBar], *, metric_label: str, higher_is_better: bool, width: int = 560
) -> str:
    """One metric across the model and its baselines, with std whiskers and a zero line."""
    title = f"{metric_label}: model compared with baselines"
    if not series:
        return no_data_svg(title, width)
    size, row_h, pad = 12, 24, 8
    stds = [abs(b.std) if _finite(b.std) else 0.0 for b in series]
    texts = []
    for bar, std in zip(series, stds, strict=True):
        text = format_number(bar.value)
        texts.append(f"{text} \u00b1 {format_number(std)}" if std and _finite(bar.value) else text)
    finite = [(b.value, s) for b, s in zip(series, stds, strict=True) if _finite(b.value)]
    lo = min([0.0] + [v - s for v, s in finite])
    hi = max([0.0] + [v + s for v, s in finite])
    if all(v >= 0 for v, _ in finite):
        # A rate, a score or an error is never below 0: a whisker reaching past 0 is cut
        # at the axis rather than drawing negative ticks no value can have.
        lo = 0.0
    if hi == lo:
        hi = lo + 1
    step = _nice_step(hi - lo)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step

    widths = [text_width(b.label, size, bold=b.kind == "model") for b in series]
    label_w = min(max(widths), width * 0.3)
    # Value labels sit past the bar's outer end, so reserve room on the side they fall on.
    reserve = {True: 16.0, False: 16.0}
    for bar, text in zip(series, texts, strict=True):
        side = bar.value < 0
        reserve[side] = max(reserve[side], text_width(text, SMALL) + 6)
    x0 = pad + label_w + 10 + reserve[True]
    x1 = max(width - pad - reserve[False], x0 + 40)

    def sx(value: float) -> float:
        clipped = min(max(value, lo), hi)
        return x0 + (clipped - lo) / (hi - lo) * (x1 - x0)

    # Legend first: it decides where the rows start.
    legend, lx = [], pad
    for kind in BAR_KINDS:
        if any(b.kind == kind for b in series):
            stroke = BORDER_GREY if kind == "baseline" else None
            legend.append(_rect(lx, 5, 10, 10, KIND_FILLS[kind], stroke=stroke))
            legend.append(_text(lx + 14, 14, KIND_NAMES[kind], size=SMALL, fill=MUTED))
            lx += 14 + text_width(KIND_NAMES[kind], SMALL) + 14
    note = "Higher is better" if higher_is_better else "Lower is better"
    note_row = 0 if lx + text_width(note, SMALL) + 8 <= width - pad else 1
    top = 26 + note_row * 16
    rows_bottom = top + row_h * len(series)
    parts = [*_open(width, rows_bottom + 34 + pad, title), *legend]
    note_y = 14 + note_row * 16
    parts.append(
        _text(width - pad, note_y, note, size=SMALL, text_anchor="end", fill=MUTED, class_="note")
    )

    for i in range(round((hi - lo) / step) + 1):
        tick = lo + i * step
        label = format_number(round(tick, 12))
        parts.append(_line(sx(tick), top, sx(tick), rows_bottom, GRID_GREY))
        parts.append(
            _text(sx(tick), rows_bottom + 14, label, size=SMALL, text_anchor="middle", fill=MUTED)
        )
    caption_x = (x0 + x1) / 2
    parts.append(_text(caption_x, rows_bottom + 30, metric_label, size=SMALL, text_anchor="middle"))

    zero = sx(0.0)
    for row, (bar, std, text) in enumerate(zip(series, stds, texts, strict=True)):
        mid = top + row * row_h + row_h / 2
        is_model = bar.kind == "model"
        short = truncate(bar.label, label_w, size, bold=is_model)
        parts.append(_text(pad + label_w, mid + 4, short, text_anchor="end", bold=is_model))
        if not _finite(bar.value):
            parts.append(_text(zero + 4, mid + 4, "n/a", size=SMALL, fill=MUTED, class_="value"))
            continue
        tip = f"{bar.label}: {text} ({KIND_NAMES[bar.kind].lower()})"
        left, right = sorted((zero, sx(bar.value)))
        stroke = BORDER_GREY if bar.kind == "baseline" else None
        fill, cls = KIND_FILLS[bar.kind], f"bar {bar.kind}"
        parts.append(
            _rect(left, mid - 7, right - left, 14, fill, class_=cls, tip=tip, stroke=stroke)
        )
        if std:
            a, b = sx(bar.value - std), sx(bar.value + std)
            parts.append(f'<g class="whisker"><title>{escape(tip)}</title>')
            parts.append(_line(a, mid, b, mid, TEXT))
            parts.append(_line(a, mid - 4, a, mid + 4, TEXT))
            parts.append(_line(b, mid - 4, b, mid + 4, TEXT))
            parts.append("</g>")
        # The value goes beyond whichever end of the bar (or whisker) points away from zero.
        if bar.value < 0:
            x, anchor = sx(bar.value - std) - 4, "end"
        else:
            x, anchor = sx(bar.value + std) + 4, "start"
        parts.append(
            _text(x, mid + 4, text, size=SMALL, text_anchor=anchor, fill=MUTED, class_="value")
        )
    parts.append(_line(zero, top - 2, zero, rows_bottom + 2, MUTED, class_="zero-line"))
    parts.append("</svg>")
    return "".join(parts)


# --- rates with confidence intervals ---------------------------------------------------------


def interval_bars_svg(
    bars: Sequence[IntervalBar],
    *,
    title: str,
    value_range: tuple[float, float] = (0.0, 1.0),
    reference: float | None = None,
    reference_label: str | None = None,
    width: int = 420,
) -> str:
    """Per-group rates on a fixed axis with their confidence intervals as whiskers.

    The axis does not stretch to the data, so charts of one rate for different features
    compare at a glance and a small gap is not magnified. A bar without a value shows the
    word "undefined" (its ``note`` as the tooltip) instead of a zero-length bar that would
    read as a rate of 0. ``reference`` draws a dashed line, e.g. at a threshold, labelled
    ``reference_label`` (default: the number).
    """
    if not bars:
        return no_data_svg(title, width)
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"value_range must be two finite numbers, low < high, not {value_range}")
    size, row_h, bar_h, pad = 12, 22, 12, 8
    values = [b.value if _finite(b.value) else None for b in bars]
    texts = [format_number(v) if v is not None else "undefined" for v in values]
    label_w = min(max(text_width(b.label, size, bold=b.flagged) for b in bars), width * 0.35)
    value_w = max(text_width(t, SMALL) for t in texts) + 8
    x0 = pad + label_w + 10
    x1 = max(width - pad - value_w, x0 + 40)

    def sx(value: float) -> float:
        clipped = min(max(value, lo), hi)
        return x0 + (clipped - lo) / (hi - lo) * (x1 - x0)

    show_ref = _finite(reference)
    top = pad + (14 if show_ref else 0)
    rows_bottom = top + row_h * len(bars)
    any_flag = any(b.flagged for b in bars)
    height = rows_bottom + 18 + (18 if any_flag else 0) + pad
    parts = _open(width, height, title)

    for i in range(5):
        tick = lo + (hi - lo) * i / 4
        label = format_number(round(tick, 12))
        parts.append(_line(sx(tick), top, sx(tick), rows_bottom, GRID_GREY, class_="grid"))
        parts.append(
            _text(sx(tick), rows_bottom + 13, label, size=SMALL, text_anchor="middle", fill=MUTED)
        )
    parts.append(_line(x0, rows_bottom + 0.5, x1, rows_bottom + 0.5, MID_GREY, class_="axis"))

    base = sx(min(max(0.0, lo), hi))  # bars grow from 0, or from the range's edge
    for row, (bar, value, text) in enumerate(zip(bars, values, texts, strict=True)):
        mid = top + row * row_h + row_h / 2
        ink = FLAG_TEXT if bar.flagged else TEXT
        short = truncate(bar.label, label_w, size, bold=bar.flagged)
        parts.append(_text(x0 - 10, mid + 4, short, text_anchor="end", fill=ink, bold=bar.flagged))
        value_x = x1 + 6
        if value is None:
            tip = f"<title>{escape(bar.note or f'{bar.label}: undefined')}</title>"
            attrs = {"font_family": FONT, "font_size": f"{SMALL}px", "font_style": "italic"}
            parts.append(
                _el(
                    "text",
                    escape(text) + tip,
                    x=value_x,
                    y=mid + 4,
                    fill=MUTED,
                    class_="value undefined",
                    **attrs,
                )
            )
            continue
        has_interval = _finite(bar.low) and _finite(bar.high)
        tip = f"{bar.label}: {text}"
        if has_interval:
            tip += f" (interval {format_number(bar.low)} to {format_number(bar.high)})"
        if bar.flagged:
            tip += " (flagged)"
        if bar.note:
            tip += f". {bar.note}"
        left, right = sorted((base, sx(value)))
        fill, cls = (FLAG, "bar flagged") if bar.flagged else (ACCENT, "bar")
        parts.append(_rect(left, mid - bar_h / 2, right - left, bar_h, fill, class_=cls, tip=tip))
        if has_interval:
            a, b = sx(bar.low), sx(bar.high)
            parts.append(f'<g class="whisker"><title>{escape(tip)}</title>')
            parts.append(_line(a, mid, b, mid, TEXT, stroke_width=1.25))
            parts.append(_line(a, mid - 4, a, mid + 4, TEXT, stroke_width=1.25))
            parts.append(_line(b, mid - 4, b, mid + 4, TEXT, stroke_width=1.25))
            parts.append("</g>")
        ink = FLAG_TEXT if bar.flagged else MUTED
        parts.append(_text(value_x, mid + 4, text, size=SMALL, fill=ink, class_="value"))

    if show_ref:
        x = sx(reference)
        parts.append(
            _line(x, top - 2, x, rows_bottom, MUTED, stroke_dasharray="4 3", class_="reference")
        )
        label = reference_label if reference_label is not None else format_number(reference)
        # Keep the label inside the drawing even when the line sits at either end of the axis.
        half = text_width(label, SMALL) / 2
        label_x = min(max(x, half + 2), width - half - 2)
        parts.append(
            _text(
                label_x,
                top - 4,
                label,
                size=SMALL,
                text_anchor="middle",
                fill=MUTED,
                class_="reference-label",
            )
        )
    if any_flag:
        # Colour alone should not carry the meaning, so say what amber stands for.
        legend_top = rows_bottom + 22
        parts.append(_rect(x0, legend_top, 10, 10, FLAG))
        parts.append(_text(x0 + 14, legend_top + 9, "flagged", size=SMALL, fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


# --- lineage DAG -----------------------------------------------------------------------------

#: A layout slot: a node id, or a waypoint (parent, child, depth) where a long edge crosses a layer.
Item = str | tuple[str, str, int]


def _layered(
    nodes: Sequence[LineageNode], edges: Sequence[tuple[str, str]]
) -> tuple[list[list[Item]], dict[tuple[str, str], list[Item]]]:
    """Layers of slots, ordered top to bottom, and each edge's chain of slots."""
    ids = [node.id for node in nodes]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate node id")
    edges = list(dict.fromkeys(edges))
    children: dict[str, list[str]] = {node_id: [] for node_id in ids}
    indegree = dict.fromkeys(ids, 0)
    for parent, child in edges:
        if parent not in children or child not in children:
            raise ValueError(f"edge {parent!r} -> {child!r} names an unknown node")
        children[parent].append(child)
        indegree[child] += 1
    # Kahn's algorithm: whatever never reaches in-degree zero sits on a cycle.
    ready = [node_id for node_id in ids if indegree[node_id] == 0]
    layer = dict.fromkeys(ready, 0)
    done = 0
    while done < len(ready):
        node_id = ready[done]
        done += 1
        for child in children[node_id]:
            layer[child] = max(layer.get(child, 0), layer[node_id] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if done != len(ids):
        stuck = [node_id for node_id in ids if indegree[node_id] > 0]
        raise ValueError(f"lineage has a cycle through {', '.join(stuck)}")

    layers: list[list[Item]] = [[] for _ in range(max(layer.values()) + 1)]
    for node_id in ids:
        layers[layer[node_id]].append(node_id)
    # A long edge gets a waypoint in every layer it crosses, so it never runs behind a box.
    previous: dict[Item, list[Item]] = {node_id: [] for node_id in ids}
    chains: dict[tuple[str, str], list[Item]] = {}
    for parent, child in edges:
        waypoints: list[Item] = [(parent, child, d) for d in range(layer[parent] + 1, layer[child])]
        chain = [parent, *waypoints, child]
        for waypoint in waypoints:
            layers[waypoint[2]].append(waypoint)
            previous[waypoint] = []
        for before, after in itertools.pairwise(chain):
            previous[after].append(before)
        chains[(parent, child)] = chain
    # One barycenter sweep: each slot sits near the mean position of its parents.
    # The sort is stable, so ties keep the input order.
    position: dict[Item, float] = {}
    for depth, members in enumerate(layers):
        if depth:
            members.sort(key=lambda i: sum(position[p] for p in previous[i]) / len(previous[i]))
        for index, item in enumerate(members):
            position[item] = index - (len(members) - 1) / 2
    return layers, chains


def lineage_layers(
    nodes: Sequence[LineageNode], edges: Sequence[tuple[str, str]]
) -> list[list[str]]:
    """Node ids by layer (longest path from a root), each layer ordered top to bottom.

    Raises ValueError on a cycle, a duplicate node id or an edge to an unknown node.
    """
    layers, _ = _layered(nodes, edges)
    return [[item for item in members if isinstance(item, str)] for members in layers]


def _curve(ax: float, ay: float, bx: float, by: float) -> str:
    bend = (bx - ax) / 2
    return f" C{_n(ax + bend)},{_n(ay)} {_n(bx - bend)},{_n(by)} {_n(bx)},{_n(by)}"


def lineage_svg(
    nodes: Sequence[LineageNode],
    edges: Sequence[tuple[str, str]],
    *,
    current: str,
    width: int | None = None,
) -> str:
    """A left-to-right layered drawing of a lineage DAG, ``current`` in the accent colour."""
    by_id = {node.id: node for node in nodes}
    title = f"Lineage of {by_id[current].label}" if current in by_id else "Lineage"
    if not nodes:
        return no_data_svg(title, width or 240)
    layers, chains = _layered(nodes, edges)
    pad, box_h, gap, row_gap, lane_h = 12, 44, 56, 14, 4
    count = len(layers)
    # Wide enough for the longest name in full (within reason), so versions of datasets
    # whose names share a long prefix read apart.
    longest = max(text_width(node.label, 12, bold=True) for node in nodes)
    box_w = min(max(longest + 16, 160.0), 280.0)
    if width is not None:
        box_w = min(max((width - 2 * pad - (count - 1) * gap) / count, 100), 240)

    def slot_h(item: Item) -> float:
        return box_h if isinstance(item, str) else lane_h

    def column_h(members: list[Item]) -> float:
        return sum(slot_h(item) for item in members) + (len(members) - 1) * row_gap

    natural_w = 2 * pad + count * box_w + (count - 1) * gap
    natural_h = 2 * pad + max(column_h(members) for members in layers)
    left: dict[Item, float] = {}
    top: dict[Item, float] = {}
    for depth, members in enumerate(layers):
        y = pad + (natural_h - 2 * pad - column_h(members)) / 2
        for item in members:
            left[item], top[item] = pad + depth * (box_w + gap), y
            y += slot_h(item) + row_gap

    def middle(item: Item) -> float:
        return top[item] + slot_h(item) / 2

    # Several edges at one box get their own ports, ordered by where they come from or go to.
    out_port: dict[tuple[str, str], float] = {}
    in_port: dict[tuple[str, str], float] = {}
    for node_id in by_id:
        for ports, end, near in ((out_port, 0, 1), (in_port, -1, -2)):
            mine = sorted(
                (e for e, c in chains.items() if c[end] == node_id),
                key=lambda e: middle(chains[e][near]),
            )
            for index, edge in enumerate(mine):
                ports[edge] = top[node_id] + box_h * (index + 1) / (len(mine) + 1)

    parts = _open(natural_w, natural_h, title, xlink=True)
    if any(node.href for node in nodes):
        # Its boxes are links: a group a keyboard can move through, not one flat image.
        parts[0] = parts[0].replace('role="img"', f'role="group" aria-label={quoteattr(title)}')
    if width is not None and width < natural_w:
        # Too many layers for the width asked: shrink the whole drawing to fit.
        scaled_h = natural_h * width / natural_w
        parts[0] = parts[0].replace(
            f'width="{_n(natural_w)}" height="{_n(natural_h)}"',
            f'width="{_n(width)}" height="{_n(scaled_h)}"',
        )
    # Marker ids are document-wide once inlined, so derive a per-drawing one.
    digest = hashlib.sha1(repr((current, sorted(by_id), sorted(chains))).encode()).hexdigest()
    marker = f"arrow-{digest[:8]}"
    parts.append(
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        f' markerHeight="7" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>'
    )
    for (parent, child), chain in chains.items():
        x, y = left[parent] + box_w, out_port[(parent, child)]
        path = f"M{_n(x)},{_n(y)}"
        for waypoint in chain[1:-1]:
            path += _curve(x, y, left[waypoint], middle(waypoint))
            x, y = left[waypoint] + box_w, middle(waypoint)
            path += f" L{_n(x)},{_n(y)}"
        path += _curve(x, y, left[child] - 1, in_port[(parent, child)])
        parts.append(
            f'<path class="edge" d="{path}" fill="none" stroke="{MUTED}" stroke-width="1.5"'
            f' marker-end="url(#{marker})"/>'
        )
    for node in nodes:
        x, y = left[node.id], top[node.id]
        is_current = node.id == current
        fill, stroke = (ACCENT, ACCENT) if is_current else (PANEL, MID_GREY)
        ink, sub_ink = ("#ffffff", ACCENT_TINT) if is_current else (TEXT, MUTED)
        tip = f"{node.label} ({node.sublabel})" if node.sublabel else node.label
        group = [f'<g class="node{" current" if is_current else ""}">']
        group.append(f"<title>{escape(tip + (' (current)' if is_current else ''))}</title>")
        group.append(_rect(x, y, box_w, box_h, fill, rx=4, stroke=stroke))
        inner = box_w - 16
        label_y = y + (18 if node.sublabel else 27)
        group.append(
            _text(
                x + 8,
                label_y,
                truncate_name(node.label, inner, 12, bold=True),
                fill=ink,
                bold=True,
            )
        )
        if node.sublabel:
            sublabel = truncate(node.sublabel, inner, SMALL)
            group.append(_text(x + 8, y + 34, sublabel, size=SMALL, fill=sub_ink))
        group.append("</g>")
        if node.href:
            link = quoteattr(node.href)
            group = [f"<a href={link} xlink:href={link}>", *group, "</a>"]
        parts.extend(group)
    parts.append("</svg>")
    return "".join(parts)


def comparison_charts(rows: Sequence[dict], width: int = 560) -> list[dict]:
    """One chart per metric row (``label``, ``higher_is_better``, ``entries`` of label, value,
    std, kind), each row returned with its ``svg``."""
    return [
        {
            **row,
            "svg": comparison_svg(
                [
                    ComparisonBar(label=e["label"], value=e["value"], std=e["std"], kind=e["kind"])
                    for e in row["entries"]
                ],
                metric_label=row["label"],
                higher_is_better=row["higher_is_better"],
                width=width,
            ),
        }
        for row in rows
    ]
