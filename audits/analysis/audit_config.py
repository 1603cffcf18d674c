"""What a project's fairness audit checks, and why: thresholds with written rationales.

Plain data and validation, no Django. A configuration is a dict (stored as one version per
change); :func:`clean_config` checks and normalises one, :func:`thresholds_of` turns it
into the :class:`~audits.analysis.fairness.Thresholds` the audit applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .fairness import JOIN, AuditError, Thresholds
from .report import GROUP_COLUMNS


@dataclass(frozen=True)
class ThresholdSpec:
    name: str
    label: str
    #: gap: largest difference between groups, at most the limit; floor: every group at
    #: least the limit; rule: how groups are judged at all.
    kind: str
    default: float | None
    rationale: str
    integer: bool = False


THRESHOLDS = (
    ThresholdSpec(
        "demographic_parity_difference",
        "Demographic-parity difference (selection rates), at most",
        "gap",
        0.10,
        "Portal default. A gap of ten percentage points in how often groups are selected is "
        "large enough to matter to the people refused and small enough to measure on a few "
        "thousand rows. Replace it with this project's reason: what a gap costs the people "
        "affected, and any legal limit that applies.",
    ),
    ThresholdSpec(
        "equalized_odds_difference",
        "Equalized-odds difference (recall and false-positive rate), at most",
        "gap",
        0.10,
        "Portal default. Equal error rates matter more than equal selection when the base "
        "rates differ between groups; ten points is a starting point, not a norm. Say why "
        "this number suits this project.",
    ),
    ThresholdSpec(
        "min_recall",
        "Recall in every group, at least",
        "floor",
        None,
        "Off by default. Set it when missing a positive case harms the person (a missed "
        "diagnosis, a missed fraud), and say which recall the service must reach for everyone.",
    ),
    ThresholdSpec(
        "max_fnr_gap",
        "False-negative-rate gap between groups, at most",
        "gap",
        None,
        "Off by default. Set it when being wrongly refused is the harm that must be shared "
        "equally between groups.",
    ),
    ThresholdSpec(
        "min_group_size",
        "Rows a group needs to be judged",
        "rule",
        30,
        "Portal default. Below about 30 rows a rate's interval is too wide to call a gap a "
        "finding; such groups are reported but judged 'insufficient evidence'.",
        integer=True,
    ),
    ThresholdSpec(
        "max_interval_width",
        "Widest confidence interval that can decide",
        "rule",
        0.30,
        "Portal default. A group whose rate is uncertain by more than 30 points cannot "
        "decide pass or fail; collect more rows for it instead.",
    ),
)
THRESHOLD_SPECS = {spec.name: spec for spec in THRESHOLDS}
#: How the portal's own rationales begin: text that says the team has not given its reason.
PLACEHOLDER_OPENINGS = ("Portal default.", "Off by default.")


def placeholder_thresholds(config: Mapping[str, Any]) -> list[str]:
    """The thresholds in use (with a limit) whose rationale is still the portal's own
    default text, in THRESHOLDS order: a configuration with any cannot back a gate."""
    thresholds = config.get("thresholds") or {}
    out = []
    for spec in THRESHOLDS:
        entry = thresholds.get(spec.name) or {}
        rationale = str(entry.get("rationale") or "").strip()
        if entry.get("limit") is not None and (
            rationale == spec.rationale or rationale.startswith(PLACEHOLDER_OPENINGS)
        ):
            out.append(spec.name)
    return out


#: The largest row count a setting may name (a database integer holds it everywhere).
MAX_ROWS = 10**9
#: The thresholds that judge the model (not how groups are judged): a risk can be watched
#: by them.
WATCHING_CHECKS = tuple(s.name for s in THRESHOLDS if s.kind != "rule")

#: Group metrics a report can show, in table order.
CLASSIFICATION_METRICS = GROUP_COLUMNS["classification"]
DEFAULT_METRICS = CLASSIFICATION_METRICS
DEFAULTS: dict[str, Any] = {
    "sensitive_features": [],
    "intersections": [],
    "positive_label": "",
    "metrics": list(DEFAULT_METRICS),
    "confidence": 0.95,
    "min_class_support": 30,
}


def default_config(sensitive_features: list[str] | None = None) -> dict[str, Any]:
    """The portal's defaults, each threshold with its default rationale."""
    return {
        **DEFAULTS,
        "sensitive_features": list(sensitive_features or []),
        "metrics": list(DEFAULT_METRICS),
        "thresholds": {s.name: {"limit": s.default, "rationale": s.rationale} for s in THRESHOLDS},
    }


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise AuditError(f"{what} must be a list of column names.")
    names = [v.strip() for v in value if v.strip()]
    if len(set(names)) != len(names):
        raise AuditError(f"{what} names a column twice.")
    return names


def _limit(spec: ThresholdSpec, raw: Any) -> float | int | None:
    if raw is None or raw == "":
        if spec.kind == "rule":
            raise AuditError(f"{spec.label}: give a value; this rule cannot be switched off.")
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise AuditError(f"{spec.label}: {str(raw)[:30]!r} is not a number.") from None
    if spec.integer:
        if not value.is_integer() or not 1 <= value <= MAX_ROWS:
            raise AuditError(f"{spec.label}: give a whole number of rows, 1 to {MAX_ROWS:,}.")
        return int(value)
    if not math.isfinite(value) or not 0 <= value <= 1 or (spec.kind == "rule" and value == 0):
        raise AuditError(f"{spec.label}: give a number between 0 and 1.")
    return value


def clean_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A checked, normalised configuration; AuditError names the first problem."""
    unknown = set(raw) - {*DEFAULTS, "thresholds"}
    if unknown:
        raise AuditError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    base = default_config()
    sensitive = _names(raw.get("sensitive_features", []), "Sensitive features")
    if not sensitive:
        raise AuditError("Name at least one sensitive feature (a column of the predictions).")
    intersections = []
    for combo in raw.get("intersections") or []:
        combo = _names(combo, "An intersection")
        if len(combo) < 2 or not set(combo) <= set(sensitive):
            raise AuditError(
                f"Intersection {JOIN.join(combo) or '(empty)'} must join two or more of the "
                f"sensitive features ({', '.join(sensitive)})."
            )
        if combo not in intersections:
            intersections.append(combo)
    metrics = _names(raw.get("metrics") or list(DEFAULT_METRICS), "Metrics")
    unknown = [m for m in metrics if m not in CLASSIFICATION_METRICS]
    if unknown:
        raise AuditError(
            f"Unknown metrics: {', '.join(unknown)}; choose from "
            f"{', '.join(CLASSIFICATION_METRICS)}."
        )
    label = raw.get("positive_label", "")
    if not isinstance(label, str | int | bool):
        raise AuditError("The positive label is a single value such as 1, yes or >50K.")
    thresholds = {}
    given = raw.get("thresholds") or {}
    if not isinstance(given, Mapping):
        raise AuditError("thresholds must map a threshold's name to its limit and rationale.")
    unknown = set(given) - set(THRESHOLD_SPECS)
    if unknown:
        raise AuditError(
            f"Unknown thresholds: {', '.join(sorted(unknown))}; the thresholds are "
            f"{', '.join(THRESHOLD_SPECS)}."
        )
    for spec in THRESHOLDS:
        entry = given.get(spec.name, base["thresholds"][spec.name])
        if not isinstance(entry, Mapping):
            entry = {"limit": entry, "rationale": ""}
        limit = _limit(spec, entry.get("limit"))
        rationale = str(entry.get("rationale") or "").strip()
        if limit is not None and not rationale:
            raise AuditError(f"{spec.label}: write why this limit suits the project.")
        thresholds[spec.name] = {"limit": limit, "rationale": rationale}
    confidence = raw.get("confidence", DEFAULTS["confidence"])
    if not isinstance(confidence, int | float) or not 0.5 <= confidence < 1:
        raise AuditError("Confidence must be at least 0.5 and below 1 (for example 0.95).")
    support = raw.get("min_class_support", DEFAULTS["min_class_support"])
    if not isinstance(support, int) or isinstance(support, bool) or not 1 <= support <= MAX_ROWS:
        raise AuditError(f"The rare-class support threshold is a whole number, 1 to {MAX_ROWS:,}.")
    return {
        "sensitive_features": sensitive,
        "intersections": intersections,
        "positive_label": str(label).strip(),
        "metrics": metrics,
        "thresholds": thresholds,
        "confidence": float(confidence),
        "min_class_support": support,
    }


def thresholds_of(config: Mapping[str, Any]) -> Thresholds:
    return Thresholds(**{name: entry["limit"] for name, entry in config["thresholds"].items()})


def positive_label_for(config_label: str, labels: list[Any]) -> Any:
    """The value in y_true that the configured positive label names.

    Labels read from files may be numbers ("1" names 1 or 1.0) or text ("yes", ">50K").
    Blank picks 1 (or True) when the labels are 0/1; anything else must be named.
    """
    seen = sorted(labels, key=repr)
    if config_label == "":
        for candidate in (1, True):
            if any(v == candidate and not isinstance(v, str) for v in labels):
                return next(v for v in labels if v == candidate and not isinstance(v, str))
        raise AuditError(
            "Set the positive label in the audit configuration; the labels seen are "
            f"{', '.join(map(repr, seen[:10]))}."
        )
    for value in labels:
        if str(value) == config_label:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                if float(config_label) == value:
                    return value
            except ValueError:
                pass
    raise AuditError(
        f"The positive label {config_label!r} never occurs in y_true; the labels seen are "
        f"{', '.join(map(repr, seen[:10]))}."
    )
