"""Template filters shared by the pages."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

from projects.analysis.criteria import CATALOG
from projects.analysis.metric_names import metric_name, words

register = template.Library()


@register.filter
def metric_label(name: str) -> str:
    """The human name of a metric ("roc_auc" -> "ROC AUC", "manual_review_rate" ->
    "Manual-review rate"); a custom metric keeps its name."""
    spec = CATALOG.get(name)
    return spec.label if spec else metric_name(name)


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template, None when absent (keys may hold spaces or signs)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def title_words(name: str) -> str:
    """A stored code as words: "insufficient_evidence" -> "Insufficient evidence",
    "ml_engineer" -> "ML engineer"."""
    return words(name)


@register.filter
def category_words(category: str) -> str:
    """A criterion's category as people write it: "ml" -> "ML", "software" -> "Software"."""
    return "ML" if category == "ml" else title_words(category)


@register.filter
def percent(share: float | None) -> str:
    """A share of one as people read it: 0.5 -> "50 %"."""
    if share is None:
        return "—"
    return f"{share * 100:.4g} %"


#: A decision as the sentence "… by someone" reads it.
DECIDED = {
    "approve": "approved",
    "reject": "rejected",
    "request_changes": "changes requested",
}


@register.filter
def decided(decision: str) -> str:
    return DECIDED.get(decision, str(decision).replace("_", " "))


@register.filter
def short_hash(digest: str | None, length: int = 12) -> str:
    """The first characters of a sha256, enough to tell two apart by eye."""
    return (digest or "")[: int(length)]


@register.filter
def iso_time(value: str | None) -> str:
    """A stored ISO timestamp as "2026-11-28 14:05 UTC" (a date stays a date)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) <= 10:
        return moment.date().isoformat()
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def person(user) -> str:
    """A user as others see them: "Maria Okafor (maria), Head of Underwriting"."""
    from projects.selectors import person_label

    return person_label(user) if user is not None else ""


@register.filter
def named(username: str | None, people: dict | None) -> str:
    """A username of a pack's state with the name its ``people`` map gives it, as
    "Maria Okafor (maria)"; the bare username when the map has none."""
    known = (people or {}).get(username) or {}
    name = known.get("name")
    return f"{name} ({username})" if name and name != username else str(username or "")
