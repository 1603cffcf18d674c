"""Reading stored fairness results: flagged cells and the long CSV (pure, no database)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from audits.analysis.fairness import (
    FAIL,
    INSUFFICIENT,
    PASS,
    Thresholds,
    class_report,
    classification_audit,
    regression_audit,
)
from audits.analysis.report import CSV_HEADER, GROUP_COLUMNS, csv_rows, flagged_cells

FORMULA = '=HYPERLINK("x")'


def stored(audit, report=None) -> dict:
    """The dict as the portal keeps it, after a trip through JSON."""
    result = audit.to_dict()
    if report is not None:
        result["class_report"] = report.to_dict()
    return json.loads(json.dumps(result))


def biased_data(seed: int = 7) -> dict:
    """Three large groups selected at clearly different rates, plus a tiny one."""
    rng = np.random.default_rng(seed)
    sizes = {"A": 800, "B": 800, "C": 800, "tiny": 12}
    rates = {"A": 0.6, "B": 0.3, "C": 0.45, "tiny": 0.5}
    group = np.concatenate([np.full(n, g, dtype=object) for g, n in sizes.items()])
    y_true = rng.random(len(group)) < 0.5
    y_pred = rng.random(len(group)) < np.array([rates[g] for g in group])
    return {"y_true": y_true.astype(int), "y_pred": y_pred.astype(int), "group": group}


def fair_data(seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.array(["X", "Y"], dtype=object), 1500)
    y_true = rng.random(len(group)) < 0.5
    # A decent model that errs the same way in both groups.
    y_pred = np.where(rng.random(len(group)) < 0.85, y_true, ~y_true)
    return {"y_true": y_true.astype(int), "y_pred": y_pred.astype(int), "group": group}


def audit_of(data: dict, **kwargs):
    return classification_audit(
        data["y_true"], data["y_pred"], {"group": data["group"]}, positive_label=1, **kwargs
    )


def parsed(result: dict) -> list[list[str]]:
    """The rows written and read back through the csv module, as a download would be."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(result))
    return list(csv.reader(io.StringIO(buffer.getvalue())))


def rows_of(table: list[list[str]], section: str) -> list[dict[str, str]]:
    header = table[0]
    return [dict(zip(header, row, strict=True)) for row in table[1:] if row[0] == section]


# --- flagged cells ------------------------------------------------------------------------------


def test_a_failing_parity_verdict_flags_the_highest_and_lowest_groups():
    audit = audit_of(biased_data())
    (verdict,) = [v for v in audit.verdicts if v.threshold == "demographic_parity_difference"]
    assert verdict.status == FAIL
    feature = audit.feature("group")
    rates = {name: feature.group(name).value("selection_rate") for name in verdict.groups_compared}
    high, low = max(rates, key=rates.get), min(rates, key=rates.get)
    assert (high, low) == ("A", "B")

    flags = flagged_cells(stored(audit))["group"]
    assert flags[high]["selection_rate"].startswith("highest selection rate; gap ")
    assert flags[low]["selection_rate"].startswith("lowest selection rate; gap ")
    assert "> 0.10" in flags[high]["selection_rate"]
    assert f"{rates[high] - rates[low]:.2f}" in flags[high]["selection_rate"]
    # The middle group is not an end of the gap.
    assert "selection_rate" not in flags.get("C", {})


def test_a_group_left_out_as_too_small_is_flagged_on_the_judged_metrics():
    audit = audit_of(biased_data())
    flags = flagged_cells(stored(audit))["group"]
    for metric in ("selection_rate", "recall", "false_positive_rate"):
        assert flags["tiny"][metric] == "not judged: 12 rows, fewer than the minimum of 30"
    assert "accuracy" not in flags["tiny"]


def test_an_excluded_group_is_flagged_even_when_the_verdict_is_insufficient():
    data = biased_data()
    keep = np.isin(data["group"], ["A", "tiny"])
    small = {k: v[keep] for k, v in data.items()}
    audit = audit_of(small, thresholds=Thresholds(equalized_odds_difference=None))
    (verdict,) = audit.verdicts
    assert verdict.status == INSUFFICIENT
    flags = flagged_cells(stored(audit))
    assert flags == {"group": {"tiny": {"selection_rate": verdict_reason(verdict, "tiny")}}}


def verdict_reason(verdict, group: str) -> str:
    return f"not judged: {verdict.groups_excluded[group]}"


def test_a_failing_floor_flags_every_group_below_it():
    data = biased_data()
    thresholds = Thresholds(
        demographic_parity_difference=None, equalized_odds_difference=None, min_recall=0.55
    )
    audit = audit_of(data, thresholds=thresholds)
    (verdict,) = audit.verdicts
    assert verdict.status == FAIL
    feature = audit.feature("group")
    below = {name for name in verdict.groups_compared if feature.group(name).value("recall") < 0.55}
    assert below == {"B", "C"}
    flags = flagged_cells(stored(audit))["group"]
    flagged_recall = {name for name, cells in flags.items() if "recall" in cells}
    assert flagged_recall == below | {"tiny"}
    recall_b = feature.group("B").value("recall")
    assert flags["B"]["recall"] == f"recall {recall_b:.2f} < minimum 0.55"


def test_a_passing_audit_flags_nothing():
    thresholds = Thresholds(min_recall=0.7, max_fnr_gap=0.1)
    audit = audit_of(fair_data(), thresholds=thresholds)
    assert audit.status == PASS
    assert flagged_cells(stored(audit)) == {}


def test_a_regression_result_has_no_verdicts_to_flag():
    audit = regression_audit([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0], {"g": list("aabb")})
    assert flagged_cells(stored(audit)) == {}


# --- CSV ----------------------------------------------------------------------------------------


def test_the_csv_starts_with_its_header_and_has_every_section():
    data = biased_data()
    audit = audit_of(data)
    report = class_report(data["y_true"], data["y_pred"])
    table = parsed(stored(audit, report))
    assert tuple(table[0]) == CSV_HEADER
    assert {row[0] for row in table[1:]} == {"group", "disparity", "summary", "verdict", "class"}
    assert all(len(row) == len(CSV_HEADER) for row in table)


def test_group_values_round_trip_exactly():
    audit = audit_of(biased_data())
    groups = rows_of(parsed(stored(audit)), "group")
    feature = audit.feature("group")
    seen = 0
    for row in groups:
        group = feature.group(row["group"])
        if row["metric"] == "count":
            assert int(row["value"]) == group.count
        elif row["metric"] == "share":
            assert float(row["value"]) == group.share
        elif row["metric"] in group.confusion:
            assert int(row["value"]) == group.confusion[row["metric"]]
        else:
            value = group.metrics[row["metric"]]
            assert float(row["value"]) == value.value
            if value.interval is not None:
                low, high = value.interval
                assert (float(row["interval_low"]), float(row["interval_high"])) == (low, high)
            seen += 1
    assert seen == 4 * len(GROUP_COLUMNS["classification"][:-1])  # no scores: no roc_auc
    metrics = [row["metric"] for row in groups if row["group"] == "A"]
    assert metrics == [
        "count",
        "share",
        *GROUP_COLUMNS["classification"][:-1],
        "tp",
        "fp",
        "tn",
        "fn",
    ]


def test_disparity_summary_and_verdict_rows_carry_the_audit_numbers():
    audit = audit_of(biased_data())
    table = parsed(stored(audit))
    feature = audit.feature("group")
    disparity = {row["metric"]: row for row in rows_of(table, "disparity")}
    sr = feature.disparities["selection_rate"]
    assert float(disparity["selection_rate difference"]["value"]) == sr.difference.value
    assert float(disparity["selection_rate ratio"]["value"]) == sr.ratio.value
    assert "excluded tiny: 12 rows" in disparity["selection_rate difference"]["note"]
    summary = {row["metric"]: row for row in rows_of(table, "summary")}
    assert summary.keys() == feature.summary.keys()
    for name, value in feature.summary.items():
        assert float(summary[name]["value"]) == value.value
    verdicts = rows_of(table, "verdict")
    assert [row["metric"] for row in verdicts] == [v.threshold for v in audit.verdicts]
    for row, verdict in zip(verdicts, audit.verdicts, strict=True):
        assert float(row["value"]) == verdict.value
        assert row["note"].startswith(f"{verdict.status}: {verdict.explanation}")
        assert f"limit {verdict.limit}" in row["note"]


def test_an_undefined_metric_is_an_empty_cell_with_its_reason():
    rng = np.random.default_rng(3)
    group = np.repeat(np.array(["has positives", "all negative"], dtype=object), 50)
    y_true = np.where(group == "all negative", 0, rng.integers(0, 2, len(group)))
    y_pred = rng.integers(0, 2, len(group))
    audit = classification_audit(y_true, y_pred, {"group": group}, positive_label=1)
    assert audit.feature("group").group("all negative").value("recall") is None
    rows = rows_of(parsed(stored(audit)), "group")
    (recall,) = [r for r in rows if r["group"] == "all negative" and r["metric"] == "recall"]
    assert recall["value"] == recall["interval_low"] == recall["interval_high"] == ""
    assert recall["note"] == "no positives in this group"


def test_a_group_named_like_a_formula_is_neutralised_but_numbers_are_not():
    data = biased_data()
    data["group"] = np.where(data["group"] == "A", FORMULA, data["group"])
    result = stored(audit_of(data))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(result))
    assert '"\'=HYPERLINK(""x"")"' in buffer.getvalue()
    groups = {row["group"] for row in rows_of(parsed(result), "group")}
    assert "'" + FORMULA in groups
    assert FORMULA not in groups
    # flagged_cells keys are the real names, for the page (which escapes them itself).
    assert "selection_rate" in flagged_cells(result)["group"][FORMULA]


def test_a_negative_mean_error_stays_a_plain_number():
    rng = np.random.default_rng(5)
    group = np.repeat(np.array(["-under", "over"], dtype=object), 40)
    y_true = rng.normal(10, 2, len(group))
    y_pred = y_true + np.where(group == "over", 1.5, -2.25) + rng.normal(0, 0.1, len(group))
    audit = regression_audit(y_true, y_pred, {"=feature": group})
    result = stored(audit)
    assert result["kind"] == "regression"
    table = parsed(result)
    rows = rows_of(table, "group")
    (error,) = [r for r in rows if r["group"] == "'-under" and r["metric"] == "mean_error"]
    expected = audit.feature("=feature").group("-under").value("mean_error")
    assert expected < 0
    assert error["value"] == repr(expected)
    assert float(error["value"]) == expected
    assert error["feature"] == "'=feature"
    metrics = [r["metric"] for r in rows if r["group"] == "over"]
    assert metrics == ["count", "share", *GROUP_COLUMNS["regression"]]
    disparity = {r["metric"]: r for r in rows_of(table, "disparity")}
    assert "mean_error ratio" in disparity
    assert disparity["mean_error ratio"]["value"] == ""
    assert disparity["mean_error ratio"]["note"] == "values of both signs"


def test_class_rows_give_per_class_numbers_and_mark_rare_classes():
    rng = np.random.default_rng(9)
    y_true = rng.choice(["cat", "dog", "=eel"], size=500, p=[0.6, 0.37, 0.03])
    y_pred = np.where(rng.random(500) < 0.8, y_true, "cat")
    data = biased_data()
    report = class_report(y_true, y_pred)
    assert "=eel" in report.rare
    rows = rows_of(parsed(stored(audit_of(data), report)), "class")
    by_cell = {(r["group"], r["metric"]): r for r in rows}
    for cls in report.classes:
        label = cls.label if cls.label != "=eel" else "'=eel"
        for metric in ("precision", "recall", "f1"):
            value = getattr(cls, metric).value
            cell = by_cell[(label, metric)]["value"]
            assert (float(cell) if cell else None) == value
        assert int(by_cell[(label, "support")]["value"]) == cls.support
        assert ("rare" in by_cell[(label, "support")]["note"]) == cls.flagged
    assert all(r["feature"] == "" for r in rows)


def test_a_result_without_a_class_report_has_no_class_rows():
    table = parsed(stored(audit_of(fair_data())))
    assert rows_of(table, "class") == []
