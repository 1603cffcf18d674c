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

LABELS = {
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall (TPR)",
    "false_positive_rate": "False-positive rate",
    "false_negative_rate": "False-negative rate",
    "true_negative_rate": "True-negative rate",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "mean_true": "Mean y_true",
    "mean_pred": "Mean prediction",
    "mean_error": "Mean residual (pred - true)",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "demographic_parity_difference": "Demographic-parity difference",
    "demographic_parity_ratio": "Demographic-parity ratio",
    "equal_opportunity_difference": "Equal-opportunity difference",
    "equalized_odds_difference": "Equalized-odds difference",
    "equalized_odds_ratio": "Equalized-odds ratio",
    "min_recall": "Minimum recall",
    "max_fnr_gap": "False-negative-rate gap",
}
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
