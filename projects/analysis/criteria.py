"""Success criteria: what business and ML people agreed success means, and whether it is met.

Plain data and validation, no Django. A criterion is a dict naming a metric from
:data:`CATALOG` (or a custom one), a comparator, a target and a written rationale;
:func:`clean_criteria` checks and normalises a set, :func:`assess` checks one criterion
against a :class:`Measurement`, and :func:`canonical`, :func:`content_sha256` and
:func:`diff` serve the stored versions ("what changed since the last agreement").
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .metric_names import words
from .metrics import HIGHER_IS_BETTER, METRIC_LABELS

ML, SOFTWARE, BUSINESS = "ml", "software", "business"
CATEGORIES = (ML, SOFTWARE, BUSINESS)
A_CATEGORY = {ML: "an ML", SOFTWARE: "a software", BUSINESS: "a business"}

#: evaluation: a model evaluation's metric; audit: a fairness audit's headline gap;
#: baseline: the target is a margin over the best baseline of the same metric; deployment:
#: measured in production; business: a value a business owner enters with evidence.
SOURCES = ("evaluation", "audit", "baseline", "deployment", "business")
#: Sources a custom metric may use: the portal computes no other metric itself.
CUSTOM_SOURCES = ("business", "deployment")

AT_LEAST, AT_MOST, BETWEEN = ">=", "<=", "between"
COMPARATORS = (AT_LEAST, AT_MOST, BETWEEN)
SYMBOLS = {AT_LEAST: "≥", AT_MOST: "≤"}

MET, NOT_MET, NOT_MEASURED = "met", "not_met", "not_measured"

#: A criterion's fields, in display order; any other key is refused.
FIELDS = (
    "metric",
    "category",
    "source",
    "comparator",
    "target",
    "target_high",
    "unit",
    "rationale",
)
MAX_CRITERIA = 50
MAX_RATIONALE = 2000
MAX_UNIT = 20
CUSTOM_KEY = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
#: Units shown without a suffix: scores and shares speak for themselves.
UNITLESS = ("", "score", "share")
NOT_DEPLOYED = "measured in production once the model is deployed"


class CriteriaError(ValueError):
    """A criterion or set of criteria that cannot be agreed as given; one sentence for a person."""


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    category: str
    unit: str
    #: None: the direction is unknown (custom metrics), so any comparator fits.
    higher_is_better: bool | None
    #: Where a measured value comes from; the first is the default.
    sources: tuple[str, ...]
    #: Rates, shares and fairness gaps: every target lies in [0, 1].
    bounded: bool = False


_RATES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
_UNITLESS_ML = ("log_loss", "mae", "rmse")  # in the target's own units
#: Metrics measured outside evaluations: key, label, category, unit, higher is better, source.
_MEASURED = (
    ("demographic_parity_difference", "Demographic-parity difference", ML, "share", False, "audit"),
    ("equalized_odds_difference", "Equalized-odds difference", ML, "share", False, "audit"),
    ("p95_latency_ms", "95th-percentile latency", SOFTWARE, "ms", False, "deployment"),
    ("throughput_qps", "Throughput", SOFTWARE, "requests/s", True, "deployment"),
    ("error_rate", "Error rate", SOFTWARE, "share", False, "deployment"),
    ("memory_mb", "Memory", SOFTWARE, "MB", False, "deployment"),
    ("revenue", "Revenue", BUSINESS, "currency", True, "business"),
    ("conversion_rate", "Conversion rate", BUSINESS, "share", True, "business"),
    ("cost_per_prediction", "Cost per prediction", BUSINESS, "currency", False, "business"),
    ("manual_review_rate", "Manual-review rate", BUSINESS, "share", False, "business"),
)
CATALOG: dict[str, MetricSpec] = {
    **{
        key: MetricSpec(
            key,
            label,
            ML,
            "" if key in _UNITLESS_ML else "score",
            HIGHER_IS_BETTER[key],
            ("evaluation", "baseline"),
            bounded=key in _RATES,
        )
        for key, label in METRIC_LABELS.items()
    },
    **{
        key: MetricSpec(key, label, category, unit, higher, (source,), bounded=unit == "share")
        for key, label, category, unit, higher, source in _MEASURED
    },
}


def metric_spec(key: str, category: str = "") -> MetricSpec:
    """The catalog entry for ``key``, or a custom metric's spec (direction unknown)."""
    if key in CATALOG:
        return CATALOG[key]
    return MetricSpec(key, words(key), category, "", None, CUSTOM_SOURCES)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _choice(raw: Any, allowed: Sequence[str], what: str) -> str:
    value = raw.strip() if isinstance(raw, str) else raw
    if value not in allowed:
        raise CriteriaError(f"{what} {str(raw)[:30]!r} is not one of {', '.join(allowed)}.")
    return value


def _number(spec: MetricSpec, raw: Any, what: str, margin: bool = False) -> float:
    if _blank(raw):
        raise CriteriaError(f"{spec.label}: give the {what}.")
    if isinstance(raw, bool) or not isinstance(raw, numbers.Real | str):
        raise CriteriaError(f"{spec.label}: the {what} {str(raw)[:30]!r} is not a number.")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise CriteriaError(
            f"{spec.label}: the {what} {str(raw)[:30]!r} is not a number."
        ) from None
    if not math.isfinite(value):
        raise CriteriaError(f"{spec.label}: the {what} must be a finite number, not {value}.")
    if margin and value < 0:
        raise CriteriaError(
            f"{spec.label}: a baseline margin cannot be negative; give 0 to match the best "
            "baseline, more to beat it."
        )
    if spec.bounded and not 0 <= value <= 1:
        hint = f" (for {value:g}% give {value / 100:g})" if 1 < value <= 100 else ""
        raise CriteriaError(f"{spec.label}: the {what} must lie between 0 and 1{hint}.")
    return value


def _comparator(spec: MetricSpec, raw: Any, source: str) -> str:
    better = spec.higher_is_better
    if _blank(raw):
        # Left out: the metric's direction says it ("at least" a recall, "at most" a latency).
        if better is None:
            raise CriteriaError(
                f"{spec.label}: say whether the target is a floor (>=), a ceiling (<=) or a range "
                "(between)."
            )
        return AT_LEAST if better else AT_MOST
    comparator = _choice(raw, COMPARATORS, "Comparator")
    if source == "baseline":
        follows = AT_LEAST if better else AT_MOST
        if comparator != follows:
            raise CriteriaError(
                f"{spec.label}: a baseline-relative target is a margin beyond the best baseline; "
                f"use {follows}, not {comparator}."
            )
    elif better is not None and comparator == (AT_MOST if better else AT_LEAST):
        fits = AT_LEAST if better else AT_MOST
        raise CriteriaError(
            f"{spec.label} is better when {'higher' if better else 'lower'}; use {fits} or "
            f"between, not {comparator}."
        )
    return comparator


def clean_criterion(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One checked, normalised criterion; CriteriaError names the first problem.

    Numeric strings ("0.8") are accepted because forms send text; targets become floats
    so that the same agreement always serialises to the same bytes.
    """
    if not isinstance(raw, Mapping):
        raise CriteriaError("Each criterion must map its fields (metric, target, ...) to values.")
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise CriteriaError(
            f"Unknown criterion fields: {', '.join(sorted(map(str, unknown)))}; the fields are "
            f"{', '.join(FIELDS)}."
        )
    key = raw.get("metric")
    if _blank(key):
        raise CriteriaError("Name the metric the criterion checks.")
    key = key.strip() if isinstance(key, str) else str(key)
    if key not in CATALOG and not (len(key) <= 60 and CUSTOM_KEY.fullmatch(key)):
        raise CriteriaError(
            f"Metric {str(key)[:30]!r} is not in the catalog; a custom metric is named in "
            "lowercase words joined by underscores, at most 60 characters (e.g. churn_rate)."
        )
    category = raw.get("category")
    if key in CATALOG:
        spec = CATALOG[key]
        if not _blank(category) and _choice(category, CATEGORIES, "Category") != spec.category:
            raise CriteriaError(
                f"{spec.label} is {A_CATEGORY[spec.category]} metric, not {category}."
            )
    else:
        if _blank(category):
            raise CriteriaError(
                f"Custom metric {key}: say whether it is an ml, software or business metric."
            )
        spec = metric_spec(key, _choice(category, CATEGORIES, "Category"))
    source = raw.get("source")
    source = spec.sources[0] if _blank(source) else _choice(source, SOURCES, "Source")
    if source not in spec.sources:
        raise CriteriaError(
            f"{spec.label} comes from {' or '.join(spec.sources)}, not from {source}."
        )
    unit = raw.get("unit")
    if not _blank(unit) and (not isinstance(unit, str) or len(unit.strip()) > MAX_UNIT):
        raise CriteriaError(
            f"{spec.label}: the unit is a short text, at most {MAX_UNIT} characters."
        )
    unit = spec.unit if _blank(unit) else unit.strip()
    if key not in CATALOG:  # a custom share is a rate like any other
        spec = replace(spec, unit=unit, bounded=unit == "share")
    elif spec.unit not in ("", "currency") and unit != spec.unit:
        # Only a currency (EUR) or the target's own units may be named: latency stays in ms.
        raise CriteriaError(f"{spec.label} is measured in {spec.unit}; keep that unit.")
    comparator = _comparator(spec, raw.get("comparator"), source)
    relative = source == "baseline"
    target = _number(spec, raw.get("target"), "baseline margin" if relative else "target", relative)
    target_high = None
    if comparator == BETWEEN:
        target_high = _number(spec, raw.get("target_high"), "upper bound (target_high)")
        if target_high <= target:
            raise CriteriaError(f"{spec.label}: the upper bound must be above the target.")
    elif not _blank(raw.get("target_high")):
        raise CriteriaError(f"{spec.label}: target_high is only for the 'between' comparator.")
    rationale = raw.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise CriteriaError(f"{spec.label}: write why this target means success for the project.")
    if len(rationale.strip()) > MAX_RATIONALE:
        raise CriteriaError(f"{spec.label}: keep the rationale under {MAX_RATIONALE} characters.")
    return {
        "metric": key,
        "category": spec.category,
        "source": source,
        "comparator": comparator,
        "target": target,
        "target_high": target_high,
        "unit": unit,
        "rationale": rationale.strip(),
    }


def clean_criteria(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A checked set: 1 to 50 criteria, no metric checked twice the same way from one source."""
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        raise CriteriaError("Success criteria are a list of criteria.")
    if not raw:
        raise CriteriaError("Agree at least one success criterion.")
    if len(raw) > MAX_CRITERIA:
        raise CriteriaError(f"Agree at most {MAX_CRITERIA} criteria; this set has {len(raw)}.")
    cleaned, seen = [], set()
    for number, item in enumerate(raw, start=1):
        try:
            criterion = clean_criterion(item)
        except CriteriaError as error:
            raise CriteriaError(f"Criterion {number}: {error}") from None
        identity = (criterion["metric"], criterion["source"], criterion["comparator"])
        if identity in seen:
            raise CriteriaError(
                f"Criterion {number}: {criterion['metric']} from {criterion['source']} with "
                f"{criterion['comparator']} is already agreed above; merge the two."
            )
        seen.add(identity)
        cleaned.append(criterion)
    return cleaned


@dataclass(frozen=True)
class Measurement:
    """A measured value with its evidence, or None with the reason it is missing."""

    value: float | None
    evidence: str = ""  # e.g. "evaluation 12 of scorer v3", a dashboard link
    reason: str = ""  # why there is no value

    def __post_init__(self) -> None:
        value = self.value
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise CriteriaError(f"A measured value is a finite number or None, not {value!r}.")


@dataclass(frozen=True)
class Outcome:
    status: str  # met / not_met / not_measured
    value: float | None
    target_text: str
    detail: str


def _rounded(value: float, *targets: float) -> float:
    """``value`` to three significant digits for reading (0.894181 -> 0.894), or to as many
    more as keep it apart from the targets (0.8496 stays 0.8496 beside a target of 0.85)."""
    for digits in range(3, 16):
        rounded = float(f"{value:.{digits}g}")
        if all((rounded == target) == (value == target) for target in targets):
            return rounded
    return value


def _text(value: float) -> str:
    """A number as people write it: 250, 1,000, 0.80, 0.005 (at least two decimals)."""
    value = float(f"{value:.12g}")  # hide float noise such as 0.30000000000000004
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value.is_integer() and 1 <= value < 1e15:
        return f"{sign}{int(value):,}"
    text = repr(value)
    if "e" in text:
        return sign + text
    whole, _, decimals = text.partition(".")
    return f"{sign}{int(whole):,}.{decimals.ljust(2, '0')}"


def _suffix(unit: str) -> str:
    return "" if unit in UNITLESS else f" {unit}"


def _effective(criterion: Mapping[str, Any], baseline: float) -> float:
    # Added in decimal, so a baseline of 0.79 plus 0.02 is 0.81, not 0.8100000000000001.
    margin = Decimal(repr(float(criterion["target"])))
    start = Decimal(repr(float(baseline)))
    return float(start + margin if criterion["comparator"] == AT_LEAST else start - margin)


def target_text(criterion: Mapping[str, Any], baseline: float | None = None) -> str:
    """The target as a person reads it: "≥ 0.80", "≤ 250 ms", "between 0.02 and 0.05"."""
    comparator, unit = criterion["comparator"], _suffix(criterion["unit"])
    target = float(criterion["target"])
    if criterion["source"] == "baseline":
        sign = "+" if comparator == AT_LEAST else "-"
        text = f"{SYMBOLS[comparator]} best baseline {sign} {_text(target)}{unit}"
        if baseline is None:
            return text
        # Shown to four significant digits: a trained baseline's mean carries float noise.
        shown = float(f"{_effective(criterion, baseline):.4g}")
        return f"{text} ({_text(shown)}{unit})"
    if comparator == BETWEEN:
        return f"between {_text(target)} and {_text(float(criterion['target_high']))}{unit}"
    return f"{SYMBOLS[comparator]} {_text(target)}{unit}"


def assess(
    criterion: Mapping[str, Any], measurement: Measurement, baseline: float | None = None
) -> Outcome:
    """Whether a measured value meets a cleaned criterion.

    Comparisons are exact, with no tolerance: 0.7999 misses "≥ 0.80", and a value equal to
    a bound meets it (">=", "<=" and both ends of "between" are inclusive). What was agreed
    is what is checked; round the measurement first if the agreement says so. For a
    baseline-relative criterion ``baseline`` is the best baseline's value of the same
    metric, and the effective target is baseline plus the margin (minus, when lower is
    better), added in decimal. A deployment metric is measured once the model is deployed (until
    then it is not measured, saying why); a business value counts only with evidence,
    since it is typed in rather than computed.
    """
    if baseline is not None and (
        isinstance(baseline, bool)
        or not (isinstance(baseline, numbers.Real) and math.isfinite(baseline))
    ):
        raise CriteriaError(f"A baseline is a finite number, not {baseline!r}.")
    text = target_text(criterion, baseline)

    def not_measured(reason: str) -> Outcome:
        return Outcome(NOT_MEASURED, None, text, reason)

    source = criterion["source"]
    if source == "deployment" and measurement.value is None:
        return not_measured(measurement.reason.strip() or NOT_DEPLOYED)
    if source == "baseline" and baseline is None:
        return not_measured(f"no baseline of {criterion['metric']} on record")
    if measurement.value is None:
        return not_measured(measurement.reason.strip() or "no value measured")
    if source == "business" and not measurement.evidence.strip():
        return not_measured("a business value counts once its evidence is recorded")
    value = float(measurement.value)
    comparator = criterion["comparator"]
    low = _effective(criterion, baseline) if source == "baseline" else float(criterion["target"])
    bounds = (low,)
    if comparator == AT_LEAST:
        met = value >= low
    elif comparator == AT_MOST:
        met = value <= low
    else:
        bounds = (low, float(criterion["target_high"]))
        met = bounds[0] <= value <= bounds[1]
    detail = f"Measured {_text(_rounded(value, *bounds))}{_suffix(criterion['unit'])}, which "
    detail += f"{'meets' if met else 'misses'} {text}."
    if measurement.evidence.strip():
        detail += f" Evidence: {measurement.evidence.strip()}"
    return Outcome(MET if met else NOT_MET, value, text, detail)


def canonical(criteria: list[dict[str, Any]]) -> str:
    """The bytes a version's hash covers: JSON, sorted keys, no spaces, no NaN.

    The order of the criteria is kept: it is the order the people agreed to show them in.
    """
    return json.dumps(criteria, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_sha256(criteria: list[dict[str, Any]]) -> str:
    """A version's fingerprint, so a sign-off is bound to exactly what was agreed."""
    return hashlib.sha256(canonical(criteria).encode()).hexdigest()


@dataclass(frozen=True)
class Change:
    kind: str  # added / removed / changed
    metric: str
    source: str
    #: field -> (old, new); None on the missing side of an addition or removal.
    fields: dict[str, tuple[Any, Any]]


def _identity(criterion: Mapping[str, Any], with_comparator: bool) -> tuple[str, ...]:
    extra = (criterion["comparator"],) if with_comparator else ()
    return (criterion["metric"], criterion["source"], *extra)


def diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    """What changed between two versions of cleaned criteria.

    Criteria are the same criterion when they check the same metric from the same source;
    where a set holds two such (say ">=" and "<="), equal comparators pair first. Changes
    follow the new version's order, then the removals in the old version's order.
    """
    unmatched = list(range(len(old)))
    pairs: dict[int, int] = {}
    for exact in (True, False):
        for n, criterion in enumerate(new):
            if n in pairs:
                continue
            for o in unmatched:
                if _identity(old[o], exact) == _identity(criterion, exact):
                    pairs[n] = o
                    unmatched.remove(o)
                    break
    changes = []
    for n, criterion in enumerate(new):
        if n not in pairs:
            fields = {f: (None, criterion.get(f)) for f in FIELDS if f in criterion}
            changes.append(Change("added", criterion["metric"], criterion["source"], fields))
            continue
        before = old[pairs[n]]
        fields = {
            f: (before.get(f), criterion.get(f))
            for f in FIELDS
            if before.get(f) != criterion.get(f)
        }
        if fields:
            changes.append(Change("changed", criterion["metric"], criterion["source"], fields))
    for o in unmatched:
        fields = {f: (old[o].get(f), None) for f in FIELDS if f in old[o]}
        changes.append(Change("removed", old[o]["metric"], old[o]["source"], fields))
    return changes
