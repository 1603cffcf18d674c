"""Small, awkward frames through the audit the worker runs: one group, constant
predictions or labels, missing or unused groups. Whatever the frame, the result is a
verdict backed by enough rows, "insufficient evidence", or an AuditError a person can
read; never a "pass" on too little data, another exception, or NaN in the JSON."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.analysis.audit_config import clean_config, default_config
from audits.analysis.audit_job import audit_columns
from audits.analysis.fairness import FAIL, INSUFFICIENT, MISSING, PASS, AuditError

FRAMES = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
GAPS = ("demographic_parity_difference", "equalized_odds_difference", "max_fnr_gap")
#: The rates each check judges, and the confusion counts each rate divides by.
JUDGES = {
    "demographic_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("recall", "false_positive_rate"),
    "max_fnr_gap": ("false_negative_rate",),
    "min_recall": ("recall",),
}
DENOMINATOR = {
    "selection_rate": ("tp", "fp", "tn", "fn"),
    "recall": ("tp", "fn"),
    "false_negative_rate": ("tp", "fn"),
    "false_positive_rate": ("fp", "tn"),
}
Z = NormalDist().inv_cdf(0.975)


def _config(**limits) -> dict:
    """A checked configuration auditing the column ``g``, with ``limits`` over the defaults."""
    thresholds = {
        name: {"limit": limit, "rationale": "Set for this test."} for name, limit in limits.items()
    }
    return clean_config({**default_config(["g"]), "thresholds": thresholds})


def _audit(truth, pred, groups, config: dict, score=None) -> dict:
    return audit_columns(
        "classification", np.asarray(truth), np.asarray(pred), {"g": groups}, config, y_score=score
    )


@st.composite
def frames(draw) -> dict:
    rows = draw(st.integers(0, 30))
    names = ["a", "b", "c"][: draw(st.integers(1, 3))]
    pool = [*names, None] if draw(st.booleans()) else names  # None: a missing value
    values = draw(st.lists(st.sampled_from(pool), min_size=rows, max_size=rows))
    # As read from a file: text with NaN, or a categorical that also names a category no
    # row has (what is left after filtering rows out).
    if draw(st.booleans()):
        groups = pd.Categorical(values, categories=[*names, "unused"])
    else:
        groups = np.array([np.nan if v is None else v for v in values], dtype=object)

    def column(kind: str) -> np.ndarray:
        if kind == "all 1":
            return np.ones(rows, dtype=int)
        if kind == "all 0":
            return np.zeros(rows, dtype=int)
        return np.array(draw(st.lists(st.integers(0, 1), min_size=rows, max_size=rows)), int)

    # Mostly mixed labels: a frame with no positive label is refused, a case seen often enough.
    truth = column(draw(st.sampled_from(["mixed", "mixed", "mixed", "all 1", "all 0"])))
    pred_kind = draw(st.sampled_from(["mixed", "all 1", "all 0", "the labels"]))
    pred = truth.copy() if pred_kind == "the labels" else column(pred_kind)
    score = None
    if draw(st.booleans()):
        score = np.array(
            draw(st.lists(st.floats(0, 1), min_size=rows, max_size=rows)), dtype=np.float64
        )
    limits = {
        "demographic_parity_difference": draw(st.sampled_from([None, 0.1])),
        "equalized_odds_difference": draw(st.sampled_from([None, 0.1])),
        "max_fnr_gap": draw(st.sampled_from([None, 0.2])),
        "min_recall": draw(st.sampled_from([None, 0.5])),
        "min_group_size": draw(st.sampled_from([1, 3, 9, 30])),
        "max_interval_width": draw(st.sampled_from([0.3, 0.6, 1.0])),
    }
    return {
        "truth": truth,
        "pred": pred,
        "groups": groups,
        "values": values,
        "score": score,
        "limits": limits,
    }


def _observed(values: list) -> set[str]:
    return {MISSING if v is None else v for v in values}


def _expected_error(frame: dict) -> str | None:
    """The documented refusal this frame should meet, if any."""
    if len(frame["values"]) == 0:
        return "no rows"
    if not frame["truth"].any():
        return "positive label"  # blank picks 1, and no row is labelled 1
    gap_set = any(frame["limits"][name] is not None for name in GAPS)
    if gap_set and len(_observed(frame["values"])) == 1:
        return "only one group"
    return None


@FRAMES
@given(frames())
def test_small_frames_give_a_verdict_backed_by_enough_rows_or_a_clear_refusal(frame):
    limits = frame["limits"]
    try:
        result = _audit(
            frame["truth"], frame["pred"], frame["groups"], _config(**limits), frame["score"]
        )
    except AuditError as exc:
        expected = _expected_error(frame)
        assert expected is not None, f"refused a frame it can audit: {exc}"
        assert expected in str(exc) and str(exc).endswith("."), str(exc)
        return
    assert _expected_error(frame) is None, f"audited a frame it should refuse: {result}"

    json.dumps(result, allow_nan=False)  # raises on NaN or infinity
    (feature,) = result["features"]
    groups = {g["name"]: g for g in feature["groups"]}
    assert set(groups) == _observed(frame["values"]), "a group with no rows was listed"
    need = max(1, limits["min_group_size"])
    for verdict in result["verdicts"]:
        if verdict["status"] == INSUFFICIENT:
            assert verdict["value"] is None
            continue
        assert verdict["status"] in (PASS, FAIL), verdict
        gap = verdict["threshold"] in GAPS
        compared = verdict["groups_compared"]
        assert len(compared) >= (2 if gap else 1), verdict
        for name in compared:
            group = groups[name]
            assert group["count"] >= need, (verdict, group)
            for rate in JUDGES[verdict["threshold"]]:
                assert sum(group["confusion"][c] for c in DENOMINATOR[rate]) > 0, (rate, group)
                low, high = group["metrics"][rate]["interval"]
                assert high - low <= limits["max_interval_width"], (rate, group)
        assert np.isfinite(verdict["value"])
    statuses = [v["status"] for v in result["verdicts"]]
    if result["status"] == PASS:
        assert statuses and all(s == PASS for s in statuses), result["verdicts"]


@FRAMES
@given(frames())
def test_constant_labels_never_judge_equalized_odds(frame):
    """With every label 1 no group has a negative, so no false-positive rate exists."""
    frame["truth"][:] = 1
    limits = {**frame["limits"], "equalized_odds_difference": 0.1}
    if len(frame["values"]) == 0 or len(_observed(frame["values"])) == 1:
        return  # refused; the test above checks how
    result = _audit(frame["truth"], frame["pred"], frame["groups"], _config(**limits))
    (odds,) = [v for v in result["verdicts"] if v["threshold"] == "equalized_odds_difference"]
    assert odds["status"] == INSUFFICIENT
    assert result["status"] != PASS


def _constant_width(rows: int) -> float:
    """Wilson interval width at 0 or n successes out of n: z² / (n + z²)."""
    return Z * Z / (rows + Z * Z)


@FRAMES
@given(frames(), st.sampled_from([0, 1]))
def test_constant_predictions_pass_parity_only_between_groups_large_and_narrow_enough(
    frame, constant
):
    """Equal selection rates are a real zero gap, so parity may pass, but only between
    groups large enough (min_group_size) whose interval is narrow enough to decide."""
    frame["truth"][:1] = 1  # a positive label exists, so the audit runs
    frame["pred"][:] = constant
    limits = {**frame["limits"], "demographic_parity_difference": 0.1}
    if len(frame["values"]) == 0 or len(_observed(frame["values"])) == 1:
        return
    result = _audit(frame["truth"], frame["pred"], frame["groups"], _config(**limits))
    (parity,) = [v for v in result["verdicts"] if v["threshold"] == "demographic_parity_difference"]

    sizes = pd.Series([MISSING if v is None else v for v in frame["values"]]).value_counts()
    enough = [
        name
        for name, rows in sizes.items()
        if rows >= limits["min_group_size"]
        and _constant_width(rows) <= limits["max_interval_width"]
    ]
    assert parity["status"] != FAIL
    if len(enough) >= 2:
        assert (parity["status"], parity["value"]) == (PASS, 0.0)
        assert sorted(parity["groups_compared"]) == sorted(enough)
    else:
        assert parity["status"] == INSUFFICIENT, (parity, dict(sizes))


@pytest.mark.parametrize(
    ("rows", "min_group_size", "status"),
    [
        (30, 30, PASS),
        (29, 30, INSUFFICIENT),  # too few rows for the rule
        (9, 9, PASS),  # z² / (9 + z²) = 0.299: narrow enough for 0.3
        (8, 8, INSUFFICIENT),  # z² / (8 + z²) = 0.324: too wide
    ],
)
def test_constant_predictions_pass_parity_at_the_edge_of_enough_rows(rows, min_group_size, status):
    truth = np.tile([1, 0], rows)
    groups = np.repeat(["a", "b"], rows)
    config = _config(min_group_size=min_group_size, max_interval_width=0.3)
    result = _audit(truth, np.ones(2 * rows, int), groups, config)
    (parity,) = [v for v in result["verdicts"] if v["threshold"] == "demographic_parity_difference"]
    assert parity["status"] == status, parity


def test_an_audit_with_every_threshold_off_reports_numbers_and_does_not_say_pass():
    """No check was asked for, so nothing passed: the audit is "reported", as a
    regression audit is, and a reviewer reads the numbers."""
    off = dict.fromkeys(("demographic_parity_difference", "equalized_odds_difference"), None)
    result = _audit([1, 0] * 20, [1, 0] * 20, ["a"] * 40, _config(**off))
    assert result["verdicts"] == []
    assert result["status"] == "reported"


def test_a_category_no_row_has_is_neither_listed_nor_compared():
    """A categorical column keeps the categories of rows filtered away; such a group is
    empty, so it is not a group of the audit, and one group with rows is not a comparison."""
    groups = pd.Categorical(["a"] * 40, categories=["a", "b"])
    with pytest.raises(AuditError, match="only one group"):
        _audit([1, 0] * 20, [1, 0] * 20, groups, _config())
    groups = pd.Categorical(["a"] * 40 + ["b"] * 40, categories=["a", "b", "c"])
    result = _audit([1, 0] * 40, [1, 0] * 40, groups, _config())
    assert [g["name"] for g in result["features"][0]["groups"]] == ["a", "b"]
    assert result["status"] == PASS
