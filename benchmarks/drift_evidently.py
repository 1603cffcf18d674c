"""Evidently's side of the drift benchmark (``benchmarks/drift.py``).

Runs with the Python of a separate virtual environment holding ``evidently==0.7.23`` and
``pandas<3`` (Evidently 0.7 does not import with pandas 3), so it must not import the
project. Usage::

    python drift_evidently.py REFERENCE.parquet CURRENT.parquet \
        --numerical num_00,num_01 --categorical cat_0,cat_1 --warm-rows 5000

It reads both Parquet files with pandas, runs ``Report([DataDriftPreset()])`` with the
columns declared in a ``DataDefinition`` and prints one JSON line: per column the method
(Evidently's registry name: ks, chisquare, z, wasserstein, jensenshannon), the drift score
and the verdict, the dataset's drifted count and share, and the seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def rss_mb() -> float:
    """The process's resident set now, in MB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def method_names() -> dict[str, str]:
    """Display name -> registry name: the 0.7 report keeps only the display name."""
    from evidently.legacy.calculations.stattests import registry

    names = {}
    for by_type in registry._registered_stat_tests.values():
        for test in by_type.values():
            names[test.display_name] = test.name
    return names


def run(reference, current, numerical: list[str], categorical: list[str]) -> dict:
    """One DataDriftPreset report; its per-column results as plain values."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    # include_tests gives each column's verdict (a test that fails when drift is detected);
    # the metric values alone carry only the score.
    report = Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    document = snapshot.dict()
    names = method_names()
    metrics = {m["id"]: m for m in document["metrics"]}
    columns, share, count, dataset_drifted = {}, None, None, None
    for metric in document["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {
                "method": names.get(config["method"], config["method"]),
                "statistic": float(metric["value"]),
                "threshold": config["threshold"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            count = int(metric["value"]["count"])
    for test in document["tests"]:
        metric = metrics[test["metric_config"]["metric_id"]]
        drifted = test["status"] == "FAIL"
        if metric["config"]["type"].endswith(":ValueDrift"):
            columns[metric["config"]["column"]]["drifted"] = drifted
        else:
            dataset_drifted = drifted  # "share of drifted columns less than 0.5" failed
    return {"columns": columns, "drifted_count": count, "share": share, "drifted": dataset_drifted}


def head(path: str, rows: int):
    """The first rows of a Parquet file as a DataFrame, without reading the rest."""
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows))
    return batch.to_pandas()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--numerical", required=True)
    parser.add_argument("--categorical", required=True)
    parser.add_argument("--warm-rows", type=int, default=0)
    args = parser.parse_args()
    numerical = args.numerical.split(",")
    categorical = args.categorical.split(",")

    import evidently  # noqa: F401  (imported before the clock, as ours imports its module)
    import pandas as pd

    base_mb = rss_mb()
    if args.warm_rows:
        # One small report first, so that the lazy imports and caches of the first run
        # (scipy.stats, plotly) are not counted against the timed one.
        run(
            head(args.reference, args.warm_rows),
            head(args.current, args.warm_rows),
            numerical,
            categorical,
        )
    start = time.perf_counter()
    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    read_done = time.perf_counter()
    result = run(reference, current, numerical, categorical)
    end = time.perf_counter()
    result["seconds"] = {
        "read": read_done - start,
        "compute": end - read_done,
        "total": end - start,
    }
    result["base_mb"] = base_mb
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
