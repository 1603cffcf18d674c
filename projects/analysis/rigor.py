"""Evaluation rigor: is the candidate judged on data it never learnt from, and does it beat
the best baseline on the metric the criteria put first? Pure: no Django import.

:func:`training_overlap` says in plain words why an evaluation is on training data (the
model's own training version, a version derived from it by lineage, or any version of a
training dataset); :func:`independence_check` is the gate's rule built on it.
:func:`baseline_standing` compares an evaluation's stored value of the primary metric with
the best baseline's (the primary metric is the metric of the first ML criterion of the
current criteria version, in the order its authors wrote them);
:func:`baseline_standing_check` reports it in the gate as a check that always passes and
says the flag in its detail, so a number below the baseline is seen without holding the
gate (the criteria decide whether it is good enough).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .gates import Check
from .numbers import significant

TRAINING, VALIDATION, TEST = "training", "validation", "test"
#: Purposes of data held out to judge a model on.
HELD_OUT = (VALIDATION, TEST)
#: How each dataset purpose reads in a sentence ("a version of reference data").
PURPOSE_WORDS = {
    TRAINING: "training",
    VALIDATION: "validation",
    TEST: "test",
    "reference": "drift-reference",
    "production_sample": "production-sample",
}

INDEPENDENCE = "Candidate evaluated on validation or test data independent of its training data"
BASELINE_STANDING = "Candidate against the best baseline on the primary metric"


@dataclass(frozen=True)
class EvaluatedData:
    """What the independence rule needs to know about one evaluation."""

    evaluation_id: int
    #: The evaluated dataset version: its id, how it reads ("credit-test v1") and the
    #: purpose of its dataset.
    version_id: int
    version: str
    purpose: str
    #: The model's recorded training data (None and "" when not recorded).
    training_id: int | None
    training: str
    #: Ids of every version the evaluated one is derived from, through any number of levels.
    ancestor_ids: frozenset[int] = frozenset()
    #: Ids of every version the training data was made from: evaluated on one of them, the
    #: model learnt from its rows.
    training_ancestor_ids: frozenset[int] = frozenset()
    #: False when the lineage was deeper than the walk follows: nothing can be shown then.
    lineage_complete: bool = True


def _purpose(purpose: str) -> str:
    return PURPOSE_WORDS.get(purpose, purpose.replace("_", " "))


def training_overlap(data: EvaluatedData) -> str:
    """Why the evaluation is on training data, naming the versions; "" when it is not.

    On training data means: the model's training version itself, a version derived from it
    (it is among the evaluated version's ancestors), a version the training data was made
    from (the evaluated version is among the training version's ancestors), or a version of
    a dataset whose purpose is training."""
    head = f"evaluation {data.evaluation_id} is on {data.version}"
    if data.training_id is not None and data.version_id == data.training_id:
        return f"{head}, the model's training data"
    if data.training_id is not None and data.training_id in data.ancestor_ids:
        return f"{head}, derived from {data.training}, the model's training data"
    if data.version_id in data.training_ancestor_ids:
        return f"{head}, which {data.training}, the model's training data, was made from"
    if data.purpose == TRAINING:
        return f"{head}, a version of training data"
    return ""


def independence_check(data: EvaluatedData | None) -> Check:
    """The gate into deployment: the candidate's newest evaluation is on validation or test
    data, its training data is recorded, and the evaluated version is neither that training
    version nor derived from it."""
    if data is None:
        return Check(
            INDEPENDENCE,
            False,
            "The candidate model has no finished evaluation to judge.",
            key="evaluation.missing",
        )
    overlap = training_overlap(data)
    if overlap:
        return Check(
            INDEPENDENCE,
            False,
            f"{overlap[0].upper()}{overlap[1:]}; evaluate the model on validation or test "
            "data that is not derived from its training data.",
            key="evaluation.independence",
            ref=data.evaluation_id,
        )
    if not data.lineage_complete:
        return Check(
            INDEPENDENCE,
            False,
            f"The lineage of {data.version} or of {data.training} is deeper than the portal "
            "follows, so the evaluation cannot be shown to be independent of the training "
            "data; evaluate the model on a version with a shorter history.",
            key="evaluation.independence",
            ref=data.evaluation_id,
        )
    if data.training_id is None:
        return Check(
            INDEPENDENCE,
            False,
            f"The model's training data is not recorded, so evaluation {data.evaluation_id} "
            f"on {data.version} cannot be shown to be independent of it; record the model's "
            "training data on its page.",
            key="evaluation.independence",
            ref=data.evaluation_id,
        )
    if data.purpose not in HELD_OUT:
        return Check(
            INDEPENDENCE,
            False,
            f"Evaluation {data.evaluation_id} is on {data.version}, {_purpose(data.purpose)} "
            "data; evaluate the model on validation or test data.",
            key="evaluation.independence",
            ref=data.evaluation_id,
        )
    return Check(
        INDEPENDENCE,
        True,
        f"Evaluation {data.evaluation_id} is on {data.version} ({_purpose(data.purpose)} "
        f"data), neither {data.training}, the model's training data, nor derived from it.",
        key="evaluation.independence",
        ref=data.evaluation_id,
    )


def primary_ml_criterion(criteria: Sequence[Mapping]) -> Mapping | None:
    """The criterion whose metric is the primary metric: the first ML criterion of a criteria
    version, in the order its authors wrote them."""
    return next((c for c in criteria if c.get("category") == "ml"), None)


@dataclass(frozen=True)
class BaselineStanding:
    """An evaluation's value of the primary metric beside the best baseline's."""

    metric: str
    label: str
    #: The stored numbers; None when either side has none.
    value: float | None
    baseline: str
    baseline_value: float | None
    #: True only when both numbers exist and the evaluation's is worse.
    below: bool
    detail: str


def _worse(value: float, than: float, higher_is_better: bool) -> bool:
    return value < than if higher_is_better else value > than


def baseline_standing(
    *,
    evaluation_id: int | None,
    criteria_version: int | None,
    metric: str,
    label: str,
    higher_is_better: bool | None,
    value: float | None,
    baseline: str,
    baseline_value: float | None,
) -> BaselineStanding:
    """Compare ``value`` (an evaluation's stored metric) with the best baseline's
    ``baseline_value`` of the same metric, in the metric's direction. ``metric`` blank:
    there is no primary metric (no criteria, or none of them an ML criterion)."""

    def standing(below: bool, detail: str) -> BaselineStanding:
        return BaselineStanding(metric, label, value, baseline, baseline_value, below, detail)

    if criteria_version is None:
        return standing(False, "Not compared: no success criteria name a primary metric yet.")
    if not metric:
        return standing(False, f"Not compared: criteria v{criteria_version} have no ML criterion.")
    primary = (
        f"{label} is the primary metric: the first ML criterion of criteria v{criteria_version}, "
        "in written order."
    )
    if evaluation_id is None:
        return standing(False, f"Not compared: no finished evaluation. {primary}")
    if value is None:
        return standing(
            False, f"Not compared: evaluation {evaluation_id} does not report it. {primary}"
        )
    if baseline_value is None:
        return standing(False, f"Not compared: no baseline on record reports it. {primary}")
    if higher_is_better is None:
        return standing(False, f"Not compared: {label} has no better direction. {primary}")
    words = "higher" if higher_is_better else "lower"
    numbers = (
        f"evaluation {evaluation_id}'s {label} is {value:.4f} against {baseline_value:.4f} "
        f"of {baseline}, the best baseline ({words} is better). {primary}"
    )
    if _worse(value, baseline_value, higher_is_better):
        return standing(True, f"Below the best baseline: {numbers}")
    return standing(False, f"At or above the best baseline: {numbers}")


def baseline_standing_check(standing: BaselineStanding) -> Check:
    """Always passing: the flag is said in the detail, and the criteria hold the gate."""
    return Check(BASELINE_STANDING, True, standing.detail, key="evaluation.baseline_standing")


@dataclass(frozen=True)
class BaselineDelta:
    """A metric's value against the best baseline on the same metric."""

    metric: str
    value: float
    baseline: str
    baseline_value: float
    #: value minus baseline_value, so its sign says which is larger, not which is better.
    difference: float
    #: "better", "worse" or "equal", in the metric's direction.
    verdict: str

    @property
    def signed(self) -> str:
        """The difference with its sign, as a table shows it (a true minus sign)."""
        if self.difference == 0:
            return "0"
        text = significant(self.difference)
        return (text if text.startswith("-") else "+" + text).replace("-", "\u2212")


def best_baseline_delta(
    *,
    metric: str,
    value: float,
    baselines: Sequence[tuple[str, float]],
    higher_is_better: bool,
) -> BaselineDelta | None:
    """``value`` against the best of ``baselines`` (name, value) in the metric's direction
    (the first of equals); None without a baseline."""
    best: tuple[str, float] | None = None
    for name, number in baselines:
        if best is None or _worse(best[1], number, higher_is_better):
            best = (name, number)
    if best is None:
        return None
    if value == best[1]:
        verdict = "equal"
    else:
        verdict = "worse" if _worse(value, best[1], higher_is_better) else "better"
    return BaselineDelta(metric, value, best[0], best[1], value - best[1], verdict)


def comparison_deltas(rows: Sequence[Mapping]) -> dict[str, BaselineDelta]:
    """Per metric row of a comparison (``metric``, ``higher_is_better`` and ``entries`` of
    ``label``, ``kind``, ``value``): the model's value against the best baseline entry."""
    out = {}
    for row in rows:
        model = next((e for e in row["entries"] if e["kind"] == "model"), None)
        if model is None or model["value"] is None:
            continue
        baselines = [
            (e["label"], e["value"])
            for e in row["entries"]
            if e["kind"] != "model" and e["value"] is not None
        ]
        delta = best_baseline_delta(
            metric=row["metric"],
            value=model["value"],
            baselines=baselines,
            higher_is_better=row["higher_is_better"],
        )
        if delta is not None:
            out[row["metric"]] = delta
    return out
