"""Evaluation-job benchmark: an evaluation as the worker computes it, from a Parquet file.

Usage::

    .venv/bin/python benchmarks/evaluation_job.py --rows 1000000 10000000 --peer-rows 1000000

The predictions file is the audit-job benchmark's (``audit_job.py``, fixed seed, cached
under ``--workdir``): ``label`` (0/1), ``prediction`` (0/1), ``score`` (a probability),
``sex`` and ``age_band`` (text). It is mapped as y_true, y_pred, y_score and two sensitive
columns, and the same file stands for the dataset version (its label column ``label``), so
the job also checks the labels row for row against the version's, as it does for
predictions uploaded without row ids.

In a fresh subprocess per row count (so that its peak memory is the job's own) the worker's
own ``projects.services.evaluations._evaluation_work`` runs on unsaved model instances
whose files point into the work directory: it reads the columns, checks them against the
dataset version, computes the metrics and the curves, and returns the write it would make;
no database is touched. The metrics and curves it would store are kept for comparison.

At the row counts given with ``--peer-rows`` scikit-learn runs too, in its own subprocess:
``pandas.read_parquet`` of the three columns, then accuracy, balanced accuracy, precision,
recall, F1, ROC AUC, log loss, the confusion matrix, ``roc_curve``,
``precision_recall_curve``, ``average_precision_score`` and ``calibration_curve``. The
parent asserts that every metric, the confusion matrix, the curve areas and the kept
curve points equal scikit-learn's within 1e-9, and prints how many numbers it compared.

Seconds are measured inside the child around the work (imports excluded). Peak memory is
the child's maximum resident set size as the kernel reports it on exit (``os.wait4``);
"after imports" is the child's resident set just before the work, "job MB" the peak minus
that. Results also go to ``evaluation-job-results.json`` in the work directory.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_job import data_file, rss_mb  # noqa: E402

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(data: str, workdir: str, rows: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["MEDIA_ROOT"] = workdir
    os.environ.setdefault("UPLOAD_MAX_ROWS", str(max(rows, 10**9)))
    os.environ.setdefault("UPLOAD_MAX_EXPANDED_BYTES", str(2**40))
    import django

    django.setup()
    from projects.models import Dataset, DatasetVersion, Evaluation, ModelVersion, Project
    from projects.services.evaluations import _evaluation_work

    name = Path(data).name
    project = Project(task_type=Project.TaskType.CLASSIFICATION)
    dataset = Dataset(project=project, label_column="label")
    schema = [{"name": c} for c in ("label", "prediction", "score", "sex", "age_band")]
    version = DatasetVersion(dataset=dataset, rows=rows, parquet=name, schema=schema)
    evaluation = Evaluation(
        model_version=ModelVersion(project=project),
        dataset_version=version,
        file=name,
        format="parquet",
        mapping={
            "y_true": "label",
            "y_pred": "prediction",
            "y_score": "score",
            "sensitive": ["sex", "age_band"],
        },
    )
    after_imports = rss_mb()
    marks: list[tuple[str, float, float]] = []
    start = time.perf_counter()

    def progress(percent: int, message: str) -> None:
        marks.append((message, time.perf_counter() - start, peak_mb()))

    store = _evaluation_work(evaluation, progress)
    seconds = time.perf_counter() - start
    cells = [c.cell_contents for c in store.__closure__ or ()]
    metrics = next(c for c in cells if isinstance(c, dict) and "accuracy" in c)
    curves = next(c for c in cells if isinstance(c, dict) and "roc" in c)
    steps, peaks = {}, {}
    ends = [*[m[1] for m in marks[1:]], seconds]
    for (message, at, _), end in zip(marks, ends, strict=True):
        steps[message] = end - at
    for message, _, peak in marks[1:]:
        peaks[f"before {message}"] = peak
    return {
        "steps": steps,
        "step_peaks_mb": peaks,
        "seconds": seconds,
        "after_imports_mb": after_imports,
        "metrics": metrics,
        "curves": {k: curves[k] for k in ("confusion", "roc", "pr", "calibration")},
    }


def child_sklearn(data: str, workdir: str, rows: int) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_curve,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    after_imports = rss_mb()
    start = time.perf_counter()
    df = pd.read_parquet(data, columns=["label", "prediction", "score"])
    read = time.perf_counter() - start
    y, p, s = df["label"].to_numpy(), df["prediction"].to_numpy(), df["score"].to_numpy()
    metrics = {
        "accuracy": accuracy_score(y, p),
        "balanced_accuracy": balanced_accuracy_score(y, p),
        "precision": precision_score(y, p, zero_division=0),
        "recall": recall_score(y, p, zero_division=0),
        "f1": f1_score(y, p, zero_division=0),
        "roc_auc": roc_auc_score(y, s),
        "log_loss": log_loss(y, s),
    }
    fpr, tpr, roc_thresholds = roc_curve(y, s)
    precision, recall, pr_thresholds = precision_recall_curve(y, s)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
    out = {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "confusion": confusion_matrix(y, p).tolist(),
        "average_precision": float(average_precision_score(y, s)),
        "roc_points": int(fpr.size),
        "pr_points": int(precision.size),
        "roc_auc_curve": float(np.trapezoid(tpr, fpr)),
        "calibration": [prob_pred.tolist(), prob_true.tolist()],
    }
    seconds = time.perf_counter() - start
    # Kept for the comparison of curve points (precision and recall end on a point with no
    # threshold, hence one threshold fewer), outside the timing and the peak that matters.
    roc = {"fpr": fpr, "tpr": tpr, "thr": roc_thresholds}
    pr = {"precision": precision, "recall": recall, "thr": pr_thresholds}
    return {
        "steps": {"read": read, "metrics and curves": seconds - read},
        "seconds": seconds,
        "after_imports_mb": after_imports,
        "peak_before_points_mb": peak_mb(),
        **out,
        "roc_lookup": {
            repr(float(t)): [float(a), float(b)] for a, b, t in zip(*roc.values(), strict=True)
        },
        "pr_lookup": {
            repr(float(t)): [float(a), float(b)] for a, b, t in zip(*pr.values(), strict=False)
        },
    }


def measure(path: str, data: Path, workdir: Path, rows: int) -> dict:
    """Run one path in a fresh interpreter; return its timings, memory and numbers."""
    result_file = workdir / f"evaluation-job-result-{path}.json"
    command = [
        sys.executable,
        __file__,
        "--child",
        path,
        str(data),
        str(workdir),
        str(rows),
        str(result_file),
    ]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the {path} path failed on {data}")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    # The scikit-learn child's peak is taken before it builds its lookup of curve points.
    result["peak_mb"] = result.get("peak_before_points_mb", usage.ru_maxrss / 1024)
    result["job_mb"] = result["peak_mb"] - result["after_imports_mb"]
    return result


def _close(a: float | None, b: float, tolerance: float, what: str) -> None:
    assert a is not None and abs(a - b) <= tolerance, (what, a, b)


def compare(ours: dict, theirs: dict, tolerance: float = 1e-9) -> int:
    """Assert our metrics and curves equal scikit-learn's; return how many numbers."""
    compared = 0
    for name in METRICS:
        _close(ours["metrics"][name], theirs["metrics"][name], tolerance, name)
        compared += 1
    assert ours["curves"]["confusion"] == theirs["confusion"]
    compared += 4
    roc, pr = ours["curves"]["roc"], ours["curves"]["pr"]
    _close(roc["auc"], theirs["roc_auc_curve"], tolerance, "roc area")
    _close(pr["average_precision"], theirs["average_precision"], tolerance, "average precision")
    assert roc["points"] == theirs["roc_points"] and pr["points"] == theirs["pr_points"]
    compared += 4
    for curve, lookup, keys in ((roc, "roc_lookup", ("fpr", "tpr")), (pr, "pr_lookup", None)):
        keys = keys or ("precision", "recall")
        for x, y, t in zip(curve[keys[0]], curve[keys[1]], curve["thresholds"], strict=True):
            if t is None:  # the curve's open end (infinity) is stored as None
                continue
            a, b = theirs[lookup][repr(float(t))]
            _close(x, a, tolerance, keys[0])
            _close(y, b, tolerance, keys[1])
            compared += 2
    cal = ours["curves"]["calibration"]
    for mine, reference in zip(
        (cal["mean_predicted"], cal["fraction_positive"]), theirs["calibration"], strict=True
    ):
        for a, b in zip(mine, reference, strict=True):
            _close(a, b, tolerance, "calibration")
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
        help="row counts at which scikit-learn runs too (none: --peer-rows with no value)",
    )
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, data, workdir, rows, result_file = args.child
        child = child_ours if path == "ours" else child_sklearn
        Path(result_file).write_text(json.dumps(child(data, workdir, int(rows))))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in sorted(set(args.rows) | set(args.peer_rows)):
        data = data_file(workdir, rows, args.seed)
        data.read_bytes()  # into the page cache, for every path alike
        ours = measure("ours", data, workdir, rows)
        theirs = measure("sklearn", data, workdir, rows) if rows in args.peer_rows else None
        checked = compare(ours, theirs) if theirs else 0
        results.append(
            {
                "rows": rows,
                "file_mb": data.stat().st_size / 2**20,
                "ours": {k: v for k, v in ours.items() if k not in ("metrics", "curves")},
                "sklearn": theirs
                and {k: v for k, v in theirs.items() if k in ("steps", "seconds", "peak_mb")},
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
    (workdir / "evaluation-job-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_tables(results: list[dict]) -> None:
    print(
        "\n| rows | file MB | read+check s | metrics s | curves s | total s | after imports MB "
        "| peak after read+check MB | peak after metrics MB | peak MB | job MB |"
    )
    print("|" + "---|" * 11)
    for r in results:
        o = r["ours"]
        s = list(o["steps"].values())
        p = list(o["step_peaks_mb"].values())
        print(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {s[0]:.2f} | {s[1]:.2f} | {s[2]:.2f} "
            f"| {o['seconds']:.2f} | {o['after_imports_mb']:.0f} | {p[0]:.0f} | {p[1]:.0f} "
            f"| {o['peak_mb']:.0f} | {o['job_mb']:.0f} |"
        )
    peers = [r for r in results if r["sklearn"]]
    if peers:
        print(
            "\n| rows | ours s | scikit-learn s | speed (sklearn/ours) | ours peak MB "
            "| scikit-learn peak MB | identical (1e-9) |"
        )
        print("|" + "---|" * 7)
        for r in peers:
            o, f = r["ours"], r["sklearn"]
            print(
                f"| {r['rows']:,} | {o['seconds']:.2f} | {f['seconds']:.2f} "
                f"| {r['speed_ratio']:.1f}x | {o['peak_mb']:.0f} | {f['peak_mb']:.0f} "
                f"| yes, {r['numbers_checked']} numbers |"
            )
    print(flush=True)


if __name__ == "__main__":
    main()
