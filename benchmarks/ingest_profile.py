"""Ingest-and-profile benchmark: ``projects.analysis.tabular.ingest`` against plain pandas.

Usage::

    .venv/bin/python benchmarks/ingest_profile.py --rows 1000000 5000000

For each row count it generates (once, cached in ``--workdir``) a CSV of 20 columns, then
runs each path in a fresh subprocess so that peak memory is per path:

- ours: ``ingest(csv, parquet, fmt="csv", options=ProfileOptions(label_column="label",
  sensitive_columns=("cat_1",)))`` - streams the file, writes Parquet, profiles it;
- pandas: ``df = pandas.read_csv(csv); df.describe(include="all")`` and ``value_counts()``
  of every column.

Seconds are measured inside the child around the work, imports excluded for both paths
(numpy, pyarrow and pandas, which pyarrow loads on first use anyway); peak memory is the
child's maximum resident set size as the kernel reports it on exit (``os.wait4``).
Results are printed as a table and written to ``results.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK_ROWS = 250_000
LEVELS = (5, 12, 50, 200, 500, 1000)


def generate(path: Path, rows: int, seed: int) -> None:
    """Write the benchmark CSV in chunks, so generating it takes little memory either."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    names = [pa.array([f"c{j}_{k}" for k in range(n)]) for j, n in enumerate(LEVELS)]
    # Zipf-like level frequencies, as real categories tend to have.
    weights = [1.0 / np.arange(1, n + 1) for n in LEVELS]
    weights = [w / w.sum() for w in weights]
    partial = path.with_suffix(".partial")
    writer = None
    with open(partial, "wb") as handle:
        for start in range(0, rows, CHUNK_ROWS):
            m = min(CHUNK_ROWS, rows - start)

            def holes(values, share, m=m):
                return pa.array(values, mask=rng.random(m) < share)

            columns = {
                "age": pa.array(rng.integers(18, 91, m)),
                "visits": holes(rng.poisson(3, m), 0.05),
                "account_id": pa.array(rng.integers(10**8, 10**9, m)),
                "year": pa.array(rng.integers(1990, 2025, m)),
                "items": holes(rng.integers(0, 500, m), 0.05),
                "score_int": pa.array(rng.integers(-1000, 1000, m)),
                "income": holes(np.round(rng.lognormal(10, 1, m), 2), 0.05),
                "height": pa.array(np.round(rng.normal(170, 10, m), 1)),
                "ratio": pa.array(np.round(rng.random(m), 4)),
                "balance": holes(np.round(rng.normal(0, 5000, m), 2), 0.05),
                "temp": pa.array(np.round(rng.normal(20, 8, m), 2)),
                "risk": pa.array(np.round(rng.beta(2, 5, m), 5)),
            }
            for j, n in enumerate(LEVELS):
                codes = pa.array(rng.choice(n, m, p=weights[j]).astype(np.int32))
                text = pc.take(names[j], codes)
                if j % 2:  # every other categorical column has ~3% missing
                    text = pc.if_else(pa.array(rng.random(m) < 0.03), None, text)
                columns[f"cat_{j}"] = text
            columns["active"] = pa.array(rng.random(m) < 0.7)
            columns["label"] = pa.array((rng.random(m) < 0.1).astype(np.int64))
            table = pa.table(columns)
            if writer is None:
                handle.write((",".join(table.schema.names) + "\n").encode())
                options = pcsv.WriteOptions(include_header=False, quoting_style="none")
                writer = pcsv.CSVWriter(handle, table.schema, write_options=options)
            writer.write_table(table)
        writer.close()
    partial.rename(path)


def child_ours(csv: str, out: str) -> dict:
    sys.path.insert(0, str(ROOT))
    # pyarrow imports pandas the first time it converts to numpy; import it before the
    # clock starts, as the pandas path does, so that both paths time only the work.
    import pandas  # noqa: F401

    from projects.analysis.tabular import ProfileOptions, ingest

    start = time.perf_counter()
    profile = ingest(
        csv,
        out,
        fmt="csv",
        options=ProfileOptions(label_column="label", sensitive_columns=("cat_1",)),
    )
    seconds = time.perf_counter() - start
    os.remove(out)
    return {"seconds": seconds, "rows": profile.rows}


def child_pandas(csv: str, out: str) -> dict:
    import pandas

    start = time.perf_counter()
    df = pandas.read_csv(csv)
    df.describe(include="all")
    for column in df.columns:
        df[column].value_counts()
    return {"seconds": time.perf_counter() - start, "rows": len(df)}


def measure(path: str, csv: Path, workdir: Path) -> dict:
    """Run one path in a fresh interpreter; return its timing and peak memory."""
    result_file = workdir / f"result-{path}.json"
    command = [
        sys.executable,
        __file__,
        "--child",
        path,
        str(csv),
        str(workdir / "out.parquet"),
        str(result_file),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"the {path} path failed with exit code {process.returncode}")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    result["process_seconds"] = time.perf_counter() - started
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def warm(csv: Path) -> None:
    """Read the file once so both paths find it in the page cache."""
    with open(csv, "rb") as handle:
        while handle.read(16 << 20):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, csv, out, result_file = args.child
        result = (child_ours if path == "ours" else child_pandas)(csv, out)
        Path(result_file).write_text(json.dumps(result))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in args.rows:
        csv = workdir / f"bench-{rows}-seed{args.seed}.csv"
        if not csv.exists():
            print(f"generating {csv.name} ...", flush=True)
            generate(csv, rows, args.seed)
        warm(csv)
        ours = measure("ours", csv, workdir)
        theirs = measure("pandas", csv, workdir)
        assert ours["rows"] == theirs["rows"] == rows
        results.append(
            {
                "rows": rows,
                "file_mb": csv.stat().st_size / 2**20,
                "ours_seconds": ours["seconds"],
                "pandas_seconds": theirs["seconds"],
                "speed_ratio": theirs["seconds"] / ours["seconds"],
                "ours_peak_mb": ours["peak_mb"],
                "pandas_peak_mb": theirs["peak_mb"],
                "memory_ratio": theirs["peak_mb"] / ours["peak_mb"],
                "ours_process_seconds": ours["process_seconds"],
                "pandas_process_seconds": theirs["process_seconds"],
            }
        )
        print_table(results)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    (workdir / "results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_table(results: list[dict]) -> None:
    header = (
        "| rows | file MB | ours s | pandas s | speed (pandas/ours) "
        "| ours peak MB | pandas peak MB | memory (pandas/ours) |"
    )
    print(header)
    print("|" + "---|" * 8)
    for r in results:
        print(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {r['ours_seconds']:.2f} "
            f"| {r['pandas_seconds']:.2f} | {r['speed_ratio']:.2f}x | {r['ours_peak_mb']:.0f} "
            f"| {r['pandas_peak_mb']:.0f} | {r['memory_ratio']:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
