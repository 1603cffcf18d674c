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
CPU seconds (all threads of the child, same span) are reported too: on a shared machine
they vary far less than wall time, and their ratio is what our threads' overlap multiplies
on idle cores. Results are printed as a table, with the load average at the end of each
row count, and written to ``results.json`` in the work directory.

With ``--stages`` it prints instead where our CPU time goes, stage by stage (see
:func:`stages`).
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

    start, cpu = time.perf_counter(), time.process_time()
    profile = ingest(
        csv,
        out,
        fmt="csv",
        options=ProfileOptions(label_column="label", sensitive_columns=("cat_1",)),
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    os.remove(out)
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": profile.rows}


def stages(csv: str, out: str) -> dict[str, float]:
    """CPU seconds of each stage of the ingest, run one after another on one thread.

    The ingest overlaps parsing, statistics and writing on three threads, so its wall time
    hides what each costs; here the same steps (the same functions, chunks and batches)
    run in sequence and each is timed with ``time.thread_time``, which a busy machine
    does not inflate the way it does wall-clock time.
    """
    sys.path.insert(0, str(ROOT))
    import pandas  # noqa: F401  (as in child_ours: loaded before the clock starts)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from projects.analysis import tabular
    from projects.analysis.columnstats import CategoricalStats, ClassCounts, NumericStats
    from projects.analysis.csvscan import CsvScan, inspect_csv
    from projects.analysis.profile import ProfileBuilder, ProfileOptions

    options = ProfileOptions(label_column="label", sensitive_columns=("cat_1",))
    spent: dict[str, float] = {}

    def timed(stage: str, work, *args):
        start = time.thread_time()
        result = work(*args)
        spent[stage] = spent.get(stage, 0.0) + time.thread_time() - start
        return result

    layout = inspect_csv(csv, False, options.encoding, None, limits=options.limits)
    scan = CsvScan(csv, layout, options.batch_bytes, limits=options.limits)
    builder = writer = None
    pending: list = []

    def profile(batch) -> None:
        builder.rows += batch.num_rows
        for field, column, stats in zip(batch.schema, batch.columns, builder.stats, strict=True):
            if isinstance(stats, NumericStats):
                kind = "integer" if pa.types.is_integer(field.type) else "float"
                kind += " (exact counts)" if stats.span is not None else " (sample, distinct)"
            else:
                kind = "text and boolean" if isinstance(stats, CategoricalStats) else "other"
            timed(f"statistics: {kind} columns", stats.update, column)
        for name, counts in builder.classes.items():
            timed(
                f"statistics: {ClassCounts.__name__} (label, sensitive)",
                counts.update,
                batch.column(name),
            )

    group: list = []  # batches waiting to be written as one row group, as in _ParquetOut

    def write(flush: bool = False) -> None:
        rows = sum(b.num_rows for b in group)
        size = sum(b.nbytes for b in group)
        if group and (flush or rows >= tabular.ROW_GROUP_ROWS or size >= tabular.ROW_GROUP_BYTES):
            table = pa.Table.from_batches(group)
            timed("Parquet write", writer.write_table, table, table.num_rows)
            group.clear()

    def feed() -> None:
        batch = timed("gather chunks into batches", tabular._one_batch, pending)
        group.append(batch)
        write()
        profile(batch)
        timed("hand freed memory back", pa.default_memory_pool().release_unused)
        pending.clear()

    chunks = scan._chunks  # the reading and cutting, timed apart from the parsing
    parse = scan._parse
    scan._chunks = lambda source: _timed_iter(chunks(source), spent, "read and cut chunks")
    scan._parse = lambda data, offset: timed("CSV parse", parse, data, offset)
    rows = 0
    for table, _ in scan.tables():
        if builder is None:
            builder = ProfileBuilder(table.schema, options)
            writer = tabular._ParquetOut(out, table.schema).writer
        pending.append(table)
        rows += table.num_rows
        if (
            sum(t.num_rows for t in pending) >= tabular.BATCH_ROWS
            or sum(t.nbytes for t in pending) >= tabular.BATCH_CHUNKS * options.batch_bytes
        ):
            feed()
    if pending:
        feed()
    write(flush=True)
    timed("Parquet write", writer.close)
    names = builder.second_pass_columns()
    written = pq.ParquetFile(out)
    for index in range(written.num_row_groups):
        table = timed(
            "second pass: Parquet read-back",
            written.read_row_group,
            index,
            names,
            False,
        )
        for batch in table.to_batches():
            timed("second pass: histograms and recounts", builder.second_pass, batch)
    timed("finish", builder.finish)
    os.remove(out)
    return {"rows": rows, "second_pass_columns": names, "cpu_seconds": spent}


def _timed_iter(items, spent: dict[str, float], stage: str):
    while True:
        start = time.thread_time()
        item = next(items, None)
        spent[stage] = spent.get(stage, 0.0) + time.thread_time() - start
        if item is None:
            return
        yield item


def child_pandas(csv: str, out: str) -> dict:
    import pandas

    start, cpu = time.perf_counter(), time.process_time()
    df = pandas.read_csv(csv)
    df.describe(include="all")
    for column in df.columns:
        df[column].value_counts()
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": len(df),
    }


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
    parser.add_argument(
        "--stages",
        action="store_true",
        help="instead of the comparison, print the CPU seconds of each stage of the ingest",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, csv, out, result_file = args.child
        children = {"ours": child_ours, "pandas": child_pandas, "stages": stages}
        result = children[path](csv, out)
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
        if args.stages:
            print_stages(rows, measure("stages", csv, workdir))
            continue
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
                "ours_cpu_seconds": ours["cpu_seconds"],
                "pandas_cpu_seconds": theirs["cpu_seconds"],
                "cpu_ratio": theirs["cpu_seconds"] / ours["cpu_seconds"],
                "load_average": os.getloadavg()[0],
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


def print_stages(rows: int, result: dict) -> None:
    spent = result["cpu_seconds"]
    total = sum(spent.values())
    print(
        f"{rows:,} rows, load average {os.getloadavg()[0]:.1f}; sampled columns read back: "
        + ", ".join(result["second_pass_columns"])
    )
    print("| stage | CPU s | share |")
    print("|---|---|---|")
    for stage, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"| {stage} | {seconds:.2f} | {seconds / total:.0%} |")
    print(f"| total | {total:.2f} | |", flush=True)


def print_table(results: list[dict]) -> None:
    header = (
        "| rows | file MB | ours s | pandas s | speed (pandas/ours) "
        "| ours CPU s | pandas CPU s | CPU (pandas/ours) "
        "| ours peak MB | pandas peak MB | memory (pandas/ours) | load |"
    )
    print(header)
    print("|" + "---|" * 12)
    for r in results:
        print(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {r['ours_seconds']:.2f} "
            f"| {r['pandas_seconds']:.2f} | {r['speed_ratio']:.2f}x "
            f"| {r['ours_cpu_seconds']:.2f} | {r['pandas_cpu_seconds']:.2f} "
            f"| {r['cpu_ratio']:.2f}x | {r['ours_peak_mb']:.0f} "
            f"| {r['pandas_peak_mb']:.0f} | {r['memory_ratio']:.2f}x | {r['load_average']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
