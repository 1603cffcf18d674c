"""Template filters shared by the pages."""

from __future__ import annotations

from django import template

from projects.analysis.metrics import METRIC_LABELS

register = template.Library()


@register.filter
def metric_label(name: str) -> str:
    """The human name of a metric ("roc_auc" -> "ROC AUC")."""
    return METRIC_LABELS.get(name, name)


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template, None when absent (keys may hold spaces or signs)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def title_words(name: str) -> str:
    """A stored code as words: "insufficient_evidence" -> "Insufficient evidence"."""
    return str(name).replace("_", " ").capitalize()
