"""Audit-job benchmark: the fairness audit as the worker runs it, from the stored Parquet file.

Usage::

    .venv/bin/python benchmarks/audit_job.py --rows 1000000 10000000 --peer-rows 1000000

For each row count a predictions file is generated once (fixed seed) and cached under
``--workdir`` (default ``var/bench``): a Parquet file written with pyarrow's defaults, as an
uploaded one would be, with ``label`` (0/1, ~25% positives), ``prediction`` (0/1),
``score`` (a probability that depends on the label and the groups), ``sex`` (2 groups)
and ``age_band`` (5 groups of unequal sizes), the last two as text.

Then, in a fresh subprocess per row count (so that its peak memory is the job's own), the
steps of ``audits.services.fairness._audit_work`` run in order, without the database:

- read: ``read_columns`` for label, prediction and score, ``column_names`` and
  ``read_groups`` for the two sensitive columns (the worker's reader, as the worker calls
  it);
- audit: ``audit_columns("classification", ...)`` with both features, their intersection
  (10 groups) and the scores (so ROC AUC per group), under the default configuration;
- hash+json: the run's metadata added, ``content_sha256`` of the result and ``json.dumps``
  of it (what the JSON field stores).

At the row counts given with ``--peer-rows`` (default 1,000,000) fairlearn runs too, in its
own subprocess: ``pandas.read_parquet`` of the five columns, then ``MetricFrame`` with
selection rate, recall, false-positive and false-negative rate, precision, accuracy and
count for ``sex``, ``age_band`` and a DataFrame of both (the intersection), each with
``difference()`` and ``ratio()``, and one ``MetricFrame`` of ``roc_auc_score`` on the
scores per feature. The parent asserts that every per-group number fairlearn gives equals
ours within 1e-9 and prints how many it compared.

Seconds are measured inside the child around each step (imports excluded). Peak memory is
the child's maximum resident set size as the kernel reports it on exit (``os.wait4``);
"after imports" is the child's resident set just before the first step, and "job MB" the
peak minus that. The Parquet file is read once beforehand so every run finds it in the
page cache. Results also go to ``audit-job-results.json`` in the work directory.
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
COLUMNS = ("label", "prediction", "score", "sex", "age_band")
SEX = ("female", "male")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARES = (0.15, 0.3, 0.25, 0.2, 0.1)
CHUNK_ROWS = 1_000_000
JOIN = " \u00d7 "  # the audit's joiner for intersection names
GOAL_ROWS, GOAL_SECONDS, GOAL_MB = 10_000_000, 10.0, 1024.0  # the job's goal at 10M rows
# The per-group numbers compared with fairlearn.
COMPARED = (
    "selection_rate",
    "recall",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "accuracy",
    "roc_auc",
    "count",
)


def data_file(workdir: Path, rows: int, seed: int) -> Path:
    """The cached predictions file for ``rows`` rows, written on first use."""
    path = workdir / f"audit-job-{rows}-{seed}.parquet"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema(
        [
            ("label", pa.int64()),
            ("prediction", pa.int64()),
            ("score", pa.float64()),
            ("sex", pa.string()),
            ("age_band", pa.string()),
        ]
    )
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            sex = rng.integers(0, 2, n)
            age = rng.choice(len(AGE_BANDS), n, p=AGE_SHARES)
            label = (rng.random(n) < 0.25).astype(np.int64)
            score = np.clip(0.35 * label + 0.04 * age + 0.05 * sex + 0.55 * rng.random(n), 0, 1)
            prediction = (score > 0.5).astype(np.int64)
            text = [
                pa.array(np.array(names, dtype=object)[codes], pa.string())
                for names, codes in ((SEX, sex), (AGE_BANDS, age))
            ]
            arrays = [pa.array(label), pa.array(prediction), pa.array(score), *text]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    partial.replace(path)
    return path


def rss_mb() -> float:
    """The current resident set size (Linux), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from audits.analysis.audit_config import clean_config, default_config
    from audits.analysis.audit_job import audit_columns, content_sha256
    from projects.analysis.tabular import ReadLimits, column_names, read_columns, read_groups

    features = ["sex", "age_band"]
    config = clean_config({**default_config(features), "intersections": [features]})
    after_imports = rss_mb()
    steps, peaks = {}, {}

    start = time.perf_counter()
    # Past the default row limit, as a deployment that raised UPLOAD_MAX_ROWS reads.
    limits = ReadLimits(max_rows=10**10, max_expanded_bytes=2**40)
    columns = read_columns(
        path, ["label", "prediction", "score"], fmt="parquet", limits=limits, compact=True
    )
    here = [f for f in features if f in set(column_names(path, fmt="parquet"))]
    sensitive = read_groups(path, here, fmt="parquet", limits=limits)
    steps["read"], peaks["read"] = time.perf_counter() - start, peak_mb()

    start = time.perf_counter()
    body = audit_columns(
        "classification",
        columns["label"],
        columns["prediction"],
        sensitive,
        config,
        y_score=columns["score"],
    )
    steps["audit"], peaks["audit"] = time.perf_counter() - start, peak_mb()

    start = time.perf_counter()
    result = {
        **body,
        "evaluation": {"id": 1, "sha256": "0" * 64},
        "model": "bench-model v1",
        "config_version": 1,
        "config": config,
        "sensitive_sources": dict.fromkeys(here, "predictions"),
    }
    digest = content_sha256(result)
    stored = json.dumps(result)
    steps["hash+json"], peaks["hash+json"] = time.perf_counter() - start, peak_mb()

    values = {}
    for feature in result["features"]:
        name = "sex+age_band" if JOIN in feature["feature"] else feature["feature"]
        values[name] = {
            g["name"].replace(JOIN, "|"): {
                m: (g["count"] if m == "count" else g["metrics"][m]["value"]) for m in COMPARED
            }
            for g in feature["groups"]
        }
    return {
        "steps": steps,
        "step_peaks_mb": peaks,
        "after_imports_mb": after_imports,
        "status": result["status"],
        "sha256": digest,
        "json_kb": len(stored) / 1024,
        "values": values,
    }


def child_fairlearn(path: str) -> dict:
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
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    metrics = {
        "selection_rate": selection_rate,
        "recall": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": functools.partial(precision_score, zero_division=np.nan),
        "accuracy": accuracy_score,
        "count": count,
    }
    after_imports = rss_mb()
    steps, peaks = {}, {}

    start = time.perf_counter()
    df = pd.read_parquet(path, columns=list(COLUMNS))
    steps["read"], peaks["read"] = time.perf_counter() - start, peak_mb()

    start = time.perf_counter()
    features = {
        "sex": df["sex"],
        "age_band": df["age_band"],
        "sex+age_band": df[["sex", "age_band"]],
    }
    y, pred, score = df["label"], df["prediction"], df["score"]
    frames = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, sensitive in features.items():
            mf = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=sensitive)
            auc = MetricFrame(
                metrics={"roc_auc": roc_auc_score},
                y_true=y,
                y_pred=score,
                sensitive_features=sensitive,
            )
            frames[name] = (mf.by_group.join(auc.by_group), mf.difference(), mf.ratio())
    steps["metrics"], peaks["metrics"] = time.perf_counter() - start, peak_mb()

    values = {
        name: {
            ("|".join(k) if isinstance(k, tuple) else k): {m: float(row[m]) for m in COMPARED}
            for k, row in by_group.iterrows()
        }
        for name, (by_group, _, _) in frames.items()
    }
    return {
        "steps": steps,
        "step_peaks_mb": peaks,
        "after_imports_mb": after_imports,
        "values": values,
    }


def measure(path: str, data: Path, workdir: Path) -> dict:
    """Run one path in a fresh interpreter; return its timings, memory and numbers."""
    result_file = workdir / f"audit-job-result-{path}.json"
    command = [sys.executable, __file__, "--child", path, str(data), str(result_file)]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the {path} path failed on {data}")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    result["seconds"] = sum(result["steps"].values())
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["job_mb"] = result["peak_mb"] - result["after_imports_mb"]
    return result


def compare(ours: dict, theirs: dict, tolerance: float = 1e-9) -> int:
    """Assert every per-group number fairlearn gives equals ours; return how many."""
    compared = 0
    for feature, groups in theirs.items():
        assert set(ours[feature]) == set(groups), feature
        for group, row in groups.items():
            for metric, expected in row.items():
                got = ours[feature][group][metric]
                assert got is not None and abs(got - expected) <= tolerance, (
                    feature,
                    group,
                    metric,
                    got,
                    expected,
                )
                compared += 1
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--peer-rows",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="row counts at which fairlearn runs too (none: --peer-rows with no value)",
    )
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, data, result_file = args.child
        child = child_ours if path == "ours" else child_fairlearn
        Path(result_file).write_text(json.dumps(child(data)))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in sorted(set(args.rows) | set(args.peer_rows)):
        data = data_file(workdir, rows, args.seed)
        data.read_bytes()  # into the page cache, for every path alike
        ours = measure("ours", data, workdir)
        theirs = measure("fairlearn", data, workdir) if rows in args.peer_rows else None
        checked = compare(ours["values"], theirs["values"]) if theirs else 0
        results.append(
            {
                "rows": rows,
                "file_mb": data.stat().st_size / 2**20,
                "ours": {k: v for k, v in ours.items() if k != "values"},
                "fairlearn": theirs and {k: v for k, v in theirs.items() if k != "values"},
                "speed_ratio": theirs and theirs["seconds"] / ours["seconds"],
                "numbers_checked": checked,
            }
        )
        print_tables(results)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    (workdir / "audit-job-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_tables(results: list[dict]) -> None:
    print(
        "\n| rows | file MB | read s | audit s | hash+json s | total s | after imports MB "
        "| peak after read MB | peak MB | job MB | result KB | status |"
    )
    print("|" + "---|" * 12)
    for r in results:
        o = r["ours"]
        s = o["steps"]
        print(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {s['read']:.2f} | {s['audit']:.2f} "
            f"| {s['hash+json']:.3f} | {o['seconds']:.2f} | {o['after_imports_mb']:.0f} "
            f"| {o['step_peaks_mb']['read']:.0f} | {o['peak_mb']:.0f} | {o['job_mb']:.0f} "
            f"| {o['json_kb']:.0f} | {o['status']} |"
        )
    peers = [r for r in results if r["fairlearn"]]
    if peers:
        print(
            "\n| rows | ours s | fairlearn read s | fairlearn metrics s | fairlearn s "
            "| speed (fairlearn/ours) | ours peak MB | fairlearn peak MB | identical (1e-9) |"
        )
        print("|" + "---|" * 9)
        for r in peers:
            o, f = r["ours"], r["fairlearn"]
            print(
                f"| {r['rows']:,} | {o['seconds']:.2f} | {f['steps']['read']:.2f} "
                f"| {f['steps']['metrics']:.2f} | {f['seconds']:.2f} | {r['speed_ratio']:.0f}x "
                f"| {o['peak_mb']:.0f} | {f['peak_mb']:.0f} "
                f"| yes, {r['numbers_checked']} numbers |"
            )
    for r in results:
        if r["rows"] == GOAL_ROWS:
            o = r["ours"]
            fast = "met" if o["seconds"] < GOAL_SECONDS else "NOT met"
            small = "met" if o["peak_mb"] < GOAL_MB else "NOT met"
            print(
                f"\nGoal at {GOAL_ROWS:,} rows: {o['seconds']:.1f} s (under {GOAL_SECONDS:.0f} s: "
                f"{fast}), peak {o['peak_mb']:.0f} MB (under {GOAL_MB:.0f} MB: {small})."
            )
    print(flush=True)


if __name__ == "__main__":
    main()
