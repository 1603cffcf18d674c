"""Reading a stored fairness result: which cells to look at, and a long CSV of everything.

Works on the JSON-safe dict the portal stores, not on the audit objects, so a result saved
months ago renders and downloads the same way::

    {"kind": "classification" | "regression", ...audit.to_dict()...,
     "class_report": ClassReport.to_dict()}          # class_report optional

Pure Python (no Django): group names and feature names come from user data, so every text
cell of the CSV is made spreadsheet-safe; numbers are written at full precision and never
quoted, so a negative mean error stays a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projects.analysis.exports import spreadsheet_safe
from projects.analysis.metric_names import metric_phrase

from .fairness import CHECKS, FAIL

# kind -> the metric columns of the group table, in reading order (count and share are
# shown separately). roc_auc is only there when the audit had scores.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "classification": (
        "selection_rate",
        "base_rate",
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "false_positive_rate",
        "false_negative_rate",
        "true_negative_rate",
        "f1",
        "roc_auc",
    ),
    "regression": ("mean_true", "mean_pred", "mean_error", "mae", "rmse", "r2"),
}
CONFUSION = ("tp", "fp", "tn", "fn")
CSV_HEADER = (
    "section",
    "feature",
    "group",
    "metric",
    "value",
    "interval_low",
    "interval_high",
    "note",
)
# threshold -> (metrics it judges, whether it is a gap between groups rather than a floor)
JUDGES: dict[str, tuple[tuple[str, ...], bool]] = {
    name: (metrics, gap) for name, metrics, gap in CHECKS
}

Flags = dict[str, dict[str, dict[str, str]]]


def _metric_values(result: Mapping[str, Any], feature: str, metric: str) -> dict[str, float]:
    """Group name -> defined value of ``metric`` in one feature of the result."""
    for entry in result.get("features", ()):
        if entry["feature"] == feature:
            out = {}
            for group in entry["groups"]:
                value = group["metrics"].get(metric, {}).get("value")
                if value is not None:
                    out[group["name"]] = value
            return out
    return {}


def _pair(a: float, b: float) -> tuple[str, str]:
    """Both numbers with just enough decimals to tell them apart (0.1004 vs 0.10)."""
    for digits in range(2, 7):
        left, right = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if left != right:
            break
    return left, right


def _add(flags: Flags, feature: str, group: str, metric: str, reason: str) -> None:
    cell = flags.setdefault(feature, {}).setdefault(group, {})
    old = cell.get(metric)
    if old is None:
        cell[metric] = reason
    elif reason not in old.split("; "):
        cell[metric] = f"{old}; {reason}"


def flagged_cells(result: Mapping[str, Any]) -> Flags:
    """feature -> group -> metric -> short reason, for the cells a reviewer should look at.

    A failing gap check flags the groups at both ends of the gap in the metric(s) whose gap
    is over the limit; a failing floor check flags every compared group below it. A group a
    verdict left out (too small, undefined or too uncertain) is flagged on the metrics that
    verdict judges, whatever its status, so "not judged" is as visible as "failed".
    """
    flags: Flags = {}
    for verdict in result.get("verdicts", ()):
        judged = JUDGES.get(verdict["threshold"])
        if judged is None:
            continue
        metrics, gap = judged
        feature, limit = verdict["feature"], verdict["limit"]
        compared = set(verdict.get("groups_compared", ()))
        if verdict["status"] == FAIL:
            for metric in metrics:
                values = {
                    name: value
                    for name, value in _metric_values(result, feature, metric).items()
                    if name in compared
                }
                if not values:
                    continue
                if gap:
                    low, high = min(values.values()), max(values.values())
                    if high - low <= limit:
                        continue  # the other judged metric broke the limit
                    shown_gap, shown_limit = _pair(high - low, limit)
                    tail = f"gap {shown_gap} > {shown_limit}"
                    words = metric_phrase(metric)
                    for name, value in values.items():
                        if value == high:
                            _add(flags, feature, name, metric, f"highest {words}; {tail}")
                        if value == low:
                            _add(flags, feature, name, metric, f"lowest {words}; {tail}")
                else:
                    for name, value in values.items():
                        if value < limit:
                            shown, shown_limit = _pair(value, limit)
                            reason = f"{metric_phrase(metric)} {shown} < minimum {shown_limit}"
                            _add(flags, feature, name, metric, reason)
        for name, why in verdict.get("groups_excluded", {}).items():
            # "recall: no positives" or "false-positive rate interval ... wider" names the
            # one metric (older results spell it as its code).
            named = [
                m
                for m in metrics
                if why.startswith(
                    (f"{m}:", f"{m} ", f"{metric_phrase(m)}:", f"{metric_phrase(m)} ")
                )
            ]
            for metric in named or metrics:
                _add(flags, feature, name, metric, f"not judged: {why}")
    return flags


# ---------------------------------------------------------------- CSV


def _number(value: Any) -> str:
    """Full precision, unquoted: str for ints, repr for floats (round-trips exactly)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _row(
    section: str,
    feature: str,
    group: str,
    metric: str,
    value: Any = None,
    interval: Any = None,
    note: str = "",
) -> list[str]:
    low, high = interval if interval else (None, None)
    return [
        spreadsheet_safe(section),
        spreadsheet_safe(feature),
        spreadsheet_safe(group),
        spreadsheet_safe(metric),
        "" if value is None else _number(value),
        "" if low is None else _number(low),
        "" if high is None else _number(high),
        spreadsheet_safe(note),
    ]


def _value_row(
    section: str, feature: str, group: str, metric: str, value: Mapping[str, Any], note: str = ""
) -> list[str]:
    """One Value dict ({value, reason?, interval?}); an undefined one says why in the note."""
    notes = [n for n in (value.get("reason") or "", note) if n]
    return _row(
        section, feature, group, metric, value.get("value"), value.get("interval"), "; ".join(notes)
    )


def _ordered(metrics: Mapping[str, Any], kind: str) -> list[str]:
    known = [m for m in GROUP_COLUMNS.get(kind, ()) if m in metrics]
    return known + sorted(m for m in metrics if m not in known)


def csv_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The whole result as a long table for download, header first.

    Columns: section, feature, group, metric, value, interval_low, interval_high, note.
    Sections: group (count, share, each metric, confusion counts), disparity (difference and
    ratio per metric), summary (headline numbers), verdict (one per threshold) and class
    (per-class precision, recall, f1, support). Long format keeps one parser for every kind
    of result and leaves no cell meaning "see column header of another table".
    """
    kind = result.get("kind", "classification")
    rows = [list(CSV_HEADER)]
    features = result.get("features", ())
    for entry in features:
        feature = entry["feature"]
        for group in entry["groups"]:
            name = group["name"]
            rows.append(_row("group", feature, name, "count", group["count"]))
            rows.append(_row("group", feature, name, "share", group["share"]))
            for metric in _ordered(group["metrics"], kind):
                rows.append(_value_row("group", feature, name, metric, group["metrics"][metric]))
            confusion = group.get("confusion") or {}
            for cell in [*CONFUSION, *sorted(set(confusion) - set(CONFUSION))]:
                if cell in confusion:
                    rows.append(_row("group", feature, name, cell, confusion[cell]))
    for entry in features:
        feature = entry["feature"]
        for metric in _ordered(entry.get("disparities", {}), kind):
            disparity = entry["disparities"][metric]
            excluded = disparity.get("groups_excluded") or {}
            note = "; ".join(f"excluded {name}: {why}" for name, why in excluded.items())
            for part in ("difference", "ratio"):
                rows.append(
                    _value_row("disparity", feature, "", f"{metric} {part}", disparity[part], note)
                )
    for entry in features:
        for name, value in (entry.get("summary") or {}).items():
            rows.append(_value_row("summary", entry["feature"], "", name, value))
    for verdict in result.get("verdicts", ()):
        note = f"{verdict['status']}: {verdict['explanation']} (limit {verdict['limit']})"
        rows.append(
            _row(
                "verdict",
                verdict["feature"],
                "",
                verdict["threshold"],
                verdict["value"],
                None,
                note,
            )
        )
    report = result.get("class_report")
    if report:
        for cls in report.get("classes", ()):
            rare = "rare" if cls.get("flagged") else ""
            for metric in ("precision", "recall", "f1"):
                rows.append(_value_row("class", "", cls["label"], metric, cls[metric], rare))
            rows.append(_row("class", "", cls["label"], "support", cls["support"], None, rare))
    return rows
