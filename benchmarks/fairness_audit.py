"""Fairness-audit benchmark: ``audits.analysis.fairness.classification_audit`` against fairlearn.

Usage::

    .venv/bin/python benchmarks/fairness_audit.py --rows 100000 1000000 10000000 \
        --skip-fairlearn-above 1000000

For each row count, each path runs in a fresh subprocess (so that peak memory is per path)
on the same generated data (fixed seed): a binary label with ~25% positives, predictions
that depend on the label and the groups, and two sensitive features held as text, ``race``
with 5 groups (unequal sizes) and ``sex`` with 2, plus their intersection (10 groups).

- ours: ``classification_audit(y, pred, {"race": race, "sex": sex}, positive_label=1,
  intersections=[("race", "sex")])`` - every group metric with Wilson intervals, the gaps
  between groups and the default verdicts, for both features and the intersection;
- fairlearn: three ``MetricFrame`` objects (``race``, ``sex``, and a DataFrame of both for
  the intersection) with selection rate, TPR, FPR, FNR, accuracy, precision and count, and
  their ``difference()`` and ``ratio()``.

Seconds are measured inside the child around the work only (data generation and imports
excluded). Peak memory is the child's maximum resident set size as the kernel reports it
on exit (``os.wait4``); "work MB" is that peak minus the child's peak just before the work
started (interpreter, libraries and the input data). At the row counts given with
``--check-up-to`` (default 1,000,000) the parent asserts that every group metric and every
difference and ratio agree to 1e-9. fairlearn is slow at 10M rows; ``--skip-fairlearn-above``
runs only ours above that row count. Results go to ``fairness-results.json`` in the work
directory.
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
METRICS = (
    "selection_rate",
    "recall",
    "false_positive_rate",
    "false_negative_rate",
    "accuracy",
    "precision",
    "count",
)
JOIN = " \u00d7 "  # the same joiner as the audit's intersection names


def generate(rows: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    race_names = np.array(["group_a", "group_b", "group_c", "group_d", "group_e"], dtype=object)
    race_code = rng.choice(5, rows, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    sex_code = rng.integers(0, 2, rows)
    y = (rng.random(rows) < 0.25).astype(np.int64)
    score = 0.4 * y + 0.03 * race_code + 0.05 * sex_code + 0.6 * rng.random(rows)
    pred = (score > 0.55).astype(np.int64)
    race = race_names[race_code]
    sex = np.array(["female", "male"], dtype=object)[sex_code]
    return y, pred, race, sex


def child_ours(rows: int, seed: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from audits.analysis.fairness import Thresholds, classification_audit

    y, pred, race, sex = generate(rows, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    audit = classification_audit(
        y,
        pred,
        {"race": race, "sex": sex},
        positive_label=1,
        intersections=[("race", "sex")],
        thresholds=Thresholds(min_group_size=0),
    )
    seconds = time.perf_counter() - start
    values = {}
    for feature in audit.features:
        name = "race+sex" if JOIN in feature.feature else feature.feature
        values[name] = {
            "groups": {
                g.name.replace(JOIN, "|"): {
                    m: (g.count if m == "count" else g.value(m)) for m in METRICS
                }
                for g in feature.groups
            },
            "difference": {
                m: feature.disparities[m].difference.value for m in METRICS if m != "count"
            },
            "ratio": {m: feature.disparities[m].ratio.value for m in METRICS if m != "count"},
        }
    return {"seconds": seconds, "before_mb": before, "values": values}


def child_fairlearn(rows: int, seed: int) -> dict:
    import functools
    import warnings

    import numpy as np
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    y, pred, race, sex = generate(rows, seed)
    metrics = {
        "selection_rate": selection_rate,
        "recall": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "accuracy": accuracy_score,
        "precision": functools.partial(precision_score, zero_division=np.nan),
        "count": count,
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    features = {"race": race, "sex": sex, "race+sex": pd.DataFrame({"race": race, "sex": sex})}
    start = time.perf_counter()
    frames = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, sensitive in features.items():
            mf = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=sensitive)
            frames[name] = (mf.by_group, mf.difference(), mf.ratio())
    seconds = time.perf_counter() - start
    values = {}
    for name, (by_group, difference, ratio) in frames.items():
        values[name] = {
            "groups": {
                ("|".join(k) if isinstance(k, tuple) else k): {m: float(row[m]) for m in METRICS}
                for k, row in by_group.iterrows()
            },
            "difference": {m: float(difference[m]) for m in METRICS if m != "count"},
            "ratio": {m: float(ratio[m]) for m in METRICS if m != "count"},
        }
    return {"seconds": seconds, "before_mb": before, "values": values}


def measure(path: str, rows: int, seed: int, workdir: Path) -> dict:
    """Run one path in a fresh interpreter; return its timing, peak memory and numbers."""
    result_file = workdir / f"fairness-result-{path}.json"
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


def check_identical(ours: dict, theirs: dict, tolerance: float = 1e-9) -> int:
    """Assert every number fairlearn gives equals ours; return how many were compared."""
    compared = 0
    for feature, expected in theirs.items():
        got = ours[feature]
        assert set(got["groups"]) == set(expected["groups"]), feature
        pairs = [
            (got["groups"][g][m], v, f"{feature} {g} {m}")
            for g, row in expected["groups"].items()
            for m, v in row.items()
        ]
        pairs += [
            (got[kind][m], v, f"{feature} {kind} {m}")
            for kind in ("difference", "ratio")
            for m, v in expected[kind].items()
        ]
        for a, b, where in pairs:
            assert a is not None and abs(a - b) <= tolerance, (where, a, b)
            compared += 1
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check-up-to", type=int, default=1_000_000)
    parser.add_argument("--skip-fairlearn-above", type=int, default=None)
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
        skip = args.skip_fairlearn_above is not None and rows > args.skip_fairlearn_above
        theirs = None if skip else measure("fairlearn", rows, args.seed, workdir)
        checked = 0
        if theirs and rows <= args.check_up_to:
            checked = check_identical(ours["values"], theirs["values"])
        results.append(
            {
                "rows": rows,
                "ours_seconds": ours["seconds"],
                "fairlearn_seconds": theirs and theirs["seconds"],
                "speed_ratio": theirs and theirs["seconds"] / ours["seconds"],
                "ours_peak_mb": ours["peak_mb"],
                "fairlearn_peak_mb": theirs and theirs["peak_mb"],
                "ours_work_mb": ours["work_mb"],
                "fairlearn_work_mb": theirs and theirs["work_mb"],
                "numbers_checked": checked,
            }
        )
        print_table(results)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    (workdir / "fairness-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_table(results: list[dict]) -> None:
    def cell(value, fmt):
        return "skipped" if value is None else format(value, fmt)

    print(
        "| rows | ours s | fairlearn s | speed (fairlearn/ours) | ours peak MB "
        "| fairlearn peak MB | ours work MB | fairlearn work MB | identical (1e-9) |"
    )
    print("|" + "---|" * 9)
    for r in results:
        same = f"yes, {r['numbers_checked']} numbers" if r["numbers_checked"] else "not checked"
        print(
            f"| {r['rows']:,} | {r['ours_seconds']:.3f} | {cell(r['fairlearn_seconds'], '.2f')} "
            f"| {cell(r['speed_ratio'], '.0f')}{'x' if r['speed_ratio'] else ''} "
            f"| {r['ours_peak_mb']:.0f} "
            f"| {cell(r['fairlearn_peak_mb'], '.0f')} | {r['ours_work_mb']:.0f} "
            f"| {cell(r['fairlearn_work_mb'], '.0f')} | {same} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
