"""Fairness audit core against fairlearn's MetricFrame and scikit-learn (no database)."""

from __future__ import annotations

import functools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audits.analysis.fairness import (
    FAIL,
    INSUFFICIENT,
    JOIN,
    MISSING,
    PASS,
    AuditError,
    Thresholds,
    class_report,
    classification_audit,
    regression_audit,
)
from audits.analysis.intervals import wilson_interval, z_value

TOL = 1e-9
# No group left out: no size minimum, and any interval is narrow enough.
ALL_GROUPS = Thresholds(min_group_size=0, max_interval_width=1.0)

# our metric name -> fairlearn / scikit-learn function on 0/1 labels
FAIRLEARN = {
    "count": count,
    "selection_rate": selection_rate,
    "base_rate": lambda y, p: float(np.mean(y)),
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "precision": functools.partial(skm.precision_score, zero_division=np.nan),
    "recall": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "f1": functools.partial(skm.f1_score, zero_division=np.nan),
}


def synthetic(seed: int, n: int = 4000, positive_share: float = 0.3):
    rng = np.random.default_rng(seed)
    race = rng.choice(["A", "B", "C", "D", "E"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    sex = rng.choice(["F", "M"], n)
    y = (rng.random(n) < positive_share).astype(int)
    # Scores depend on the label and a little on the group, so groups differ.
    score = np.clip(0.35 * y + 0.05 * (race == "B") + rng.random(n) * 0.6, 0, 1)
    score = np.round(score, 2)  # ties, to exercise the mid-rank AUC
    pred = (score > 0.5).astype(int)
    return y, pred, score, {"race": race, "sex": sex}


def frame(y, p, sensitive, score=None):
    metrics = dict(FAIRLEARN)
    params = {}
    if score is not None:
        metrics["roc_auc"] = lambda y, p, y_score: skm.roc_auc_score(y, y_score)
        params = {"roc_auc": {"y_score": score}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=p,
            sensitive_features=sensitive,
            sample_params=params,
        )


def key(name: str, feature: str):
    return tuple(name.split(JOIN)) if JOIN in feature else name


def assert_groups_match(feature_audit, mf: MetricFrame) -> int:
    """Every defined group metric equals fairlearn's; returns how many were compared."""
    by_group = mf.by_group
    compared = 0
    assert len(feature_audit.groups) == len(by_group)
    for group in feature_audit.groups:
        row = by_group.loc[key(group.name, feature_audit.feature)]
        assert group.count == row["count"]
        for metric, value in group.metrics.items():
            if value.value is None:
                assert value.reason
                continue
            assert value.value == pytest.approx(row[metric], abs=TOL), (group.name, metric)
            compared += 1
    return compared


def assert_disparities_match(feature_audit, mf: MetricFrame) -> None:
    diff, ratio = mf.difference(), mf.ratio()
    for metric, disparity in feature_audit.disparities.items():
        assert disparity.difference.value == pytest.approx(diff[metric], abs=TOL), metric
        if disparity.ratio.value is not None:
            assert disparity.ratio.value == pytest.approx(ratio[metric], abs=TOL), metric


def audit_all(y, p, sensitive, score=None, **kwargs):
    return classification_audit(
        y,
        p,
        sensitive,
        positive_label=1,
        y_score=score,
        intersections=[("race", "sex")],
        thresholds=ALL_GROUPS,
        **kwargs,
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_it_matches_fairlearn_group_metrics_and_gaps_on_random_data(seed):
    y, p, score, sensitive = synthetic(seed)
    audit = audit_all(y, p, sensitive, score)
    frames = {
        "race": frame(y, p, sensitive["race"], score),
        "sex": frame(y, p, sensitive["sex"], score),
        # A DataFrame of features gives fairlearn's intersection groups.
        f"race{JOIN}sex": frame(y, p, pd.DataFrame(sensitive), score),
    }
    for name, mf in frames.items():
        feature = audit.feature(name)
        assert assert_groups_match(feature, mf) == len(feature.groups) * 11
        assert_disparities_match(feature, mf)


@pytest.mark.parametrize("seed", [0, 7, 11])
def test_it_matches_fairlearn_parity_and_equalized_odds(seed):
    y, p, _, sensitive = synthetic(seed)
    audit = audit_all(y, p, sensitive)
    cases = {
        "race": sensitive["race"],
        "sex": sensitive["sex"],
        f"race{JOIN}sex": pd.DataFrame(sensitive),
    }
    for name, features in cases.items():
        summary = audit.feature(name).summary
        expected = {
            "demographic_parity_difference": demographic_parity_difference(
                y, p, sensitive_features=features
            ),
            "demographic_parity_ratio": demographic_parity_ratio(y, p, sensitive_features=features),
            "equalized_odds_difference": equalized_odds_difference(
                y, p, sensitive_features=features
            ),
            "equalized_odds_ratio": equalized_odds_ratio(y, p, sensitive_features=features),
            "equal_opportunity_difference": MetricFrame(
                metrics=true_positive_rate, y_true=y, y_pred=p, sensitive_features=features
            ).difference(),
        }
        for metric, value in expected.items():
            assert summary[metric].value == pytest.approx(value, abs=TOL), (name, metric)


def test_it_binarizes_string_labels_with_the_positive_label():
    y, p, _, sensitive = synthetic(3)
    labels = np.array(["<=50K", ">50K"])
    y_text, p_text = labels[y], labels[p]
    audit = classification_audit(
        y_text, p_text, sensitive, positive_label=">50K", thresholds=ALL_GROUPS
    )
    pos = {"pos_label": ">50K"}
    mf = MetricFrame(
        metrics={
            "selection_rate": functools.partial(selection_rate, **pos),
            "recall": functools.partial(skm.recall_score, **pos),
            "precision": functools.partial(skm.precision_score, **pos),
            "f1": functools.partial(skm.f1_score, **pos),
            "accuracy": skm.accuracy_score,
        },
        y_true=y_text,
        y_pred=p_text,
        sensitive_features=sensitive["race"],
    )
    race = audit.feature("race")
    for group in race.groups:
        for metric in mf.by_group.columns:
            expected = mf.by_group.loc[group.name, metric]
            assert group.value(metric) == pytest.approx(expected, abs=TOL)
    assert audit.positive_label == ">50K"
    # Same numbers as with 0/1 labels.
    numeric = classification_audit(y, p, sensitive, positive_label=1, thresholds=ALL_GROUPS)
    assert race.to_dict() == numeric.feature("race").to_dict()


def test_it_puts_missing_sensitive_values_in_their_own_group():
    y, p, score, sensitive = synthetic(5)
    rng = np.random.default_rng(5)
    race = sensitive["race"].astype(object)
    race[rng.random(len(race)) < 0.1] = None
    race[:3] = [np.nan, None, pd.NA]
    with pytest.raises(ValueError, match="missing values"):
        MetricFrame(metrics=selection_rate, y_true=y, y_pred=p, sensitive_features=race)
    audit = classification_audit(
        y,
        p,
        {"race": race, "sex": sensitive["sex"]},
        positive_label=1,
        y_score=score,
        intersections=[("race", "sex")],
        thresholds=ALL_GROUPS,
    )
    names = [g.name for g in audit.feature("race").groups]
    assert names == ["A", "B", "C", "D", "E", MISSING]
    filled = np.where(pd.isna(race), MISSING, race)
    assert_groups_match(audit.feature("race"), frame(y, p, filled, score))
    both = pd.DataFrame({"race": filled, "sex": sensitive["sex"]})
    feature = audit.feature(f"race{JOIN}sex")
    assert_groups_match(feature, frame(y, p, both, score))
    assert_disparities_match(feature, frame(y, p, both, score))


def test_it_matches_fairlearn_on_breast_cancer_with_a_generated_feature():
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    score = model.predict_proba(x)[:, 1]
    pred = model.predict(x)
    rng = np.random.default_rng(0)
    # Tied loosely to tumour size so that groups really differ.
    site = np.where(x[:, 0] + rng.normal(0, 3, len(y)) > 14, "north", "south")
    audit = classification_audit(
        y, pred, {"site": site}, positive_label=1, y_score=score, thresholds=ALL_GROUPS
    )
    mf = frame(y, pred, site, score)
    assert assert_groups_match(audit.feature("site"), mf) == 2 * 11
    assert_disparities_match(audit.feature("site"), mf)


def test_it_matches_fairlearn_on_imbalanced_labels():
    y, p, score, sensitive = synthetic(9, n=20_000, positive_share=0.02)
    audit = audit_all(y, p, sensitive, score)
    mf = frame(y, p, pd.DataFrame(sensitive), score)
    feature = audit.feature(f"race{JOIN}sex")
    assert assert_groups_match(feature, mf) == len(feature.groups) * 11
    assert_disparities_match(feature, mf)
    assert audit.feature("race").summary["equalized_odds_difference"].value == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=sensitive["race"]), abs=TOL
    )


def test_it_matches_roc_auc_per_group_with_ties():
    rng = np.random.default_rng(2)
    n = 3000
    group = rng.choice(list("abcdefg"), n)
    y = (rng.random(n) < 0.4).astype(int)
    score = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 1)  # many ties
    audit = classification_audit(
        y, y, {"g": group}, positive_label=1, y_score=score, thresholds=ALL_GROUPS
    )
    for g in audit.feature("g").groups:
        mask = group == g.name
        assert g.value("roc_auc") == pytest.approx(skm.roc_auc_score(y[mask], score[mask]), abs=TOL)


def test_it_reports_undefined_metrics_as_none_with_a_reason():
    y = np.array([0] * 40 + [1] * 20 + [0] * 40)
    p = np.array([0] * 40 + [1] * 10 + [0] * 10 + [1] * 5 + [0] * 35)
    group = np.array(["neg_only"] * 40 + ["mixed"] * 60)
    audit = classification_audit(
        y, p, {"g": group}, positive_label=1, y_score=np.full(100, 0.5), thresholds=ALL_GROUPS
    )
    g = audit.feature("g").group("neg_only")
    for metric in ("recall", "false_negative_rate", "precision", "f1", "roc_auc"):
        assert g.value(metric) is None
        assert g.metrics[metric].reason
    assert g.metrics["recall"].to_dict() == {"value": None, "reason": "no positives in this group"}
    assert g.value("selection_rate") == 0.0
    recall_gap = audit.feature("g").disparities["recall"]
    assert recall_gap.difference.value is None
    assert "neg_only" in recall_gap.groups_excluded
    text = json.dumps(audit.to_dict(), allow_nan=False)
    assert "NaN" not in text


def test_it_reports_disparities_only_over_large_enough_groups():
    y, p, _, sensitive = synthetic(1, n=2000)
    race = sensitive["race"].astype(object)
    race[:10] = "tiny"
    audit = classification_audit(
        y, p, {"race": race}, positive_label=1, thresholds=Thresholds(min_group_size=30)
    )
    disparity = audit.feature("race").disparities["selection_rate"]
    assert "tiny" in disparity.groups_excluded
    assert "tiny" not in disparity.groups_compared
    kept = race != "tiny"
    big = demographic_parity_difference(y[kept], p[kept], sensitive_features=race[kept])
    assert disparity.difference.value == pytest.approx(big, abs=TOL)


def test_it_gives_one_gap_in_the_headline_the_table_and_the_verdict():
    # "tiny" is left out by the minimum group size, "wide" by its interval width: every
    # place that shows a gap compares the same groups and so shows the same number.
    y, p, _, sensitive = synthetic(3, n=3000)
    race = sensitive["race"].astype(object)
    race[:12] = "tiny"
    race[12:57] = "wide"
    y, p = y.copy(), p.copy()
    # Half the rows positive, half the predictions right: rates near 0.5 on 45 rows, so a
    # huge gap that rests on intervals far wider than 0.3.
    y[12:57] = np.arange(45) % 2
    p[12:57] = (np.arange(45) // 2) % 2
    th = Thresholds(min_group_size=30, max_interval_width=0.3)
    audit = classification_audit(y, p, {"race": race}, positive_label=1, thresholds=th)
    feature = audit.feature("race")
    left_out = feature.summary_excluded["equalized_odds_difference"]
    assert "fewer than the minimum of 30" in left_out["tiny"]
    assert "wider than 0.3" in left_out["wide"]
    kept = ~np.isin(race, ["tiny", "wide"])
    expected = equalized_odds_difference(y[kept], p[kept], sensitive_features=race[kept])
    headline = feature.summary["equalized_odds_difference"].value
    assert headline == pytest.approx(expected, abs=TOL)
    eo = verdict(audit, "equalized_odds_difference", "race")
    assert eo.value == headline
    assert eo.groups_excluded == left_out
    mf = MetricFrame(
        metrics={"recall": true_positive_rate, "false_positive_rate": false_positive_rate},
        y_true=y[kept],
        y_pred=p[kept],
        sensitive_features=race[kept],
    )
    table = feature.disparities
    assert max(table["recall"].difference.value, table["false_positive_rate"].difference.value) == (
        pytest.approx(headline, abs=TOL)
    )
    for metric in ("recall", "false_positive_rate"):
        assert table[metric].difference.value == pytest.approx(mf.difference()[metric], abs=TOL)
        assert {"tiny", "wide"} <= set(table[metric].groups_excluded)
    dp = verdict(audit, "demographic_parity_difference", "race")
    assert dp.value == feature.summary["demographic_parity_difference"].value
    assert dp.value == table["selection_rate"].difference.value
    assert dp.groups_excluded == table["selection_rate"].groups_excluded
    compared = np.isin(race, dp.groups_compared)
    assert dp.value == pytest.approx(
        demographic_parity_difference(y[compared], p[compared], sensitive_features=race[compared]),
        abs=TOL,
    )


def test_it_regression_audit_matches_fairlearn():
    rng = np.random.default_rng(4)
    n = 5000
    sensitive = {"race": rng.choice(list("ABCDE"), n), "sex": rng.choice(["F", "M"], n)}
    y = rng.normal(50, 10, n)
    f = y + rng.normal(0, 5, n) + 2 * (sensitive["sex"] == "F")
    audit = regression_audit(y, f, sensitive, intersections=[("race", "sex")], min_group_size=0)
    metrics = {
        "mae": skm.mean_absolute_error,
        "rmse": skm.root_mean_squared_error,
        "r2": skm.r2_score,
        "mean_error": lambda a, b: float(np.mean(b - a)),
        "mean_true": lambda a, b: float(np.mean(a)),
        "mean_pred": lambda a, b: float(np.mean(b)),
    }
    for name, features in [
        ("race", sensitive["race"]),
        (f"race{JOIN}sex", pd.DataFrame(sensitive)),
    ]:
        mf = MetricFrame(metrics=metrics, y_true=y, y_pred=f, sensitive_features=features)
        feature = audit.feature(name)
        for group in feature.groups:
            row = mf.by_group.loc[key(group.name, name)]
            for metric in metrics:
                assert group.value(metric) == pytest.approx(row[metric], abs=TOL)
        for metric in ("mae", "rmse", "r2"):
            d = feature.disparities[metric]
            assert d.difference.value == pytest.approx(mf.difference()[metric], abs=TOL)
        assert feature.disparities["mae"].ratio.value == pytest.approx(mf.ratio()["mae"], abs=TOL)
    json.dumps(audit.to_dict(), allow_nan=False)


def test_it_class_report_matches_sklearn_and_flags_rare_classes():
    rng = np.random.default_rng(8)
    y = rng.choice(["cat", "dog", "eel", "fox"], 1000, p=[0.6, 0.35, 0.04, 0.01])
    p = np.where(rng.random(1000) < 0.8, y, rng.choice(["cat", "dog", "gnu"], 1000))
    report = class_report(y, p, min_support=30)
    labels = [r.label for r in report.classes]
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y, p, labels=labels, zero_division=np.nan
    )
    for i, row in enumerate(report.classes):
        assert row.support == support[i]
        for name, ref in (("precision", prec), ("recall", rec), ("f1", f1)):
            value = getattr(row, name).value
            if math.isnan(ref[i]):
                assert value is None and getattr(row, name).reason
            else:
                assert value == pytest.approx(ref[i], abs=TOL)
    assert set(report.rare) == {"eel", "fox", "gnu"}
    json.dumps(report.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- Wilson intervals


def wilson_reference(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson (1927) score interval written out from the textbook formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = (z / (1 + z * z / n)) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (37, 250), (1, 1)])
def test_it_computes_wilson_intervals_like_the_reference_formula(k, n):
    for confidence in (0.9, 0.95, 0.99):
        z = z_value(confidence)
        low, high = wilson_interval(k, n, confidence)
        ref_low, ref_high = wilson_reference(k, n, z)
        assert float(low) == pytest.approx(max(ref_low, 0.0), abs=1e-12)
        assert float(high) == pytest.approx(min(ref_high, 1.0), abs=1e-12)


def test_it_uses_the_textbook_wilson_values():
    assert z_value(0.95) == pytest.approx(1.959963984540054, abs=1e-12)
    # 0 of 10 at 95%: (0, 0.2775), a commonly tabulated value.
    low, high = wilson_interval(0, 10)
    assert float(low) == 0.0
    assert float(high) == pytest.approx(0.27753, abs=1e-5)


def test_it_attaches_wilson_intervals_to_group_rates():
    y, p, _, sensitive = synthetic(0)
    audit = classification_audit(y, p, sensitive, positive_label=1, confidence=0.9)
    group = audit.feature("race").group("C")
    c = group.confusion
    checks = {
        "selection_rate": (c["tp"] + c["fp"], group.count),
        "recall": (c["tp"], c["tp"] + c["fn"]),
        "false_positive_rate": (c["fp"], c["fp"] + c["tn"]),
        "false_negative_rate": (c["fn"], c["tp"] + c["fn"]),
        "precision": (c["tp"], c["tp"] + c["fp"]),
        "accuracy": (c["tp"] + c["tn"], group.count),
    }
    for metric, (k, n) in checks.items():
        assert group.metrics[metric].interval == pytest.approx(
            wilson_reference(k, n, z_value(0.9)), abs=1e-12
        )


# ---------------------------------------------------------------- verdicts


def two_groups(n_a, rate_a, n_b, rate_b, base=0.5):
    """Groups a and b with the given sizes and selection rates; labels independent of group."""
    y, p, g = [], [], []
    for name, n, rate in (("a", n_a, rate_a), ("b", n_b, rate_b)):
        pos = round(n * base)
        sel_pos, sel_neg = round(pos * rate), round((n - pos) * rate)
        y += [1] * pos + [0] * (n - pos)
        p += [1] * sel_pos + [0] * (pos - sel_pos) + [1] * sel_neg + [0] * (n - pos - sel_neg)
        g += [name] * n
    return np.array(y), np.array(p), {"g": np.array(g)}


def verdict(audit, threshold, feature="g"):
    return next(v for v in audit.verdicts if v.threshold == threshold and v.feature == feature)


def test_it_passes_when_gaps_are_within_the_thresholds():
    y, p, s = two_groups(1000, 0.40, 1000, 0.44)
    audit = classification_audit(y, p, s, positive_label=1)
    dp = verdict(audit, "demographic_parity_difference")
    assert dp.status == PASS
    assert dp.value == pytest.approx(0.04)
    assert dp.groups_compared == ("a", "b") and not dp.groups_excluded
    assert verdict(audit, "equalized_odds_difference").status == PASS
    assert audit.status == PASS


def test_it_fails_when_a_gap_exceeds_the_threshold():
    y, p, s = two_groups(1000, 0.30, 1000, 0.50)
    th = Thresholds(max_fnr_gap=0.05, min_recall=0.4)
    audit = classification_audit(y, p, s, positive_label=1, thresholds=th)
    dp = verdict(audit, "demographic_parity_difference")
    assert dp.status == FAIL and dp.value == pytest.approx(0.2) and dp.limit == 0.10
    assert "exceeds" in dp.explanation
    assert verdict(audit, "equalized_odds_difference").status == FAIL
    assert verdict(audit, "max_fnr_gap").status == FAIL
    recall = verdict(audit, "min_recall")
    assert recall.status == FAIL and recall.value == pytest.approx(0.3)
    assert audit.status == FAIL
    assert (
        verdict(
            classification_audit(y, p, s, positive_label=1, thresholds=Thresholds(min_recall=0.25)),
            "min_recall",
        ).status
        == PASS
    )


def test_it_never_fails_on_a_tiny_group_with_a_huge_gap():
    y, p, s = two_groups(2000, 0.40, 6, 1.0)
    audit = classification_audit(y, p, s, positive_label=1)
    dp = verdict(audit, "demographic_parity_difference")
    assert dp.status == INSUFFICIENT
    assert dp.value is None
    assert "fewer than the minimum of 30" in dp.groups_excluded["b"]
    assert audit.status == INSUFFICIENT


def test_it_excludes_groups_whose_interval_is_too_wide():
    # 40 rows pass the size rule, but the selection-rate interval is ~0.3 wide.
    y, p, s = two_groups(2000, 0.40, 40, 0.5)
    audit = classification_audit(
        y, p, s, positive_label=1, thresholds=Thresholds(max_interval_width=0.25)
    )
    dp = verdict(audit, "demographic_parity_difference")
    assert dp.status == INSUFFICIENT
    assert "wider than 0.25" in dp.groups_excluded["b"]
    # With a third, large group, the other two are compared and the narrow-interval rule holds.
    y2, p2, s2 = two_groups(2000, 0.42, 2000, 0.40)
    y3 = np.concatenate([y, y2])
    p3 = np.concatenate([p, p2])
    g3 = np.concatenate([s["g"], np.where(s2["g"] == "a", "c", "d")])
    audit = classification_audit(
        y3, p3, {"g": g3}, positive_label=1, thresholds=Thresholds(max_interval_width=0.25)
    )
    dp = verdict(audit, "demographic_parity_difference")
    assert dp.status == PASS
    assert set(dp.groups_compared) == {"a", "c", "d"}
    assert set(dp.groups_excluded) == {"b"}


# ---------------------------------------------------------------- bad input


def test_it_rejects_bad_input_with_clear_sentences():
    y, p, score, s = synthetic(0, n=200)
    cases = [
        (lambda: classification_audit([], [], {"g": []}, positive_label=1), "no rows"),
        (lambda: classification_audit(y, p[:-1], s, positive_label=1), "must match"),
        (
            lambda: classification_audit(y, p, {"g": s["sex"][:-1]}, positive_label=1),
            "must match",
        ),
        (
            lambda: classification_audit(y, p, {"g": np.full(200, "x")}, positive_label=1),
            "only one group",
        ),
        (
            lambda: classification_audit(y, p, s, positive_label=1, y_score=score * 2),
            "between 0 and 1",
        ),
        (
            lambda: classification_audit(
                y, p, s, positive_label=1, y_score=np.where(y, np.nan, score)
            ),
            "no missing value",
        ),
        (
            lambda: classification_audit(
                np.tile(y, 6), np.tile(p, 6), {"id": np.arange(1200)}, positive_label=1
            ),
            "1200 distinct groups, more than the limit of 1000",
        ),
        (
            lambda: classification_audit(
                y, p, {"id": np.arange(200)}, positive_label=1, max_groups=50
            ),
            "200 distinct groups",
        ),
        (lambda: classification_audit(y, p, s, positive_label="yes"), "never occurs in y_true"),
        (
            lambda: classification_audit(y, p, s, positive_label=1, y_score=score[:-1]),
            "y_score has 199 values",
        ),
        (
            lambda: classification_audit(y, p, s, positive_label=1, y_score=["high"] * 200),
            "between 0 and 1",
        ),
        (lambda: classification_audit(np.where(y, None, 0), p, s, positive_label=1), "missing"),
        (lambda: classification_audit(y, np.where(p, 2, 0), s, positive_label=1), "y_pred has"),
        (lambda: classification_audit(y + p * (y == 0) * 2, p, s, positive_label=1), "class_"),
        (lambda: classification_audit(y, p, {}, positive_label=1), "at least one"),
        (
            lambda: classification_audit(y, p, s, positive_label=1, intersections=[("race", "x")]),
            "Intersection",
        ),
        (lambda: regression_audit(y, np.where(y, np.nan, 1.0), s), "finite"),
        (lambda: class_report([], []), "no rows"),
    ]
    for call, words in cases:
        with pytest.raises(AuditError, match=words) as info:
            call()
        assert str(info.value).endswith((".", "?", "first."))


def test_it_allows_one_group_when_no_gap_is_judged():
    y, p, _, _ = synthetic(0, n=200)
    th = Thresholds(
        demographic_parity_difference=None, equalized_odds_difference=None, min_recall=0.1
    )
    audit = classification_audit(y, p, {"g": ["x"] * 200}, positive_label=1, thresholds=th)
    assert verdict(audit, "min_recall").status == PASS
    assert audit.feature("g").disparities["selection_rate"].difference.value is None


def test_categorical_sensitive_features_give_the_same_audit_as_text():
    """The worker reads sensitive columns as categoricals; the result must not change."""
    y, p, score, sensitive = synthetic(7)
    sensitive["race"] = np.where(np.arange(len(y)) % 50 == 0, None, sensitive["race"])
    as_text = audit_all(y, p, sensitive, score)
    as_categories = audit_all(
        y,
        p,
        {name: pd.Categorical(values) for name, values in sensitive.items()},
        score,
    )
    assert json.dumps(as_categories.to_dict()) == json.dumps(as_text.to_dict())
    assert "(missing)" in [g.name for g in as_categories.feature("race").groups]
