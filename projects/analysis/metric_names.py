"""What people read for a stored code: one naming table for metrics, gaps and thresholds,
used by the pages, the approval packs, the CSV notes and the model card's prose.

Pure Python (no Django). A code the table does not know is turned into words by
:func:`words`, which keeps acronyms in capitals ("ml_engineer" -> "ML engineer", never
"Ml engineer").
"""

from __future__ import annotations

import re

#: Words people write in capitals, whatever the case of the code they come from.
ACRONYMS = frozenset(
    {"ml", "ai", "roc", "auc", "tpr", "fpr", "fnr", "tnr", "mae", "rmse", "api", "ci", "csv"}
    | {"id", "json", "pdf", "sha256", "url", "psi", "ks", "p95", "p99", "slo", "pii", "gdpr"}
)

#: metric, gap or threshold code -> its name at the start of a sentence or a table heading.
METRIC_NAMES: dict[str, str] = {
    # Model metrics (evaluations, baselines, success criteria).
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "r2": "R-squared",
    # Group rates of a fairness audit.
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "false_positive_rate": "False-positive rate",
    "false_negative_rate": "False-negative rate",
    "true_negative_rate": "True-negative rate",
    "mean_true": "Mean of y_true",
    "mean_pred": "Mean prediction",
    "mean_error": "Mean residual (pred - true)",
    # Gaps between groups and the thresholds that judge them.
    "demographic_parity_difference": "Demographic-parity difference",
    "demographic_parity_ratio": "Demographic-parity ratio",
    "equal_opportunity_difference": "Equal-opportunity difference",
    "equalized_odds_difference": "Equalized-odds difference",
    "equalized_odds_ratio": "Equalized-odds ratio",
    "min_recall": "Minimum recall",
    "max_fnr_gap": "False-negative-rate gap",
    "min_group_size": "Minimum group size",
    "max_interval_width": "Widest interval that can decide",
}


def words(code: object) -> str:
    """A stored code as words, first letter capital, acronyms kept in capitals:
    "insufficient_evidence" -> "Insufficient evidence", "ml_engineer" -> "ML engineer"."""
    parts = str(code).replace("_", " ").split(" ")
    out = [p.upper() if p.lower() in ACRONYMS else p.lower() for p in parts]
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def metric_name(code: object) -> str:
    """The name of a metric, gap or threshold as a heading shows it."""
    return METRIC_NAMES.get(str(code)) or words(code)


def metric_phrase(code: object) -> str:
    """The name inside a sentence: "highest selection rate", but "lowest ROC AUC"."""
    name = metric_name(code)
    # Lower the first letter unless the first word is an acronym (two capitals in a row).
    if re.match(r"[A-Z][A-Z0-9]", name):
        return name
    return name[:1].lower() + name[1:]
