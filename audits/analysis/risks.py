"""The failure-mode register's rules and its starter list: plain data, no Django."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

CATEGORIES = (
    ("bias_fairness", "Bias and fairness"),
    ("data_quality", "Data quality"),
    ("label_quality", "Label quality"),
    ("leakage", "Leakage"),
    ("distribution_shift", "Distribution shift"),
    ("feedback_loop", "Feedback loop"),
    ("privacy", "Privacy and personal data"),
    ("security_misuse", "Security and misuse"),
    ("robustness", "Robustness"),
    ("rare_cases", "Rare cases"),
)
SCALE = range(1, 6)


def severity(likelihood: int, impact: int) -> int:
    """Likelihood times impact, 1 to 25: the usual risk-matrix product."""
    if likelihood not in SCALE or impact not in SCALE:
        raise ValueError("Likelihood and impact run from 1 to 5.")
    return likelihood * impact


def severity_band(score: int) -> str:
    """low (1-4), medium (5-9), high (10-16), critical (17-25)."""
    if score >= 17:
        return "critical"
    if score >= 10:
        return "high"
    if score >= 5:
        return "medium"
    return "low"


#: Bands a business owner may accept only as an exception.
HIGH_BANDS = ("high", "critical")
BANDS = ("low", "medium", "high", "critical")


def is_high(likelihood: int, impact: int) -> bool:
    return severity_band(severity(likelihood, impact)) in HIGH_BANDS


def heat_map(cells: Iterable[tuple[int, int]]) -> list[dict]:
    """The likelihood-by-impact matrix of a register: rows from impact 5 down to 1, each
    with five cells (likelihood 1 to 5) holding how many risks sit there and the band."""
    counts = Counter(cells)
    return [
        {
            "impact": impact,
            "cells": [
                {
                    "likelihood": likelihood,
                    "count": counts.get((likelihood, impact), 0),
                    "band": severity_band(severity(likelihood, impact)),
                }
                for likelihood in SCALE
            ],
        }
        for impact in reversed(SCALE)
    ]


@dataclass(frozen=True)
class StarterRisk:
    key: str
    title: str
    category: str
    likelihood: int
    impact: int
    description: str
    mitigation: str
    #: Audit thresholds that watch this failure mode (names in audit_config.THRESHOLDS).
    audit_checks: tuple[str, ...] = ()


STARTER_RISKS = (
    StarterRisk(
        "group-performance-gap",
        "The model works worse for some groups",
        "bias_fairness",
        3,
        4,
        "Error rates differ between groups of a sensitive feature, so some people are "
        "refused or flagged more often for no reason related to the task.",
        "Fairness audit per sensitive feature and intersection before each release.",
        ("demographic_parity_difference", "equalized_odds_difference", "max_fnr_gap"),
    ),
    StarterRisk(
        "proxy-features",
        "Features stand in for a sensitive attribute",
        "bias_fairness",
        3,
        3,
        "Postcode, first name or purchase history encode a protected attribute even when "
        "that attribute is not a feature.",
        "Check how well each feature predicts the sensitive features; drop or justify.",
    ),
    StarterRisk(
        "missing-values-shift",
        "Missing values are not missing at random",
        "data_quality",
        3,
        3,
        "Whole segments have more gaps, so imputation quietly changes their scores.",
        "Compare missing shares per group in the profile; model missingness explicitly.",
    ),
    StarterRisk(
        "label-noise",
        "Labels are noisy or inconsistent",
        "label_quality",
        3,
        3,
        "Labellers disagree or guidelines changed between batches, so the model learns "
        "the noise and its metrics overstate quality.",
        "Double-label a sample, measure agreement, fix guidelines before training.",
    ),
    StarterRisk(
        "target-leakage",
        "Information from the future leaks into features",
        "leakage",
        2,
        5,
        "A feature is only known after the outcome (or is derived from it), so offline "
        "metrics are far better than production.",
        "Review each feature's timestamp against the prediction time; time-based splits.",
    ),
    StarterRisk(
        "train-test-overlap",
        "The same entities are in training and test data",
        "leakage",
        3,
        3,
        "Duplicates or several rows per customer across splits inflate the evaluation.",
        "Split by entity; check lineage for shared parents of train and test versions.",
    ),
    StarterRisk(
        "population-drift",
        "Production inputs differ from the training data",
        "distribution_shift",
        4,
        3,
        "Seasonality, a new market or a product change moves the input distribution.",
        "Drift checks on inputs and outputs after deployment; a retraining trigger.",
    ),
    StarterRisk(
        "feedback-loop",
        "The model's decisions shape its future training data",
        "feedback_loop",
        3,
        4,
        "Only accepted cases get outcomes, so later models learn from a biased sample.",
        "Keep a small random holdout; record decisions with outcomes.",
    ),
    StarterRisk(
        "personal-data-exposure",
        "Personal data leaks through data, logs or the model",
        "privacy",
        2,
        5,
        "Personal data is kept longer or shown wider than needed, or the model memorises it.",
        "Declare personal-data columns; minimise, pseudonymise and restrict access.",
    ),
    StarterRisk(
        "adversarial-use",
        "People game or attack the model",
        "security_misuse",
        2,
        4,
        "Applicants learn which inputs raise their score, or inputs are crafted to evade it.",
        "Monitor for unusual input patterns; keep decisive features hard to manipulate.",
    ),
    StarterRisk(
        "out-of-range-inputs",
        "Inputs outside the training range give confident nonsense",
        "robustness",
        3,
        3,
        "Values never seen in training (new categories, extreme numbers) are scored "
        "without any sign of doubt.",
        "Validate inputs against the training profile; route unknown cases to a person.",
    ),
    StarterRisk(
        "rare-segments",
        "Rare but important cases are handled badly",
        "rare_cases",
        3,
        4,
        "Small classes or segments barely influence training and overall metrics hide "
        "their errors.",
        "Report per-class and per-segment recall with support; set minimum targets.",
    ),
)
