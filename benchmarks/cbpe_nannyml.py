"""Estimated performance: ``deployments.analysis.estimate`` against NannyML's CBPE.

Usage::

    .venv/bin/python benchmarks/cbpe_nannyml.py

Generates (fixed seed) a reference period and production chunks of a binary classifier
whose inputs drift, so that its performance slides:

- two inputs ``x1`` and ``x2``, standard normal in the reference; in production chunk
  ``k`` (0 to 5) ``x1`` has mean ``-0.03 k`` and deviation ``1 - 0.13 k`` and ``x2``
  deviation ``1 - 0.1 k``, so more and more rows sit near the decision boundary;
- the outcome is Bernoulli with log-odds ``0.5 + 2 x1 - 1.5 x2 + 0.5 x1 x2`` everywhere
  (no concept shift);
- the model scores ``sigmoid(0.3 + 2.6 x1 - 1.9 x2)``: too confident and blind to the
  interaction, so its scores need calibrating; it predicts positive at 0.5 and above.

Then both sides estimate every chunk from its scores alone:

- NannyML 0.13.1, in its own virtual environment (created under ``--workdir`` if
  missing; NannyML needs pandas < 3): ``benchmarks/cbpe_nannyml_runner.py`` fits
  ``CBPE(metrics=[roc_auc, accuracy, precision, recall, specificity, f1],
  chunk_size=N)`` on the reference and estimates the production rows;
- ours, in the project's Python: ``fit_reference(..., chunk_size=N)`` and ``estimate``
  per chunk.

Prints, per chunk and metric, NannyML's estimate, ours, their absolute difference and the
realized value (``realized``, from the labels NannyML never sees), then the largest
difference between the two over the estimates, sampling errors, confidence bounds and
thresholds, and whether alerts and the calibration decision agree. Exits non-zero if any
difference exceeds ``--tolerance``. Results are written to ``cbpe-results.json`` in the
work directory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NANNYML = ("nannyml==0.13.1", "pandas==2.3.3", "statsmodels==0.15.0")
METRICS = ("roc_auc", "accuracy", "precision", "recall", "specificity", "f1")
# Our field name: NannyML's.
FIELDS = {
    "value": "value",
    "sampling_error": "sampling_error",
    "lower_confidence": "lower_confidence_boundary",
    "upper_confidence": "upper_confidence_boundary",
    "lower_threshold": "lower_threshold",
    "upper_threshold": "upper_threshold",
}


def generate(path: Path, seed: int, reference_rows: int, chunk_rows: int, chunks: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def period(rows: int, k: int):
        x1 = rng.normal(-0.03 * k, 1 - 0.13 * k, rows)
        x2 = rng.normal(0.0, 1 - 0.1 * k, rows)
        truth = sigmoid(0.5 + 2 * x1 - 1.5 * x2 + 0.5 * x1 * x2)
        labels = (rng.random(rows) < truth).astype(np.int64)
        return sigmoid(0.3 + 2.6 * x1 - 1.9 * x2), labels

    reference_scores, reference_labels = period(reference_rows, 0)
    production = [period(chunk_rows, k) for k in range(chunks)]
    partial = path.with_suffix(".partial.npz")
    np.savez(
        partial,
        reference_scores=reference_scores,
        reference_labels=reference_labels,
        production_scores=np.concatenate([s for s, _ in production]),
        production_labels=np.concatenate([y for _, y in production]),
    )
    partial.rename(path)


def nannyml_python(workdir: Path) -> Path:
    """NannyML's own virtual environment under the work directory, made if missing."""
    venv = workdir / "nannyml-venv"
    python = venv / "bin" / "python"
    marker = venv / "benchmark-requirements.txt"
    wanted = "\n".join(NANNYML) + "\n"
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        print(f"installing {' '.join(NANNYML)} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *NANNYML], check=True)
        marker.write_text(wanted)
    return python


def run_nannyml(python: Path, data: Path, chunk_rows: int, threshold: float) -> dict:
    runner = ROOT / "benchmarks" / "cbpe_nannyml_runner.py"
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    command = [str(python), str(runner), str(data), "--chunk-size", str(chunk_rows)]
    command += ["--threshold", str(threshold)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_ours(data: Path, chunk_rows: int, threshold: float) -> dict:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from deployments.analysis.estimate import estimate, fit_reference, realized

    arrays = np.load(data)
    reference = fit_reference(
        arrays["reference_scores"],
        arrays["reference_labels"],
        threshold=threshold,
        chunk_size=chunk_rows,
    )
    scores, labels = arrays["production_scores"], arrays["production_labels"]
    chunks = []
    for start in range(0, len(scores), chunk_rows):
        part = slice(start, start + chunk_rows)
        result = estimate(reference, scores[part])
        truth = realized(labels[part], scores[part], threshold=threshold)
        chunks.append(
            {
                item.metric: {
                    **{name: getattr(item, name) for name in FIELDS},
                    "alert": item.alert,
                    "realized": truth.values[item.metric],
                }
                for item in result.metrics
            }
        )
    return {"calibrated": reference.calibration.applied, "chunks": chunks}


def difference(a: float | None, b: float | None) -> float:
    """Absolute difference; NaN (None from NannyML) on both sides counts as agreement."""
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    return abs(a - b)


def compare(ours: dict, theirs: dict) -> dict:
    rows, largest, alerts_differ = [], {name: (-1.0, "") for name in FIELDS}, 0
    for index, (mine, nml) in enumerate(zip(ours["chunks"], theirs["chunks"], strict=True)):
        for metric in METRICS:
            for name, their_name in FIELDS.items():
                gap = difference(mine[metric][name], nml[metric][their_name])
                if gap > largest[name][0]:
                    largest[name] = (gap, f"chunk {index} {metric}")
            alerts_differ += mine[metric]["alert"] != nml[metric]["alert"]
            rows.append(
                {
                    "chunk": index,
                    "metric": metric,
                    "nannyml": nml[metric]["value"],
                    "ours": mine[metric]["value"],
                    "difference": difference(mine[metric]["value"], nml[metric]["value"]),
                    "realized": mine[metric]["realized"],
                    "alert_nannyml": nml[metric]["alert"],
                    "alert_ours": mine[metric]["alert"],
                }
            )
    return {
        "rows": rows,
        "largest": {name: {"difference": g, "where": w} for name, (g, w) in largest.items()},
        "alerts_differ": alerts_differ,
        "calibration_agrees": ours["calibrated"] == theirs["calibrated"],
    }


def flag(alert: bool) -> str:
    return " ⚠" if alert else ""


def print_table(comparison: dict) -> None:
    print("| chunk | metric | NannyML | ours | difference | realized |")
    print("|---|---|---|---|---|---|")
    for row in comparison["rows"]:
        print(
            f"| {row['chunk']} | {row['metric']} | {row['nannyml']:.6f}{flag(row['alert_nannyml'])}"
            f" | {row['ours']:.6f}{flag(row['alert_ours'])} | {row['difference']:.1e}"
            f" | {row['realized']:.4f} |"
        )
    print()
    print("largest difference from NannyML:")
    for name, item in comparison["largest"].items():
        print(f"  {name:<17} {item['difference']:.2e}  ({item['where']})")
    print(f"  alerts that differ: {comparison['alerts_differ']}")
    print(f"  calibration decision agrees: {comparison['calibration_agrees']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--chunk-rows", type=int, default=5_000)
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument(
        "--nannyml-python", type=Path, help="a Python with NannyML installed, instead of the venv"
    )
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    name = f"cbpe-seed{args.seed}-{args.reference_rows}-{args.chunks}x{args.chunk_rows}.npz"
    data = args.workdir / name
    if not data.exists():
        generate(data, args.seed, args.reference_rows, args.chunk_rows, args.chunks)
    python = args.nannyml_python or nannyml_python(args.workdir)

    theirs = run_nannyml(python, data, args.chunk_rows, args.threshold)
    ours = run_ours(data, args.chunk_rows, args.threshold)
    comparison = compare(ours, theirs)
    print(f"NannyML {theirs['version']} (pandas {theirs['pandas']})")
    print(f"calibrated on the reference: NannyML {theirs['calibrated']}, ours {ours['calibrated']}")
    print()
    print_table(comparison)
    (args.workdir / "cbpe-results.json").write_text(
        json.dumps({"nannyml": theirs, "ours": ours, "comparison": comparison}, indent=1)
    )
    worst = max(item["difference"] for item in comparison["largest"].values())
    if (
        worst > args.tolerance
        or comparison["alerts_differ"]
        or not comparison["calibration_agrees"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
