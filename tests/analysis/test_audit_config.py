"""Audit configuration rules and the worker's audit step, without a database."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate
from sklearn.metrics import mean_absolute_error

from audits.analysis.audit_config import (
    THRESHOLDS,
    clean_config,
    default_config,
    positive_label_for,
    thresholds_of,
)
from audits.analysis.audit_job import audit_columns, content_sha256
from audits.analysis.fairness import AuditError


def test_the_defaults_are_valid_and_every_threshold_has_a_rationale():
    config = clean_config(default_config(["sex"]))
    assert all(entry["rationale"] for entry in config["thresholds"].values())
    assert {s.name for s in THRESHOLDS} == set(config["thresholds"])
    th = thresholds_of(config)
    assert (th.demographic_parity_difference, th.min_recall, th.min_group_size) == (0.1, None, 30)


def test_a_limit_may_be_switched_off_without_a_rationale_but_not_set_without_one():
    config = default_config(["sex"])
    config["thresholds"]["equalized_odds_difference"] = {"limit": None, "rationale": ""}
    assert clean_config(config)["thresholds"]["equalized_odds_difference"]["limit"] is None
    config["thresholds"]["min_recall"] = {"limit": "0.7", "rationale": ""}
    with pytest.raises(AuditError, match="write why this limit suits"):
        clean_config(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sensitive_features": ["sex", "sex"]}, "names a column twice"),
        ({"sensitive_features": "sex"}, "must be a list"),
        ({"intersections": [["sex", "age"]]}, "must join two or more"),
        ({"min_class_support": 0}, "whole number"),
        ({"colour": "blue"}, "Unknown settings: colour"),
    ],
)
def test_bad_settings_name_the_problem(change, message):
    with pytest.raises(AuditError, match=message):
        clean_config({**default_config(["sex"]), **change})


def test_min_group_size_is_a_whole_number_of_rows():
    config = default_config(["sex"])
    config["thresholds"]["min_group_size"] = {"limit": 12.5, "rationale": "x"}
    with pytest.raises(AuditError, match="whole number of rows"):
        clean_config(config)


@pytest.mark.parametrize(
    ("written", "labels", "expected"),
    [
        ("", [0, 1], 1),
        ("", [False, True], True),
        ("1", [0.0, 1.0], 1.0),
        ("yes", ["no", "yes"], "yes"),
        (">50K", ["<=50K", ">50K"], ">50K"),
        ("2", [1, 2, 3], 2),
    ],
)
def test_the_positive_label_is_read_as_the_data_spells_it(written, labels, expected):
    found = positive_label_for(written, labels)
    assert found == expected and type(found) is type(expected)


@pytest.mark.parametrize(("written", "labels"), [("", ["no", "yes"]), ("Y", ["no", "yes"])])
def test_a_positive_label_that_is_not_there_is_refused(written, labels):
    with pytest.raises(AuditError, match="labels seen are 'no', 'yes'"):
        positive_label_for(written, labels)


def _data(n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n)
    y = rng.choice(["cat", "dog", "fish"], n, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(n) < 0.2, rng.choice(["cat", "dog", "fish"], n), y)
    return y, pred, group


def test_a_multiclass_audit_compares_the_positive_label_with_the_rest():
    y, pred, group = _data()
    config = {**default_config(["group"]), "positive_label": "dog"}
    result = audit_columns("classification", y, pred, {"group": group}, clean_config(config))
    assert result["positive_label"] == "dog"
    assert "compares 'dog' with the rest" in result["notes"][0]
    mf = MetricFrame(
        metrics=false_negative_rate,
        y_true=y == "dog",
        y_pred=pred == "dog",
        sensitive_features=group,
    )
    for g in result["features"][0]["groups"]:
        assert g["metrics"]["false_negative_rate"]["value"] == pytest.approx(
            mf.by_group[g["name"]], abs=1e-12
        )
    assert {c["label"] for c in result["class_report"]["classes"]} == {"cat", "dog", "fish"}


def test_a_regression_audit_is_reported_without_thresholds():
    rng = np.random.default_rng(1)
    y = rng.normal(100, 20, 3000)
    pred = y + rng.normal(0, 5, 3000)
    group = rng.choice(["x", "y"], 3000)
    result = audit_columns("regression", y, pred, {"g": group}, clean_config(default_config(["g"])))
    assert result["status"] == "reported"
    x = next(g for g in result["features"][0]["groups"] if g["name"] == "x")
    assert x["metrics"]["mae"]["value"] == pytest.approx(
        mean_absolute_error(y[group == "x"], pred[group == "x"]), abs=1e-9
    )


def test_the_content_hash_ignores_key_order_and_survives_a_json_round_trip():
    y, pred, group = _data()
    config = clean_config({**default_config(["group"]), "positive_label": "cat"})
    result = audit_columns("classification", y, pred, {"group": group}, config)
    again = json.loads(json.dumps(result, indent=1))
    reordered = dict(reversed(list(again.items())))
    assert content_sha256(reordered) == content_sha256(result)
    again["rows"] += 1
    assert content_sha256(again) != content_sha256(result)
