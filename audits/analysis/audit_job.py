"""One audit as the worker runs it, on columns already read: pure, so it is benchmarked and
tested without a database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .audit_config import positive_label_for, thresholds_of
from .fairness import REPORTED, AuditError, class_report, classification_audit, regression_audit


def audit_columns(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sensitive: Mapping[str, Any],
    config: Mapping[str, Any],
    y_score: np.ndarray | None = None,
) -> dict[str, Any]:
    """The JSON-safe result of auditing one evaluation under ``config`` (a clean_config
    dict): the audit, its status, notes, and for classification the per-class report."""
    if len(y_true) == 0:  # before the positive label is looked for among no labels
        raise AuditError("There are no rows to audit.")
    intersections = [tuple(c) for c in config["intersections"]]
    thresholds = thresholds_of(config)
    if task == "regression":
        body = regression_audit(
            y_true,
            y_pred,
            sensitive,
            intersections=intersections,
            min_group_size=thresholds.min_group_size,
        ).to_dict()
        return {**body, "status": REPORTED, "notes": []}
    labels = pd.unique(y_true).tolist()
    positive = named = positive_label_for(config["positive_label"], labels)
    notes = []
    truth, pred = y_true, y_pred
    if len(labels) > 2:
        # Fairness rates need two outcomes: the positive label against all the others.
        notes.append(
            f"y_true has {len(labels)} classes; the audit compares {positive!r} with the rest."
        )
        truth, pred, positive = y_true == positive, y_pred == positive, True
    audit = classification_audit(
        truth,
        pred,
        sensitive,
        positive_label=positive,
        y_score=y_score,
        intersections=intersections,
        thresholds=thresholds,
        confidence=config["confidence"],
    )
    # The label as the data spells it, also when the audit ran one against the rest.
    body = {**audit.to_dict(), "positive_label": str(named)}
    report = class_report(y_true, y_pred, min_support=config["min_class_support"])
    return {**body, "notes": notes, "class_report": report.to_dict()}


def content_sha256(result: Mapping[str, Any]) -> str:
    """The hash a review binds to: canonical JSON (sorted keys, no spaces, no NaN)."""
    text = json.dumps(result, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()
