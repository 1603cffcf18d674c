"""Drift-check benchmark: ``deployments.analysis.drift.dataset_drift`` against Evidently.

Usage::

    .venv/bin/python benchmarks/drift.py --rows 100000 1000000 --small

For each row count it generates (once, fixed seed, cached in ``--workdir``) a reference
and a current Parquet table of N rows with 20 numeric and 10 categorical (text) columns;
the current table drifts on some columns and not on others, a few of them close to the
thresholds. ``--small`` adds a 1,000-against-1,000-row case, where Evidently's defaults
pick ks, chisquare and z instead of wasserstein and jensenshannon.

Each path runs in a fresh subprocess, so that its peak memory is its own:

- ours (the project's Python): ``pyarrow.parquet.read_table`` of both files, numeric
  columns as float64 NumPy arrays (NaN for nulls), text columns as Arrow arrays, then
  ``dataset_drift(reference, current, kinds=...)``;
- Evidently 0.7.23 (the Python of its own virtual environment, created under the work
  directory if missing, since Evidently 0.7 does not import with pandas 3):
  ``benchmarks/drift_evidently.py`` reads both files with ``pandas.read_parquet`` and runs
  ``Report([DataDriftPreset()])`` with the columns declared in a ``DataDefinition``.

Both children import their libraries and run once on the first rows of the files before
the clock starts, then time reading the files and the computation separately. Peak memory
is the child's maximum resident set size as the kernel reports it on exit
(``os.wait4``). The parent compares the two column by column (method, verdict, statistic)
and exits non-zero if a method or a verdict differs. Results are printed as tables and
written to ``drift-results.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY = ("evidently==0.7.23", "pandas<3")
SMALL_ROWS = 1_000
WARM_ROWS = 5_000  # the warm-up run's rows: above 1,000 so it takes the large-sample path
REL_TOL, ABS_TOL = 1e-6, 1e-9  # statistics agree if within either

NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(10)]


def zipf(levels: int, exponent: float = 1.0):
    """Zipf-like shares, as real categories tend to have."""
    import numpy as np

    weights = 1.0 / np.arange(1, levels + 1) ** exponent
    return weights / weights.sum()


def numeric_columns(rng, n: int, current: bool) -> dict:
    """The 20 numeric columns; in the current table some of them move.

    The comments give the expected normed Wasserstein distance (threshold 0.1) or
    Jensen-Shannon distance (threshold 0.1, for the two columns of <= 5 values).
    """
    import numpy as np

    def holes(values, share=0.03):
        values = values.astype(np.float64)
        values[rng.random(n) < share] = np.nan
        return values

    c = current
    mix = rng.random(n) < (0.6 if c else 0.5)
    return {
        "num_00": rng.normal(100, 15, n),
        "num_01": rng.normal(0.25 if c else 0.0, 1, n),  # mean shift: 0.25
        "num_02": rng.normal(50, 7 if c else 5, n),  # scale x1.4: 0.32
        "num_03": holes(rng.lognormal(3, 0.8, n)),
        "num_04": rng.lognormal(3, 0.885 if c else 0.8, n),  # near, above: ~0.105
        "num_05": rng.uniform(0, 100, n),
        "num_06": rng.uniform(2.6 if c else 0, 102.6 if c else 100, n),  # near, below: 0.09
        "num_07": rng.poisson(20, n),
        "num_08": holes(rng.integers(15 if c else 0, 515 if c else 500, n)),  # near: 0.104
        "num_09": (rng.random(n) < (0.33 if c else 0.30)).astype(np.int64),  # 0/1 flag
        "num_10": rng.choice(  # a 1-4 rating, shares moved: JS ~0.102
            np.arange(1, 5), n, p=[0.18, 0.24, 0.36, 0.22] if c else [0.1, 0.2, 0.4, 0.3]
        ),
        "num_11": holes(rng.normal(0.05 if c else 0.0, 1, n)),  # 0.05
        "num_12": rng.exponential(2, n),
        "num_13": rng.gamma(2, 3.25 if c else 3, n),  # 0.12
        "num_14": holes(rng.normal(-20, 4, n)),
        "num_15": rng.beta(2, 5, n),
        "num_16": rng.integers(20 if c else 18, 93 if c else 91, n),  # ages, near, below: 0.096
        "num_17": rng.standard_t(3, n) * 10,
        "num_18": rng.lognormal(1, 0.5, n) * (1.5 if c else 1.0),  # 0.94
        "num_19": np.where(mix, rng.normal(-2, 1, n), rng.normal(2, 1, n)),  # 0.18
    }


# name: (levels, reference shares, current shares, null share); current shares of length
# levels + 1 bring in a new category. Comments give the expected Jensen-Shannon distance.
CATEGORIES = {
    "cat_0": (2, [0.6, 0.4], [0.61, 0.39], 0.0),  # 0.007
    "cat_1": (5, "zipf", "swap", 0.0),  # the two largest swap: 0.19
    "cat_2": (12, "zipf", "zipf", 0.02),
    "cat_3": (50, "zipf", "new", 0.0),  # a new category takes 8%: 0.17
    "cat_4": (200, "zipf", "zipf", 0.0),
    "cat_5": (500, "zipf", 1.14, 0.02),  # steeper shares, near, below: 0.095
    "cat_6": (1000, "zipf", "zipf", 0.0),
    "cat_7": (3, [0.5, 0.3, 0.2], [0.43, 0.33, 0.24], 0.0),  # 0.05
    "cat_8": (20, "zipf", "reverse5", 0.02),  # the five largest in reverse order: 0.30
    "cat_9": (100, "zipf", "zipf", 0.0),
}


def category_shares(levels: int, spec) -> list[float]:
    import numpy as np

    base = zipf(levels)
    if spec == "zipf":
        return list(base)
    if isinstance(spec, float):
        return list(zipf(levels, spec))
    if spec == "swap":
        base[[0, 1]] = base[[1, 0]]
    elif spec == "reverse5":
        base[:5] = base[:5][::-1].copy()
    elif spec == "new":
        base = np.append(base * 0.92, 0.08)
    else:
        base = np.asarray(spec)
    return list(base)


def categorical_columns(rng, n: int, current: bool) -> dict:
    """The 10 text columns, as Arrow string arrays (nulls where missing)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for name, (levels, reference_spec, current_spec, nulls) in CATEGORIES.items():
        shares = np.asarray(category_shares(levels, current_spec if current else reference_spec))
        shares = shares / shares.sum()
        labels = pa.array([f"{name}_v{k}" for k in range(levels)] + [f"{name}_new"])
        text = pc.take(labels, pa.array(rng.choice(len(shares), n, p=shares)))
        if nulls:
            text = pc.if_else(pa.array(rng.random(n) < nulls), None, text)
        columns[name] = text
    return columns


def generate(paths: tuple[Path, Path], rows: int, seed: int) -> None:
    """Write the reference and the current table (each with its own random stream)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    for index, path in enumerate(paths):
        rng = np.random.default_rng([seed, index])
        current = index == 1
        columns = {
            name: pa.array(values, from_pandas=True)  # NaN -> null, as a stored file has
            for name, values in numeric_columns(rng, rows, current).items()
        }
        columns.update(categorical_columns(rng, rows, current))
        partial = path.with_suffix(".partial")
        pq.write_table(pa.table(columns), partial)
        partial.rename(path)


def rss_mb() -> float:
    """The process's resident set now, in MB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child_ours(reference: str, current: str, warm_rows: int) -> dict:
    """Our path, in the project's Python: Parquet -> arrays -> ``dataset_drift``."""
    sys.path.insert(0, str(ROOT))
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deployments.analysis import drift

    kinds = {name: drift.NUMERIC for name in NUMERIC}
    kinds.update({name: drift.CATEGORICAL for name in CATEGORICAL})

    def arrays(table: pa.Table) -> dict:
        out = {}
        for name in NUMERIC:
            # Integer columns too become float64; nulls become NaN.
            out[name] = table.column(name).cast(pa.float64()).to_numpy()
        for name in CATEGORICAL:
            out[name] = table.column(name)
        return out

    def run(reference: dict, current: dict) -> dict:
        result = drift.dataset_drift(reference, current, kinds=kinds)
        columns = {
            c.column: {
                "method": c.method,
                "statistic": float(c.statistic),
                "threshold": float(c.threshold),
                "drifted": bool(c.drifted),
            }
            for c in result.columns
        }
        return {
            "columns": columns,
            "drifted_count": int(result.drifted_count),
            "share": float(result.share),
            "drifted": bool(result.drifted),
        }

    base_mb = rss_mb()
    if warm_rows:
        # As on Evidently's side: a small first run, so first-call costs are not timed.
        heads = [
            next(pq.ParquetFile(p).iter_batches(batch_size=warm_rows)) for p in (reference, current)
        ]
        run(*(arrays(pa.Table.from_batches([h])) for h in heads))
        del heads
    start = time.perf_counter()
    # As the drift job reads them: text columns as dictionaries.
    reference_arrays = arrays(pq.read_table(reference, read_dictionary=CATEGORICAL))
    current_arrays = arrays(pq.read_table(current, read_dictionary=CATEGORICAL))
    read_done = time.perf_counter()
    result = run(reference_arrays, current_arrays)
    end = time.perf_counter()
    result["seconds"] = {
        "read": read_done - start,
        "compute": end - read_done,
        "total": end - start,
    }
    result["base_mb"] = base_mb
    return result


def evidently_python(workdir: Path) -> Path:
    """Evidently's own virtual environment under the work directory, made if missing."""
    venv = workdir / "evidently-venv"
    python = venv / "bin" / "python"
    marker = venv / "benchmark-requirements.txt"
    wanted = "\n".join(EVIDENTLY) + "\n"
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        print(f"installing {' '.join(EVIDENTLY)} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY],
            check=True,
        )
        marker.write_text(wanted)
    return python


def measure(command: list[str], env: dict | None = None) -> dict:
    """Run one child; its printed result plus its peak memory from the kernel."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    assert process.stdout is not None
    output = process.stdout.read()  # small: one JSON line; read before waiting
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[1]} failed with exit code {process.returncode}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def relative_difference(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def compare(ours: dict, theirs: dict) -> dict:
    """Column by column: method, verdict, and how far apart the statistics are."""
    rows = []
    for name in NUMERIC + CATEGORICAL:
        a, b = ours["columns"][name], theirs["columns"][name]
        rel = relative_difference(a["statistic"], b["statistic"])
        absolute = abs(a["statistic"] - b["statistic"]) if rel not in (0.0, math.inf) else rel
        rows.append(
            {
                "column": name,
                "ours_method": a["method"],
                "evidently_method": b["method"],
                "ours_statistic": a["statistic"],
                "evidently_statistic": b["statistic"],
                "relative_difference": rel,
                "absolute_difference": absolute,
                "within_tolerance": rel <= REL_TOL or absolute <= ABS_TOL,
                "ours_drifted": a["drifted"],
                "evidently_drifted": b["drifted"],
            }
        )
    worst = max(rows, key=lambda r: r["relative_difference"])
    return {
        "columns": rows,
        "methods_differ": [r["column"] for r in rows if r["ours_method"] != r["evidently_method"]],
        "verdicts_differ": [
            r["column"] for r in rows if r["ours_drifted"] != r["evidently_drifted"]
        ],
        "outside_tolerance": [r["column"] for r in rows if not r["within_tolerance"]],
        "max_relative_difference": worst["relative_difference"],
        "max_relative_column": worst["column"],
        "max_absolute_difference": max(r["absolute_difference"] for r in rows),
    }


def warm(paths: tuple[Path, Path]) -> None:
    """Read the files once so that both paths find them in the page cache."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass


def run_case(rows: int, workdir: Path, seed: int, python: Path) -> dict:
    paths = (
        workdir / f"drift-{rows}-seed{seed}-reference.parquet",
        workdir / f"drift-{rows}-seed{seed}-current.parquet",
    )
    if not all(p.exists() for p in paths):
        print(f"generating {paths[0].name} and {paths[1].name} ...", flush=True)
        generate(paths, rows, seed)
    warm(paths)
    warm_rows = min(WARM_ROWS, rows // 2)  # the small case warms up on its own path too
    ours = measure(
        [sys.executable, __file__, "--child", str(paths[0]), str(paths[1]), str(warm_rows)]
    )
    theirs = measure(
        [
            str(python),
            str(ROOT / "benchmarks" / "drift_evidently.py"),
            str(paths[0]),
            str(paths[1]),
            "--numerical",
            ",".join(NUMERIC),
            "--categorical",
            ",".join(CATEGORICAL),
            "--warm-rows",
            str(warm_rows),
        ],
        # Evidently's usage telemetry off: the benchmark must not wait on the network.
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    comparison = compare(ours, theirs)
    return {
        "rows": rows,
        "file_mb": sum(p.stat().st_size for p in paths) / 2**20,
        "ours": ours,
        "evidently": theirs,
        "speed_ratio_total": theirs["seconds"]["total"] / ours["seconds"]["total"],
        "speed_ratio_compute": theirs["seconds"]["compute"] / ours["seconds"]["compute"],
        "memory_ratio": theirs["peak_mb"] / ours["peak_mb"],
        "comparison": comparison,
    }


def print_summary(results: list[dict]) -> None:
    print(
        "| rows (each table) | ours read s | ours compute s | ours total s "
        "| Evidently read s | Evidently compute s | Evidently total s "
        "| speed total (Evidently/ours) | speed compute | ours peak MB | Evidently peak MB "
        "| drifted columns ours / Evidently | same methods | same verdicts | max rel. diff |"
    )
    print("|" + "---|" * 15)
    for r in results:
        o, e, c = r["ours"], r["evidently"], r["comparison"]
        print(
            f"| {r['rows']:,} | {o['seconds']['read']:.3f} | {o['seconds']['compute']:.3f} "
            f"| {o['seconds']['total']:.3f} | {e['seconds']['read']:.3f} "
            f"| {e['seconds']['compute']:.2f} | {e['seconds']['total']:.2f} "
            f"| {r['speed_ratio_total']:.1f}x | {r['speed_ratio_compute']:.1f}x "
            f"| {o['peak_mb']:.0f} | {e['peak_mb']:.0f} "
            f"| {o['drifted_count']} / {e['drifted_count']} "
            f"| {30 - len(c['methods_differ'])}/30 | {30 - len(c['verdicts_differ'])}/30 "
            f"| {c['max_relative_difference']:.1e} ({c['max_relative_column']}) |",
            flush=True,
        )


def print_columns(result: dict) -> None:
    print(f"\n{result['rows']:,} rows, column by column:")
    print("| column | method (ours / Evidently) | ours | Evidently | rel. diff | drifted |")
    print("|" + "---|" * 6)
    for r in result["comparison"]["columns"]:
        method = r["ours_method"]
        if r["evidently_method"] != method:
            method = f"{method} / {r['evidently_method']} DIFFERENT"
        verdict = "yes" if r["ours_drifted"] else "no"
        if r["evidently_drifted"] != r["ours_drifted"]:
            verdict = f"ours {verdict}, Evidently {'yes' if r['evidently_drifted'] else 'no'}"
        print(
            f"| {r['column']} | {method} | {r['ours_statistic']:.10g} "
            f"| {r['evidently_statistic']:.10g} | {r['relative_difference']:.1e} | {verdict} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--small", action="store_true", help="add the 1,000-row case")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        reference, current, warm_rows = args.child
        sys.stdout.write(json.dumps(child_ours(reference, current, int(warm_rows))) + "\n")
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    python = evidently_python(workdir)
    results = []
    for rows in ([SMALL_ROWS] if args.small else []) + args.rows:
        results.append(run_case(rows, workdir, args.seed, python))
        print_columns(results[-1])
        print()
        print_summary(results)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
    (workdir / "drift-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    differ = [
        (r["rows"], r["comparison"]["methods_differ"], r["comparison"]["verdicts_differ"])
        for r in results
        if r["comparison"]["methods_differ"] or r["comparison"]["verdicts_differ"]
    ]
    if differ:
        for rows, methods, verdicts in differ:
            print(f"{rows:,} rows: methods differ on {methods}, verdicts differ on {verdicts}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
