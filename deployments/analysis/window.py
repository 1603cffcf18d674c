"""One rollout step's window of live metrics, judged: pass, fail or inconclusive.

Pure computation (NumPy and pandas only). The service gathers, per metric, the values of
the step's window (pushed points, or a Prometheus range query) and hands them over as
:class:`MetricWindow` objects with their :func:`window_stats` (or the same statistics
computed by PostgreSQL); :func:`derive_checks` turns a deployment plan and the agreed
success criteria into :class:`CheckSpec` objects; :func:`analyse` judges every check
(:func:`judge`) and the step as a whole. A shadow deployment is judged on how often the
new model agreed with the one it shadows: :func:`shadow_agreement` and
:func:`shadow_check`. Metric names, units and the criterion -> metric mapping come from
:mod:`.catalog`.

Conventions:

* Statistics over a window's values: ``p50``, ``p95``, ``p99`` (NumPy's default linear
  interpolation, which equals PostgreSQL's ``percentile_cont``), ``mean``, ``max``,
  ``min``, ``sum``, ``count`` and ``rate`` (sum / window seconds).
* Comparisons are exact, with no tolerance: 200.01 misses "≤ 200"; a value equal to the
  threshold meets ``<=`` and ``>=`` and misses ``<`` and ``>``.
* Missing evidence never passes. A check whose metric has no source, no points, fewer
  points than it requires, or whose source failed (Prometheus unreachable, a PromQL
  error) is ``inconclusive`` and says why. The step fails when any check fails;
  otherwise it is inconclusive when any check is, or when there is nothing to check; it
  passes only when every check passed on data.
* Window bounds are ISO 8601 strings in UTC (an aware ``datetime`` is converted), kept as
  given, so that :meth:`Analysis.as_dict` is plain JSON that hashes the same every time.
* Reasons are sentences for a person: thousands separators, units, and observed values
  to four significant digits, or more when fewer would hide which side of the threshold
  they fall on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from projects.analysis.criteria import BETWEEN, SOFTWARE, metric_spec, target_text

from .catalog import CATALOG, COMPARATORS, STATISTICS, SYMBOLS, criterion_check, statistic_key

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
#: Percentile statistics and the percent each reads.
PERCENTS = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
#: Units shown without a suffix (as in the success criteria): scores and shares.
UNITLESS = ("", "score", "share")
MISSING = "(missing)"
NEVER_A_PASS = "inconclusive, never a pass"
# Load a canary carries in proportion to its share of traffic: scaled to the step.
_SCALED_METRICS = ("throughput_qps",)


class WindowError(ValueError):
    """A check, plan or input that cannot be judged as given; one sentence for a person."""


def _plain(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        """The fields as plain JSON data: numbers, strings, None, lists and dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _finite(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


# Numbers for people


def number_text(value: float, digits: int = 12) -> str:
    """A number as people write it: 1,204, 0.80, 182.50, 0.004; ``digits`` significant
    digits at most, so float noise such as 0.30000000000000004 never shows."""
    value = float(f"{float(value):.{digits}g}")
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value.is_integer() and 1 <= value < 1e15:
        return f"{sign}{int(value):,}"
    text = repr(value)
    if "e" in text:
        return sign + text
    whole, _, decimals = text.partition(".")
    return f"{sign}{int(whole):,}.{decimals.ljust(2, '0')}"


def _unit(text: str, unit: str) -> str:
    if unit in UNITLESS:
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def holds(value: float, comparator: str, threshold: float) -> bool:
    if comparator == "<=":
        return value <= threshold
    if comparator == ">=":
        return value >= threshold
    if comparator == "<":
        return value < threshold
    return value > threshold


def _observed_text(value: float, comparator: str, threshold: float) -> str:
    """Four significant digits (never fewer than the whole part has), more when rounding
    would change the verdict a reader sees or make a near miss look equal."""
    digits = max(4, math.floor(math.log10(abs(value))) + 1) if value else 4
    verdict, equal = holds(value, comparator, threshold), value == threshold
    while digits < 17:
        shown = float(f"{value:.{digits}g}")
        if holds(shown, comparator, threshold) == verdict and (shown == threshold) == equal:
            break
        digits += 1
    return number_text(value, digits)


def _points(count: int, what: str = "point") -> str:
    return f"{count:,} {what}{'' if count == 1 else 's'}"


# Statistics of a window


@dataclass(frozen=True)
class Stats(_AsDict):
    count: int
    mean: float
    min: float
    max: float
    sum: float
    p50: float
    p95: float
    p99: float


def window_stats(values: Any) -> Stats | None:
    """The window's statistics, or None when it holds no values.

    Values are read as float64; NaN and infinities are dropped (sources never send them,
    the ingest refuses them). ``mean`` is ``sum / count``, exactly ``numpy.mean``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(v.sum())
        if not math.isfinite(total):  # a NaN or an infinity, or a sum past 1.8e308
            v = v[np.isfinite(v)]
            total = float(v.sum())
        if not v.size:
            return None
        p50, p95, p99 = np.percentile(v, tuple(PERCENTS.values()))
    return Stats(
        count=int(v.size),
        mean=total / v.size,
        min=float(v.min()),
        max=float(v.max()),
        sum=total,
        p50=float(p50),
        p95=float(p95),
        p99=float(p99),
    )


def statistic(stats: Stats, name: str, window_seconds: float) -> float:
    """One statistic of a window; ``rate`` is the sum per second of the window."""
    if name not in STATISTICS:
        raise WindowError(f"Statistic {name!r} is not one of {', '.join(STATISTICS)}.")
    if name == "rate":
        if not _finite(window_seconds) or window_seconds <= 0:
            raise WindowError(f"A window lasts a positive number of seconds, not {window_seconds}.")
        return stats.sum / float(window_seconds)
    if name == "count":
        return float(stats.count)
    return float(getattr(stats, name))


# Checks


@dataclass(frozen=True)
class CheckSpec(_AsDict):
    """One check of a step: the window's ``statistic`` of ``metric`` against a threshold.

    ``name`` is a person's label ("p95 latency"); ``origin`` says where the target comes
    from ("plan: serving.latency_ms.p95", "criterion: p95_latency_ms ≤ 200 ms").
    """

    name: str
    metric: str
    statistic: str
    comparator: str
    threshold: float
    unit: str = ""
    min_points: int = 1
    origin: str = ""

    def __post_init__(self) -> None:
        label = self.name if isinstance(self.name, str) and self.name.strip() else None
        if label is None:
            raise WindowError("Give every check a name a person recognises.")
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise WindowError(f"{label}: name the metric the check reads.")
        if self.statistic not in STATISTICS:
            raise WindowError(
                f"{label}: statistic {self.statistic!r} is not one of {', '.join(STATISTICS)}."
            )
        if self.comparator not in COMPARATORS:
            raise WindowError(
                f"{label}: comparator {self.comparator!r} is not one of {', '.join(COMPARATORS)}."
            )
        if not _finite(self.threshold):
            raise WindowError(f"{label}: the threshold must be a finite number.")
        if (
            isinstance(self.min_points, bool)
            or not isinstance(self.min_points, numbers.Integral)
            or self.min_points < 1
        ):
            raise WindowError(f"{label}: the minimum number of points is a whole number ≥ 1.")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "min_points", int(self.min_points))

    @property
    def target(self) -> str:
        """The target as a person reads it: "≤ 200 ms"."""
        return f"{SYMBOLS[self.comparator]} {_unit(number_text(self.threshold), self.unit)}"


@dataclass(frozen=True)
class MetricWindow(_AsDict):
    """What a source gave for one metric over the window.

    ``source``: "pushed" or "prometheus: <query>"; ``error``: why the source gave nothing
    (Prometheus unreachable, a PromQL syntax error, ...), as a sentence.
    """

    metric: str
    stats: Stats | None
    source: str
    error: str = ""


@dataclass(frozen=True)
class CheckResult(_AsDict):
    name: str
    metric: str
    statistic: str
    comparator: str
    threshold: float
    unit: str
    observed: float | None
    count: int  # points in the window
    source: str
    origin: str
    status: str  # pass / fail / inconclusive
    reason: str


def judge(spec: CheckSpec, window: MetricWindow | None, *, window_seconds: float) -> CheckResult:
    """One check against its metric's window (None when no source gives the metric)."""
    stats = window.stats if window is not None else None
    count = stats.count if stats is not None else 0

    def result(status: str, reason: str, observed: float | None = None) -> CheckResult:
        return CheckResult(
            name=spec.name,
            metric=spec.metric,
            statistic=spec.statistic,
            comparator=spec.comparator,
            threshold=spec.threshold,
            unit=spec.unit,
            observed=observed,
            count=count,
            source=window.source if window is not None else "",
            origin=spec.origin,
            status=status,
            reason=reason,
        )

    if window is None:
        return result(
            INCONCLUSIVE,
            f"No source gives {spec.metric} (no pushed points, no Prometheus query): "
            f"{NEVER_A_PASS}.",
        )
    if window.error.strip():
        return result(INCONCLUSIVE, f"{window.error.strip().rstrip('.')} — inconclusive.")
    if stats is None or count < 1:
        return result(INCONCLUSIVE, f"No {spec.metric} points in the window: {NEVER_A_PASS}.")
    if count < spec.min_points:
        return result(
            INCONCLUSIVE,
            f"Only {_points(count, f'{spec.metric} point')}, fewer than the "
            f"{spec.min_points:,} required: inconclusive.",
        )
    # A series that holds the statistic at each moment (metric:p95) is judged on its mean
    # over the window; a series of the metric itself, on the statistic of its values.
    per_moment = window.metric == statistic_key(spec.metric, spec.statistic)
    observed = stats.mean if per_moment else statistic(stats, spec.statistic, window_seconds)
    if not math.isfinite(observed):
        return result(
            INCONCLUSIVE,
            f"The {spec.statistic} of {spec.metric} is not a finite number ({observed}): "
            "inconclusive.",
        )
    passed = holds(observed, spec.comparator, spec.threshold)
    shown = _unit(_observed_text(observed, spec.comparator, spec.threshold), spec.unit)
    verb = "" if passed else "misses "
    over = f"over {_points(count)}"
    if per_moment:
        over = f"averaged {over} of the {spec.statistic} at each moment"
    reason = f"{spec.name} {shown} {verb}{spec.target} {over}."
    return result(PASS if passed else FAIL, reason, observed)


@dataclass(frozen=True)
class Analysis(_AsDict):
    """A step's verdict. ``window_start`` / ``window_end``: ISO 8601 strings in UTC, or
    None when the caller did not give them; ``windows``: what each source gave."""

    outcome: str
    summary: str
    checks: tuple[CheckResult, ...]
    window_seconds: float
    window_start: str | None = None
    window_end: str | None = None
    windows: tuple[MetricWindow, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def inconclusive(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == INCONCLUSIVE)


def _iso(value: str | datetime | None, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise WindowError(f"The window's {what} must carry its time zone (UTC).")
        return value.isoformat()
    raise WindowError(f"The window's {what} is an ISO 8601 time, not {value!r}.")


def _names(results: Sequence[CheckResult]) -> str:
    return ", ".join(dict.fromkeys(c.name for c in results))  # each name once, in order


def _summary(results: Sequence[CheckResult]) -> tuple[str, str]:
    total = len(results)
    if not total:
        return INCONCLUSIVE, f"No checks to judge: {NEVER_A_PASS}."
    failed = [c for c in results if c.status == FAIL]
    unknown = [c for c in results if c.status == INCONCLUSIVE]
    if failed:
        text = f"{len(failed)} of {total} checks failed: {_names(failed)}."
        if unknown:
            text += f" {len(unknown)} could not be judged: {_names(unknown)}."
        return FAIL, text
    if unknown:
        return INCONCLUSIVE, (
            f"{len(unknown)} of {total} checks could not be judged ({_names(unknown)}): "
            f"{NEVER_A_PASS}."
        )
    return PASS, "The check passed." if total == 1 else f"All {total} checks passed."


def _window_for(spec: CheckSpec, windows: Mapping[str, MetricWindow]) -> MetricWindow | None:
    """The series that holds the check's statistic at each moment when a source gives one,
    else the metric's own."""
    return windows.get(statistic_key(spec.metric, spec.statistic)) or windows.get(spec.metric)


def analyse(
    checks: Sequence[CheckSpec],
    windows: Mapping[str, MetricWindow],
    *,
    window_seconds: float,
    judged: Sequence[CheckResult] = (),
    window_start: str | datetime | None = None,
    window_end: str | datetime | None = None,
) -> Analysis:
    """Judge every check on its metric's window, then the step.

    ``windows`` maps a metric (or ``metric:statistic``, a series of that statistic at each
    moment) to what its source gave; ``judged`` are results already
    reached elsewhere (the shadow agreement), counted in the outcome after the checks.
    """
    if not _finite(window_seconds) or window_seconds <= 0:
        raise WindowError(f"A window lasts a positive number of seconds, not {window_seconds}.")
    results = [judge(c, _window_for(c, windows), window_seconds=window_seconds) for c in checks]
    results.extend(judged)
    outcome, summary = _summary(results)
    return Analysis(
        outcome=outcome,
        summary=summary,
        checks=tuple(results),
        window_seconds=float(window_seconds),
        window_start=_iso(window_start, "start"),
        window_end=_iso(window_end, "end"),
        windows=tuple(windows[m] for m in sorted(windows)),
    )


# The checks of a step


def _scaled(value: float, traffic: float) -> float:
    # In decimal, so 50 requests/s at 5% is 2.5, not 2.5000000000000004.
    return float(Decimal(repr(float(value))) * Decimal(repr(float(traffic))) / 100)


def _percent(traffic: float) -> str:
    return f"{number_text(traffic)}%"


def _criterion_checks(
    criterion: Mapping[str, Any], traffic: float, min_points: int
) -> list[CheckSpec]:
    key = criterion["metric"]
    metric, stat = criterion_check(criterion) or (key, "mean")
    label = _lower(metric_spec(key).label)
    unit = criterion.get("unit") or ""
    origin = f"criterion: {key} {target_text(criterion)}"
    scale = metric in _SCALED_METRICS and traffic < 100
    if scale:
        origin += f", scaled to the step's {_percent(traffic)} of traffic"
    if criterion["comparator"] == BETWEEN:
        bounds = [
            (f"{label} (lower bound)", ">=", criterion["target"]),
            (f"{label} (upper bound)", "<=", criterion["target_high"]),
        ]
    else:
        bounds = [(label, criterion["comparator"], criterion["target"])]
    return [
        CheckSpec(
            name=name,
            metric=metric,
            statistic=stat,
            comparator=comparator,
            threshold=_scaled(target, traffic) if scale else float(target),
            unit=unit,
            min_points=min_points,
            origin=origin,
        )
        for name, comparator, target in bounds
    ]


def _lower(label: str) -> str:
    """ "Throughput" -> "throughput", as the plan's labels read; "ROC AUC" stays."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _check_name(label: str, stat: str) -> str:
    """ "p95 CPU use", "mean null-output rate", "input volume per second"."""
    if stat == "count":
        return f"number of {label} points"
    return f"{label} per second" if stat == "rate" else f"{stat} {label}"


def _statistic_unit(unit: str, stat: str) -> str:
    if stat == "count":
        return ""
    if stat == "rate":
        return "per second" if unit in UNITLESS else f"{unit}/s"
    return unit


def derive_checks(
    plan: Mapping[str, Any],
    criteria: Sequence[Mapping[str, Any]],
    *,
    traffic: float,
    min_points: int = 1,
) -> list[CheckSpec]:
    """The checks of one step, in this order: the plan's latency targets (p50, p95, p99 of
    ``latency_ms``, at most), its throughput, the software criteria measured in deployment,
    the plan's extra checks.

    ``traffic`` is the step's share of traffic in percent, as the plan's steps give it (5
    for 5 %; 100 for blue/green, all-at-once and shadow). Throughput, from the plan or a
    criterion, is scaled by it: a canary on 5 % of the traffic should carry at least 5 % of
    the target. ``min_points`` applies to the derived checks; an extra check carries its own.
    """
    if not _finite(traffic) or not 0 < traffic <= 100:
        raise WindowError(
            f"A step's traffic is a percentage above 0 and at most 100, not {traffic}."
        )
    serving = plan.get("serving") or {}
    checks = []
    latency = serving.get("latency_ms") or {}
    for stat in PERCENTS:
        if latency.get(stat) is not None:
            checks.append(
                CheckSpec(
                    name=f"{stat} latency",
                    metric="latency_ms",
                    statistic=stat,
                    comparator="<=",
                    threshold=latency[stat],
                    unit="ms",
                    min_points=min_points,
                    origin=f"plan: serving.latency_ms.{stat}",
                )
            )
    qps = (serving.get("throughput") or {}).get("qps")
    if qps is not None:
        origin = "plan: serving.throughput.qps"
        if traffic < 100:
            origin += (
                f" = {_unit(number_text(qps), 'requests/s')}, scaled to the step's "
                f"{_percent(traffic)} of traffic"
            )
        checks.append(
            CheckSpec(
                name="throughput",
                metric="throughput_qps",
                statistic="mean",
                comparator=">=",
                threshold=_scaled(qps, traffic),
                unit="requests/s",
                min_points=min_points,
                origin=origin,
            )
        )
    for criterion in criteria:
        if criterion.get("category") == SOFTWARE and criterion_check(criterion) is not None:
            checks.extend(_criterion_checks(criterion, traffic, min_points))
    units = {
        m.get("name"): m.get("unit") or ""
        for m in (plan.get("monitoring") or {}).get("metrics") or ()
    }
    for number, extra in enumerate(plan.get("checks") or ()):
        metric, stat = extra.get("metric"), extra.get("statistic")
        info = CATALOG.get(metric)
        unit = extra.get("unit") or units.get(metric) or (info.unit if info else "")
        label = _lower(info.label) if info else str(metric).replace("_", " ")
        try:
            checks.append(
                CheckSpec(
                    name=extra.get("name") or _check_name(label, stat),
                    metric=metric,
                    statistic=stat,
                    comparator=extra.get("comparator"),
                    threshold=extra.get("threshold"),
                    unit=_statistic_unit(unit, stat),
                    min_points=extra.get("min_points", 1),
                    origin=f"plan: checks[{number}]",
                )
            )
        except WindowError as error:
            raise WindowError(f"Plan check {number + 1}: {error}") from None
    return checks


# Shadow deployments: how often the new model agreed with the one it shadows


@dataclass(frozen=True)
class Agreement(_AsDict):
    """Share of cases where the shadow agreed; ``per_segment``: (segment, rate, cases),
    sorted by segment. ``rate`` is None when there were no cases."""

    rate: float | None
    cases: int
    per_segment: tuple[tuple[str, float, int], ...] = ()


def shadow_agreement(agree: Any, segments: Sequence[str] | None = None) -> Agreement:
    """The agreement rate over all cases and per segment (a missing segment is its own
    segment, "(missing)"). ``agree`` holds booleans (or 0 and 1), one per case."""
    a = np.asarray(agree).ravel()
    if a.dtype != np.bool_:
        if a.size and not (np.issubdtype(a.dtype, np.number) and np.isin(a, (0, 1)).all()):
            raise WindowError("Agreement is one true or false per case.")
        a = a.astype(np.bool_)
    cases = int(a.size)
    rate = float(np.count_nonzero(a) / cases) if cases else None
    if segments is None or not cases:
        if segments is not None and len(segments):
            raise WindowError(f"{len(segments):,} segments given for 0 cases.")
        return Agreement(rate, cases)
    if len(segments) != cases:
        raise WindowError(f"{len(segments):,} segments given for {cases:,} cases; give one each.")
    codes, names = pd.factorize(np.asarray(segments, dtype=object))
    names = [str(n) for n in names]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING)
    totals = np.bincount(codes, minlength=len(names))
    agreed = np.bincount(codes[a], minlength=len(names))
    per_segment = sorted(
        (name, float(agreed[i] / totals[i]), int(totals[i])) for i, name in enumerate(names)
    )
    return Agreement(rate, cases, tuple(per_segment))


def shadow_check(
    agreement: Agreement | None,
    *,
    agreement_min: float,
    min_cases: int,
    source: str = "shadow",
    origin: str = "plan: pattern.agreement_min",
    worst: int = 3,
) -> CheckResult:
    """The shadow's agreement against the plan's floor: inconclusive below ``min_cases``;
    a failure names the segments that agree least (at most ``worst`` of them)."""
    if not _finite(agreement_min) or not 0 <= agreement_min <= 1:
        raise WindowError(f"The agreement floor is a share between 0 and 1, not {agreement_min}.")
    if isinstance(min_cases, bool) or not isinstance(min_cases, numbers.Integral) or min_cases < 1:
        raise WindowError(f"The minimum number of cases is a whole number ≥ 1, not {min_cases}.")
    cases = agreement.cases if agreement is not None else 0
    rate = agreement.rate if agreement is not None else None

    def result(status: str, reason: str) -> CheckResult:
        return CheckResult(
            name="shadow agreement",
            metric="shadow_agreement",
            statistic="mean",
            comparator=">=",
            threshold=float(agreement_min),
            unit="share",
            observed=rate,
            count=cases,
            source=source,
            origin=origin,
            status=status,
            reason=reason,
        )

    if rate is None or not cases:
        return result(INCONCLUSIVE, f"No shadow cases in the window: {NEVER_A_PASS}.")
    if cases < min_cases:
        return result(
            INCONCLUSIVE,
            f"Only {_points(cases, 'shadow case')}, fewer than the {min_cases:,} required: "
            "inconclusive.",
        )
    floor = f"≥ {number_text(agreement_min)}"
    shown = _observed_text(rate, ">=", agreement_min)
    below = sorted(
        (s for s in agreement.per_segment if s[1] < agreement_min), key=lambda s: (s[1], -s[2])
    )
    named = ", ".join(
        f"{name} {_observed_text(r, '>=', agreement_min)} ({_points(n, 'case')})"
        for name, r, n in below[:worst]
    )
    if len(below) > worst:
        named += f" and {len(below) - worst:,} more"
    if rate < agreement_min:
        reason = f"Shadow agreement {shown} misses {floor} over {_points(cases, 'case')}"
        return result(FAIL, reason + (f"; lowest: {named}." if named else "."))
    reason = f"Shadow agreement {shown} {floor} over {_points(cases, 'case')}"
    return result(PASS, reason + (f"; below it: {named}." if named else "."))
