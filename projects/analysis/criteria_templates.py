"""Starting sets of success criteria for common kinds of project (pure data).

Each template is a list of raw criteria that ``criteria.clean_criteria`` accepts; a team
adapts one rather than adopting it unread, so every rationale says what to replace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .criteria import AT_LEAST, AT_MOST, BETWEEN, BUSINESS, CriteriaError, clean_criteria


def _c(metric: str, comparator: str, target: float, why: str, **more: Any) -> dict[str, Any]:
    return {"metric": metric, "comparator": comparator, "target": target, "rationale": why, **more}


_BUSINESS_SHARE = {"category": BUSINESS, "unit": "share"}
#: Starting sets to adapt, not to adopt unread: replace each reason with the project's own.
TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "credit_scoring": [
        _c("roc_auc", AT_LEAST, 0.75, "Below 0.75 it ranks applicants no better than our rules."),
        _c(
            "roc_auc",
            AT_LEAST,
            0.02,
            "Two points over the best baseline pays for running and explaining a model.",
            source="baseline",
        ),
        _c(
            "equalized_odds_difference",
            AT_MOST,
            0.05,
            "Good payers must be refused at one rate in every group; compliance set five points.",
        ),
        _c(
            "demographic_parity_difference", AT_MOST, 0.10, "Larger approval gaps trigger a review."
        ),
        _c("p95_latency_ms", AT_MOST, 300, "Applicants abandon the mobile form beyond 300 ms."),
        _c("manual_review_rate", AT_MOST, 0.15, "Underwriters can review 15% of applications."),
        _c(
            "bad_debt_rate",
            AT_MOST,
            0.03,
            "Losses over 3% of the amount lent wipe out the margin the product is priced for.",
            **_BUSINESS_SHARE,
        ),
    ],
    "binary_classifier": [
        _c("f1", AT_LEAST, 0.70, "At 0.70 the pilot users found the alerts worth reading."),
        _c(
            "f1",
            AT_LEAST,
            0.05,
            "Beat the best baseline by five points or ship the baseline.",
            source="baseline",
        ),
        _c("precision", AT_LEAST, 0.80, "A false alarm costs an analyst ten minutes of triage."),
        _c(
            "log_loss",
            AT_MOST,
            0.45,
            "Teams threshold the probabilities, so they must be calibrated.",
        ),
        _c(
            "error_rate",
            AT_MOST,
            0.01,
            "More failures than 1 in 100 exhaust the batch retry budget.",
        ),
    ],
    "regression": [
        _c("mae", AT_MOST, 12, "Planners order in cases of twelve units.", unit="units"),
        _c(
            "rmse",
            AT_MOST,
            2,
            "Two units better than last year's same-week sales.",
            source="baseline",
        ),
        _c("r2", AT_LEAST, 0.60, "Explain most weekly variation to be trusted for promotions."),
        _c(
            "p95_latency_ms",
            AT_MOST,
            500,
            "The nightly run must score two million pairs in its window.",
        ),
        _c(
            "stockout_rate",
            AT_MOST,
            0.02,
            "Stock-outs on over 2% of store-days cost more in lost sales than the model saves.",
            **_BUSINESS_SHARE,
        ),
    ],
    "ranking_service": [
        _c(
            "roc_auc",
            AT_LEAST,
            0.80,
            "At 0.80 offline, the last ranking change moved clicks online.",
        ),
        _c("p95_latency_ms", AT_MOST, 100, "The page budget leaves the ranking 100 ms."),
        _c("throughput_qps", AT_LEAST, 200, "Sale-day peaks reach 200 requests a second."),
        _c("memory_mb", AT_MOST, 2048, "Replicas share a 4 GB node with the feature cache."),
        _c("conversion_rate", AT_LEAST, 0.035, "Up from 3.2%, 3.5% repays the project in a year."),
        _c(
            "click_through_rate",
            BETWEEN,
            0.02,
            "Under 2% it is irrelevant; over 8% clickbait crowds out what people buy.",
            target_high=0.08,
            **_BUSINESS_SHARE,
        ),
    ],
}


def template_criteria(name: str) -> list[dict[str, Any]]:
    """A fresh, cleaned copy of a template, ready to edit."""
    if name not in TEMPLATES:
        raise CriteriaError(f"Unknown template {name!r}; choose from {', '.join(TEMPLATES)}.")
    return clean_criteria(TEMPLATES[name])


def _plain(text: str) -> str:
    return " ".join(str(text).split()).casefold()


#: Every template's reasons, as the portal wrote them: a criterion still carrying one was
#: adopted, not adapted.
TEMPLATE_RATIONALES = frozenset(_plain(c["rationale"]) for t in TEMPLATES.values() for c in t)


def template_rationales(criteria: Sequence[Mapping[str, Any]]) -> list[str]:
    """The metrics of ``criteria`` whose rationale is still a template's own text."""
    return [
        str(c.get("metric"))
        for c in criteria
        if _plain(c.get("rationale", "")) in TEMPLATE_RATIONALES
    ]
