"""Template filters shared by the pages."""

from __future__ import annotations

from django import template

from projects.analysis.metrics import METRIC_LABELS

register = template.Library()


@register.filter
def metric_label(name: str) -> str:
    """The human name of a metric ("roc_auc" -> "ROC AUC")."""
    return METRIC_LABELS.get(name, name)
