"""Mitigation benchmark: ``audits.analysis.mitigation.mitigation_columns`` against fairlearn's
``ThresholdOptimizer`` run directly, on the same scores.

Usage::

    .venv/bin/python benchmarks/mitigation.py --rows 100000

For each row count, each path runs in a fresh subprocess (so that peak memory is per path)
on the same generated data (fixed seed): a binary label with ~30% positives, a score that
depends on the label and on the groups, the model's predictions (score above 0.5), and two
sensitive features held as text, ``race`` with 5 groups (unequal sizes) and ``sex`` with 2.

- ours: ``mitigation_columns("classification", y, pred, score, {"race": race, "sex": sex},
  {"positive_label": ""})``, as the worker calls it on the columns it read: per feature,
  ThresholdOptimizer under demographic parity and under equalized odds, accuracy and both
  disparities before and after, per-group rates and rules, as JSON-safe dicts;
- fairlearn: what a fairlearn user writes for the same figures: per feature and
  constraint, ``ThresholdOptimizer(prefit=True, predict_method="predict")`` on an
  estimator that returns the scores, ``predict(random_state=0)``; ``accuracy_score``,
  ``demographic_parity_difference`` and ``equalized_odds_difference`` of the model's own
  predictions and of each option's; a ``MetricFrame`` of selection rate, TPR and FPR by
  group for each.

Seconds are measured inside the child around the work only (data generation and imports
excluded). Peak memory is the child's maximum resident set size as the kernel reports it on
exit (``os.wait4``); "work MB" is that peak minus the child's peak just before the work
started. The parent asserts that every figure and every threshold agree (1e-12). Results
go to ``mitigation-results.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ("demographic_parity", "equalized_odds")
RANDOM_STATE = 0
RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
HEADLINE = ("accuracy", "demographic_parity_difference", "equalized_odds_difference", "selected")


def generate(rows: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    race_names = np.array(["group_a", "group_b", "group_c", "group_d", "group_e"], dtype=object)
    race_code = rng.choice(5, rows, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    sex_code = rng.integers(0, 2, rows)
    y = (rng.random(rows) < 0.22 + 0.04 * race_code).astype(np.int64)
    score = np.clip(0.35 * y + 0.03 * race_code + 0.04 * sex_code + 0.55 * rng.random(rows), 0, 1)
    pred = (score > 0.5).astype(np.int64)
    race = race_names[race_code]
    sex = np.array(["female", "male"], dtype=object)[sex_code]
    return y, pred, score, {"race": race, "sex": sex}


def child_ours(rows: int, seed: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from audits.analysis.mitigation import mitigation_columns

    y, pred, score, sensitive = generate(rows, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = mitigation_columns("classification", y, pred, score, sensitive, {"positive_label": ""})
    seconds = time.perf_counter() - start
    values = {}
    for feature in result["features"]:
        values[feature["feature"]] = {
            option["name"]: {
                "headline": {k: option[k] for k in HEADLINE},
                "groups": {
                    row["group"]: {
                        **{m: row["outcomes"][i][m] for m in RATES},
                        "rule": _rule_numbers(row["outcomes"][i]["rule"]),
                    }
                    for row in feature["groups"]
                },
            }
            for i, option in enumerate(feature["options"])
        }
    return {"seconds": seconds, "before_mb": before, "values": values}


def _rule_numbers(rule: dict | None) -> list | None:
    if rule is None:
        return None
    numbers = []
    for op in rule["operations"]:
        numbers += [op["probability"], op["threshold"]]
    return [*numbers, rule["p_ignore"], rule["prediction_constant"]]


def child_fairlearn(rows: int, seed: int) -> dict:
    import math
    import warnings

    import numpy as np
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.base import BaseEstimator
    from sklearn.metrics import accuracy_score

    class Scores(BaseEstimator):
        def fit(self, X, y=None):
            return self

        def predict(self, X):
            return np.asarray(X)[:, 0]

        def __sklearn_is_fitted__(self):
            return True

    def number(value):
        value = float(value)
        return value if math.isfinite(value) else None

    y, pred, score, sensitive = generate(rows, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    X = score.reshape(-1, 1)
    start = time.perf_counter()
    values = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for feature, groups in sensitive.items():
            predictions, rules = {"original": pred}, {"original": {}}
            for constraint in CONSTRAINTS:
                optimizer = ThresholdOptimizer(
                    estimator=Scores(),
                    constraints=constraint,
                    prefit=True,
                    predict_method="predict",
                ).fit(X, y, sensitive_features=groups)
                predictions[constraint] = optimizer.predict(
                    X, sensitive_features=groups, random_state=RANDOM_STATE
                )
                fitted = optimizer.interpolated_thresholder_.interpolation_dict
                rules[constraint] = {
                    group: [
                        float(b.p0),
                        number(b.operation0.threshold),
                        float(b.p1),
                        number(b.operation1.threshold),
                        float(b["p_ignore"]) if "p_ignore" in b else None,
                        float(b["prediction_constant"]) if "p_ignore" in b else None,
                    ]
                    for group, b in fitted.items()
                }
            values[feature] = {}
            for name, predicted in predictions.items():
                frame = MetricFrame(
                    metrics={
                        "selection_rate": selection_rate,
                        "true_positive_rate": true_positive_rate,
                        "false_positive_rate": false_positive_rate,
                    },
                    y_true=y,
                    y_pred=predicted,
                    sensitive_features=groups,
                )
                values[feature][name] = {
                    "headline": {
                        "accuracy": accuracy_score(y, predicted),
                        "demographic_parity_difference": demographic_parity_difference(
                            y, predicted, sensitive_features=groups
                        ),
                        "equalized_odds_difference": equalized_odds_difference(
                            y, predicted, sensitive_features=groups
                        ),
                        "selected": int(predicted.sum()),
                    },
                    "groups": {
                        group: {
                            **{m: float(row[m]) for m in RATES},
                            "rule": rules[name].get(group),
                        }
                        for group, row in frame.by_group.iterrows()
                    },
                }
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "before_mb": before, "values": values}


def measure(path: str, rows: int, seed: int, workdir: Path) -> dict:
    """Run one path in a fresh interpreter; return its timing, peak memory and numbers."""
    result_file = workdir / f"mitigation-result-{path}.json"
    command = [sys.executable, __file__, "--child", path, str(rows), str(seed), str(result_file)]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the {path} path failed at {rows:,} rows")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["work_mb"] = result["peak_mb"] - result.pop("before_mb")
    return result


def check_identical(ours: dict, theirs: dict, tolerance: float = 1e-12) -> int:
    """Assert every figure and threshold fairlearn gives equals ours; return the count."""
    compared = 0

    def same(a, b, where: str) -> None:
        nonlocal compared
        if a is None or b is None:
            assert a is b, (where, a, b)
        else:
            assert abs(a - b) <= tolerance, (where, a, b)
        compared += 1

    for feature, options in theirs.items():
        assert set(ours[feature]) == set(options), feature
        for name, expected in options.items():
            got = ours[feature][name]
            for key, value in expected["headline"].items():
                same(got["headline"][key], value, f"{feature} {name} {key}")
            assert set(got["groups"]) == set(expected["groups"]), (feature, name)
            for group, row in expected["groups"].items():
                for metric in RATES:
                    same(got["groups"][group][metric], row[metric], f"{feature} {name} {group}")
                if row["rule"] is not None:
                    for a, b in zip(got["groups"][group]["rule"], row["rule"], strict=True):
                        same(a, b, f"{feature} {name} {group} rule")
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, rows, seed, result_file = args.child
        child = child_ours if path == "ours" else child_fairlearn
        Path(result_file).write_text(json.dumps(child(int(rows), int(seed))))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in args.rows:
        ours = measure("ours", rows, args.seed, workdir)
        theirs = measure("fairlearn", rows, args.seed, workdir)
        checked = check_identical(ours["values"], theirs["values"])
        results.append(
            {
                "rows": rows,
                "ours_seconds": ours["seconds"],
                "fairlearn_seconds": theirs["seconds"],
                "time_ratio": ours["seconds"] / theirs["seconds"],
                "ours_peak_mb": ours["peak_mb"],
                "fairlearn_peak_mb": theirs["peak_mb"],
                "ours_work_mb": ours["work_mb"],
                "fairlearn_work_mb": theirs["work_mb"],
                "numbers_checked": checked,
            }
        )
        print_table(results)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    (workdir / "mitigation-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_table(results: list[dict]) -> None:
    print(
        "| rows | ours s | fairlearn s | time (ours/fairlearn) | ours peak MB "
        "| fairlearn peak MB | ours work MB | fairlearn work MB | identical (1e-12) |"
    )
    print("|" + "---|" * 9)
    for r in results:
        print(
            f"| {r['rows']:,} | {r['ours_seconds']:.2f} | {r['fairlearn_seconds']:.2f} "
            f"| {r['time_ratio']:.2f}x | {r['ours_peak_mb']:.0f} | {r['fairlearn_peak_mb']:.0f} "
            f"| {r['ours_work_mb']:.0f} | {r['fairlearn_work_mb']:.0f} "
            f"| yes, {r['numbers_checked']} numbers |",
            flush=True,
        )


if __name__ == "__main__":
    main()
