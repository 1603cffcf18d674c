"""A rollout window's live metric drawn for people: its points over the window, the targets
it is judged against as lines.

Pure: NumPy and the SVG helpers of :mod:`projects.analysis.charts`, no Django, so the
deployment page and the approval pack draw the same picture from the same arguments.

:func:`downsample` turns a metric's points into at most ``max_points`` equal-width time
buckets over the window (each bucket's mean time, mean, min, max and count; a bucket
holding one point is that point, unchanged). The PostgreSQL query in
``deployments/series.py`` computes the same buckets where the points are.
:func:`window_chart_svg` draws one :class:`MetricSeries` with its :class:`Target` lines:
the mean as a line, the min-max range of crowded buckets as a band, each target as a
dashed line labelled with its rule and verdict, and, while the window is still open, the
time to come shaded. Every chart carries a ``<title>`` and a ``<desc>`` that says in words
what it shows; :func:`chart_description` gives that text for a caption too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import numpy as np

from projects.analysis.charts import (
    ACCENT,
    ACCENT_TINT,
    GRID_GREY,
    MID_GREY,
    MUTED,
    PANEL,
    SMALL,
    _line,
    _n,
    _nice_step,
    _open,
    _rect,
    _text,
    format_number,
    text_width,
)

from .catalog import SYMBOLS, number_text, unit_suffix

#: At most this many drawn values per metric: enough for a 560-pixel-wide chart.
MAX_POINTS = 500
PASS_INK = "#1a7f37"
FAIL_INK = "#cf222e"
#: Target lines by verdict; a target not judged yet is drawn in grey.
TARGET_INKS = {"pass": PASS_INK, "fail": FAIL_INK, "inconclusive": MUTED, "": MUTED}
VERDICT_WORDS = {"pass": "met", "fail": "missed", "inconclusive": "not judged", "": ""}
#: Periods when an alert fired on the metric.
ALERT_TINT = "#fde7e9"
#: Dots are drawn on the line when there are at most this many values.
DOTS_UP_TO = 120
#: Time steps for the x axis, in seconds.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


@dataclass(frozen=True)
class MetricSeries:
    """One metric over a window: per time bucket (ascending), its mean time (seconds since
    the epoch, UTC), mean value, lowest and highest value, and number of points."""

    metric: str
    times: tuple[float, ...]
    values: tuple[float, ...]
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def points(self) -> int:
        """How many points the window held."""
        return int(sum(self.counts))

    @property
    def downsampled(self) -> bool:
        """Whether some drawn value stands for more than one point."""
        return any(count > 1 for count in self.counts)


@dataclass(frozen=True)
class Target:
    """A threshold the window is judged against: ``label`` names the check ("p95
    latency"); ``status`` is the analysis's verdict (pass, fail, inconclusive) or "" when
    the window has not been judged yet."""

    label: str
    comparator: str
    threshold: float
    unit: str = ""
    status: str = ""
    observed: float | None = None

    @property
    def rule(self) -> str:
        """ "p95 latency ≤ 200 ms" """
        symbol = SYMBOLS.get(self.comparator, self.comparator)
        return f"{self.label} {symbol} {_amount(self.threshold, self.unit)}"


def _amount(value: float, unit: str, digits: int | None = None) -> str:
    """ "200 ms", "0.01", "12%": exactly as set, or to ``digits`` significant digits."""
    text = number_text(float(f"{value:.{digits}g}") if digits else value)
    return f"{text}%" if unit == "%" else f"{text}{unit_suffix(unit)}"


def _epoch(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("A window's bounds carry their time zone (UTC).")
        return moment.timestamp()
    return float(moment)


def bucket_width(start: datetime | float, end: datetime | float, max_points: int) -> float:
    """Seconds per bucket when ``[start, end)`` is cut into ``max_points`` buckets."""
    span = _epoch(end) - _epoch(start)
    if not span > 0 or max_points < 1:
        raise ValueError("A window ends after it starts, and holds at least one bucket.")
    return span / max_points


def empty_series(metric: str) -> MetricSeries:
    return MetricSeries(metric, (), (), (), (), ())


def downsample(
    metric: str,
    times: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    start: datetime | float,
    end: datetime | float,
    max_points: int = MAX_POINTS,
) -> MetricSeries:
    """The points of ``[start, end)`` (``times`` in seconds since the epoch) in at most
    ``max_points`` equal-width buckets; points outside the window and non-finite values
    are left out."""
    low, width = _epoch(start), bucket_width(start, end, max_points)
    t = np.asarray(times, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if t.shape != v.shape:
        raise ValueError(f"{t.size:,} times for {v.size:,} values; give one time per value.")
    keep = np.isfinite(t) & np.isfinite(v) & (t >= low) & (t < _epoch(end))
    t, v = t[keep], v[keep]
    if not t.size:
        return empty_series(metric)
    bucket = np.minimum(np.floor((t - low) / width), max_points - 1).astype(np.int64)
    used, index, counts = np.unique(bucket, return_inverse=True, return_counts=True)
    slots = used.size
    sums_t = np.bincount(index, weights=t, minlength=slots)
    sums_v = np.bincount(index, weights=v, minlength=slots)
    lows = np.full(slots, np.inf)
    highs = np.full(slots, -np.inf)
    np.minimum.at(lows, index, v)
    np.maximum.at(highs, index, v)
    return MetricSeries(
        metric=metric,
        times=tuple(float(x) for x in sums_t / counts),
        values=tuple(float(x) for x in sums_v / counts),
        lows=tuple(float(x) for x in lows),
        highs=tuple(float(x) for x in highs),
        counts=tuple(int(c) for c in counts),
    )


# --- reading -----------------------------------------------------------------------------


def _clock(seconds: float, with_seconds: bool = False) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%H:%M:%S" if with_seconds else "%H:%M")


def _tick_label(seconds: float, step: float) -> str:
    """A time axis label: the day for steps of days, the clock otherwise."""
    if step >= 86400:
        return datetime.fromtimestamp(seconds, UTC).strftime("%d %b")
    return _clock(seconds, step < 60)


def _span_text(start: float, end: float) -> str:
    """ "from 09:00 to 10:00 UTC on 2026-12-01", or with dates when it spans days."""
    first = datetime.fromtimestamp(start, UTC)
    if first.date() == datetime.fromtimestamp(end - 1, UTC).date():
        return f"from {_clock(start)} to {_clock(end)} UTC on {first:%Y-%m-%d}"
    last = datetime.fromtimestamp(end, UTC)
    return f"from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"


def _value_text(value: float) -> str:
    # Shares stay fractions (0.01), as the plan and the analysis write them.
    return format_number(value)


def chart_description(
    series: MetricSeries,
    targets: Sequence[Target],
    *,
    window_start: datetime | float,
    window_end: datetime | float,
    label: str = "",
    unit: str = "",
    per: tuple[str, str] | None = None,
) -> str:
    """What the chart shows, in sentences: the window, the points and their range, each
    target with its verdict and the observed value when the window was judged. ``per``
    (bucket, statistic), for a series of rollups, says each value is that statistic of a
    minute's or an hour's points rather than a mean of points."""
    start, end = _epoch(window_start), _epoch(window_end)
    name = label or series.metric
    text = [f"{name} {_span_text(start, end)}:"]
    if series.points and per is not None:
        bucket, statistic = per
        noun = "point" if series.points == 1 else "points"
        text.append(
            f"{series.points:,} {noun} in {len(series.values):,} {bucket}s; the {statistic} "
            f"per {bucket} from {_amount(min(series.values), unit, 4)} to "
            f"{_amount(max(series.values), unit, 4)}."
        )
        if series.lows != series.values:
            text.append(f"The band spans each {bucket}'s lowest to highest point.")
    elif series.points:
        lowest, highest = min(series.lows), max(series.highs)
        mean = sum(v * c for v, c in zip(series.values, series.counts, strict=True))
        mean /= series.points
        noun = "point" if series.points == 1 else "points"
        text.append(
            f"{series.points:,} {noun}, from {_amount(lowest, unit, 4)} to "
            f"{_amount(highest, unit, 4)}, mean {_amount(mean, unit, 4)}."
        )
        if series.downsampled:
            text.append(f"Drawn as {len(series.values):,} time buckets (mean line, min-max band).")
    else:
        text.append("no points in this window.")
    for target in targets:
        part = f"Target: {target.rule}"
        if target.status:
            part += f", {VERDICT_WORDS.get(target.status, target.status)}"
            if target.observed is not None:
                part += f" (observed {_amount(target.observed, target.unit, 4)})"
        text.append(part + ".")
    return " ".join(text)


# --- drawing -----------------------------------------------------------------------------


def _time_step(span: float) -> float:
    for step in TIME_STEPS:
        if span / step <= 6:
            return float(step)
    return 86400.0 * math.ceil(span / 86400 / 6)


def _value_range(series: MetricSeries, targets: Sequence[Target]) -> tuple[float, float, float]:
    finite = [t.threshold for t in targets if math.isfinite(t.threshold)]
    lo = min([0.0, *series.lows, *finite])
    hi = max([0.0, *series.highs, *finite])
    if hi == lo:
        hi = lo + 1.0
    hi += (hi - lo) * 0.08  # room above the highest line for its label
    step = _nice_step(hi - lo, 5)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, step


def time_axis(
    sx: Callable[[float], float],
    start: float,
    end: float,
    *,
    x0: float,
    x1: float,
    y: float,
    width: float,
) -> list[str]:
    """The time axis at height ``y`` from ``x0`` to ``x1``: ticks and their labels at a
    round step (``sx`` maps seconds since the epoch to x)."""
    parts = []
    time_step = _time_step(end - start)
    t = math.ceil(start / time_step) * time_step
    while t <= end + 1e-6:
        x = sx(t)
        parts.append(_line(x, y, x, y + 4, MID_GREY))
        label = _tick_label(t, time_step)
        # A label at either end of the axis stays inside the drawing.
        anchor = "end" if x + text_width(label, SMALL) / 2 > width - 2 else "middle"
        parts.append(_text(x, y + 16, label, size=SMALL, text_anchor=anchor, fill=MUTED))
        t += time_step
    parts.append(_line(x0, y + 0.5, x1, y + 0.5, MID_GREY, class_="axis"))
    return parts


def _runs(xs: Sequence[float], gap: float) -> list[list[int]]:
    """Indexes in runs that no gap wider than ``gap`` splits: missing data shows as a break."""
    runs: list[list[int]] = []
    for i, x in enumerate(xs):
        if runs and x - xs[runs[-1][-1]] <= gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _label_rows(wanted: list[float], top: float, bottom: float, gap: float = 12) -> list[float]:
    """Label baselines near ``wanted`` (ascending y) that do not overlap, inside the plot."""
    placed: list[float] = []
    for y in wanted:
        y = max(y, top + gap)
        if placed and y - placed[-1] < gap:
            y = placed[-1] + gap
        placed.append(min(y, bottom))
    return placed


def window_chart_svg(
    series: MetricSeries,
    targets: Sequence[Target] = (),
    *,
    window_start: datetime | float,
    window_end: datetime | float,
    title: str,
    unit: str = "",
    now: datetime | float | None = None,
    width: int = 560,
    height: int = 220,
    shaded: Sequence[tuple[float, float, str]] = (),
    per: tuple[str, str] | None = None,
) -> str:
    """One metric over one window: the values as a line (with dots when few), the min-max
    band of buckets holding several points, each target as a dashed line with its rule and
    verdict, the part of the window after ``now`` shaded while the window is open, and
    each ``shaded`` period (start, end in seconds since the epoch, and what it was: an
    alert firing) tinted red. ``per`` as in :func:`chart_description`."""
    start, end = _epoch(window_start), _epoch(window_end)
    if not end > start:
        raise ValueError("A window ends after it starts.")
    lo, hi, step = _value_range(series, targets)
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    tick_texts = [_value_text(round(tick, 12)) for tick in ticks]
    left = max(text_width(t, SMALL) for t in tick_texts) + 14
    x0, x1 = left, width - 10.0
    y0, y1 = 20.0, height - 26.0  # plot top and bottom

    def sx(t: float) -> float:
        return x0 + (t - start) / (end - start) * (x1 - x0)

    def sy(value: float) -> float:
        return y1 - (value - lo) / (hi - lo) * (y1 - y0)

    parts = _open(width, height, title)
    description = chart_description(
        series, targets, window_start=start, window_end=end, label=title, unit=unit, per=per
    )
    parts.append(f"<desc>{escape(description)}</desc>")
    parts.append(_rect(x0, y0, x1 - x0, y1 - y0, "#ffffff", stroke=GRID_GREY))
    for began, ended, what in shaded:
        began, ended = max(began, start), min(ended, end)
        if ended > began:
            left_x = sx(began)
            parts.append(
                _rect(
                    left_x, y0, sx(ended) - left_x, y1 - y0, ALERT_TINT, tip=what, class_="alerting"
                )
            )
    moment = _epoch(now) if now is not None else None
    shade_from = x1
    if moment is not None and start < moment < end:
        shade_from = sx(moment)
        tip = "The window is open: the time after now is still to come."
        parts.append(
            _rect(shade_from, y0, x1 - shade_from, y1 - y0, PANEL, tip=tip, class_="to-come")
        )
    if unit and unit != "share":
        parts.append(_text(4, 12, unit, size=SMALL, fill=MUTED, class_="unit"))
    for tick, text in zip(ticks, tick_texts, strict=True):
        y = sy(tick)
        parts.append(_line(x0, y, x1, y, GRID_GREY, class_="grid"))
        parts.append(_text(x0 - 6, y + 3.5, text, size=SMALL, text_anchor="end", fill=MUTED))
    parts += time_axis(sx, start, end, x0=x0, x1=x1, y=y1, width=width)
    parts.append(_text(x1, 12, "times in UTC", size=SMALL, text_anchor="end", fill=MUTED))
    if shade_from < x1:
        parts.append(_line(shade_from, y0, shade_from, y1, MID_GREY, stroke_dasharray="2 3"))
        # Near the right edge the label goes left of the line, inside the drawing.
        at_edge = shade_from + 4 + text_width("now", SMALL) > width - 2
        parts.append(
            _text(
                shade_from - 4 if at_edge else shade_from + 4,
                y0 + 12,
                "now",
                size=SMALL,
                fill=MUTED,
                class_="now",
                text_anchor="end" if at_edge else "start",
            )
        )

    xs = [sx(t) for t in series.times]
    if series.downsampled:
        band = [f"{_n(x)},{_n(sy(h))}" for x, h in zip(xs, series.highs, strict=True)]
        band += [
            f"{_n(x)},{_n(sy(low))}"
            for x, low in zip(reversed(xs), reversed(series.lows), strict=True)
        ]
        parts.append(
            f'<polygon class="band" points="{" ".join(band)}" fill="{ACCENT_TINT}"'
            ' stroke="none"><title>Lowest to highest value in each time bucket</title></polygon>'
        )
    runs = _runs(series.times, (end - start) / 20)
    for run in runs:
        if len(run) > 1:
            path = " ".join(f"{_n(xs[i])},{_n(sy(series.values[i]))}" for i in run)
            parts.append(
                f'<polyline class="series" points="{path}" fill="none" stroke="{ACCENT}"'
                ' stroke-width="1.5" stroke-linejoin="round"/>'
            )
    if len(xs) <= DOTS_UP_TO or any(len(run) == 1 for run in runs):
        lone = {run[0] for run in runs if len(run) == 1}
        for i, (x, value) in enumerate(zip(xs, series.values, strict=True)):
            if len(xs) <= DOTS_UP_TO or i in lone:
                tip = f"{_clock(series.times[i], True)} UTC: {_value_text(value)}"
                if series.counts[i] > 1:
                    tip += f" (mean of {series.counts[i]:,} points)"
                parts.append(
                    f'<circle class="point" cx="{_n(x)}" cy="{_n(sy(value))}" r="2.5"'
                    f' fill="{ACCENT}"><title>{escape(tip)}</title></circle>'
                )
    if not series.points:
        parts.append(
            _text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                "No points in this window",
                size=12,
                text_anchor="middle",
                fill=MUTED,
                class_="no-data",
            )
        )

    drawn = sorted(targets, key=lambda target: sy(target.threshold))
    baselines = _label_rows([sy(target.threshold) - 4 for target in drawn], y0, y1 - 2)
    for target, baseline in zip(drawn, baselines, strict=True):
        y = sy(target.threshold)
        ink = TARGET_INKS.get(target.status, MUTED)
        verdict = VERDICT_WORDS.get(target.status, "")
        label = target.rule + (f" ({verdict})" if verdict else "")
        parts.append(
            f'<g class="target {target.status or "unjudged"}"><title>{escape(label)}</title>'
            + _line(x0, y, x1, y, ink, stroke_width=1.5, stroke_dasharray="6 4")
            + "</g>"
        )
        box_x = x1 - text_width(label, SMALL) - 8
        # The label's backdrop matches what it sits on, so it reads over the line and dots.
        backdrop = PANEL if box_x >= shade_from else "#ffffff"
        parts.append(
            _rect(
                box_x, baseline - 11, text_width(label, SMALL) + 6, 15, backdrop, fill_opacity=0.9
            )
        )
        parts.append(
            _text(x1 - 4, baseline, label, size=SMALL, text_anchor="end", fill=ink, class_="target")
        )
    parts.append("</svg>")
    return "".join(parts)
