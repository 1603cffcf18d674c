"""A stored audit result laid out for people: the report page's tables and charts, the CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse

from audits.analysis.audit_config import THRESHOLD_SPECS
from audits.analysis.report import GROUP_COLUMNS, csv_rows, flagged_cells
from audits.models import AuditRun
from portal.exceptions import Conflict
from projects.analysis.charts import IntervalBar, interval_bars_svg
from projects.analysis.metric_names import METRIC_NAMES

#: Every name the report shows, from the one naming table of the portal.
LABELS = METRIC_NAMES
#: The rates drawn as bar charts with their intervals.
CHARTED = ("selection_rate", "recall", "false_positive_rate", "false_negative_rate")


def review_authors(audit: AuditRun) -> tuple[int | None, ...]:
    """The people who produced the evidence; none of them may review it."""
    evaluation = audit.evaluation
    return (
        audit.requested_by_id,
        evaluation.requested_by_id,
        evaluation.model_version.created_by_id,
    )


def _finished(audit: AuditRun) -> dict[str, Any]:
    if audit.status != AuditRun.Status.SUCCEEDED:
        raise Conflict(
            f"Audit {audit.pk} is {audit.status}; it has no result yet.", code="not_ready"
        )
    return audit.result


def audit_csv_response(audit: AuditRun) -> HttpResponse:
    result = _finished(audit)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(result))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}.csv"'
    return response


NOT_JUDGED = "not judged"


def _cell(metric: str, value: dict, flags: dict[str, str]) -> dict[str, Any]:
    flag = flags.get(metric, "")
    return {
        "metric": metric,
        "value": value.get("value"),
        "reason": value.get("reason") or "",
        "interval": value.get("interval"),
        "flag": flag,
        # The cell shows a few words; the whole reason is its tooltip.
        "flag_short": flag.split(";")[0].split(":")[0] if flag else "",
        "finding": bool(flag) and not flag.startswith(NOT_JUDGED),
    }


def _rationale(config: dict, name: str) -> str:
    return (config.get("thresholds", {}).get(name) or {}).get("rationale", "")


#: headline gap -> the rates it spans, to say which groups an older result left out of it.
HEADLINE_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equal_opportunity_difference": ("recall",),
    "equalized_odds_difference": ("recall", "false_positive_rate"),
    "equalized_odds_ratio": ("recall", "false_positive_rate"),
}


def _headlines(feature: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline gaps, each with the groups left out of it and why.

    A result stores that list; one stored before it did was computed over each rate's own
    groups, so the left-out groups are those of the rates it spans."""
    stored = feature.get("summary_excluded")
    out = []
    for name, value in (feature.get("summary") or {}).items():
        if stored is not None:
            excluded = dict(stored.get(name) or {})
        else:
            excluded = {}
            for rate in HEADLINE_RATES.get(name, ()):
                disparity = (feature.get("disparities") or {}).get(rate) or {}
                for group, why in (disparity.get("groups_excluded") or {}).items():
                    excluded.setdefault(group, why)
        out.append(
            {
                "metric": name,
                "kind": "ratio" if name.endswith("ratio") else "difference",
                "value": value,
                "excluded": excluded,
            }
        )
    return out


def audit_report(audit: AuditRun, watched: dict[str, list] | None = None) -> dict[str, Any]:
    """Everything the report page shows of one audit; ``watched`` maps a threshold to the
    risks it watches."""
    return result_report(audit.result, watched)


def result_report(result: dict[str, Any], watched: dict[str, list] | None = None) -> dict[str, Any]:
    """The tables and charts of a stored audit result (a report page, an approval pack)."""
    watched = watched or {}
    if not result:
        return {}
    kind = result["kind"]
    config = result.get("config", {})
    flags = flagged_cells(result)
    shown = [m for m in GROUP_COLUMNS[kind] if kind != "classification" or m in config["metrics"]]
    reference = {
        "recall": (config.get("thresholds", {}).get("min_recall") or {}).get("limit"),
    }
    features = []
    for feature in result["features"]:
        name = feature["feature"]
        feature_flags = flags.get(name, {})
        present = [m for m in shown if m in feature["groups"][0]["metrics"]]
        groups = [
            {
                "name": g["name"],
                "count": g["count"],
                "share": g["share"],
                "confusion": g.get("confusion", {}),
                "cells": [
                    _cell(m, g["metrics"][m], feature_flags.get(g["name"], {})) for m in present
                ],
            }
            for g in feature["groups"]
        ]
        charts = []
        if kind == "classification":
            for metric in CHARTED:
                bars = [
                    IntervalBar(
                        label=g["name"],
                        value=g["metrics"][metric]["value"],
                        low=(g["metrics"][metric].get("interval") or [None, None])[0],
                        high=(g["metrics"][metric].get("interval") or [None, None])[1],
                        # Amber for findings only; a group too small to judge is not one.
                        flagged=not feature_flags.get(g["name"], {})
                        .get(metric, NOT_JUDGED)
                        .startswith(NOT_JUDGED),
                        note=g["metrics"][metric].get("reason") or "",
                    )
                    for g in feature["groups"]
                ]
                title = f"{LABELS[metric]} by {name}, {result['confidence']:.0%} intervals"
                charts.append(
                    {
                        "title": title,
                        "svg": interval_bars_svg(
                            bars, title=title, reference=reference.get(metric)
                        ),
                    }
                )
        disparities = [
            {
                "metric": m,
                "difference": d["difference"],
                "ratio": d["ratio"],
                "excluded": d["groups_excluded"],
            }
            for m, d in feature["disparities"].items()
            if m in present
        ]
        features.append(
            {
                "name": name,
                "columns": present,
                "groups": groups,
                "charts": charts,
                "disparities": disparities,
                "summary": feature.get("summary", {}),
                "headlines": _headlines(feature),
            }
        )
    checks: dict[str, dict[str, Any]] = {}
    for v in result.get("verdicts", []):
        name = v["threshold"]
        check = checks.setdefault(
            name,
            {
                "label": LABELS.get(name, name),
                "limit": v["limit"],
                "rationale": _rationale(config, name),
                "risks": watched.get(name, []),
                "verdicts": [],
            },
        )
        check["verdicts"].append(v)
    rules = [
        {
            "label": THRESHOLD_SPECS[n].label,
            "limit": (config.get("thresholds", {}).get(n) or {}).get("limit"),
            "rationale": _rationale(config, n),
        }
        for n in ("min_group_size", "max_interval_width")
    ]
    return {
        "kind": kind,
        "status": result.get("status"),
        "rows": result.get("rows"),
        "positive_label": result.get("positive_label"),
        "confidence": result.get("confidence"),
        "confidence_pct": f"{result['confidence']:.0%}" if result.get("confidence") else "",
        "notes": result.get("notes", []),
        "sensitive_sources": result.get("sensitive_sources", {}),
        "checks": list(checks.values()),
        "rules": rules,
        "features": features,
        "class_report": result.get("class_report"),
        "labels": LABELS,
    }
