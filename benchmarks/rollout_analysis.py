"""Rollout-window benchmark: ``deployments.analysis.window`` against plain NumPy and pandas.

Usage::

    .venv/bin/python benchmarks/rollout_analysis.py            # = --points 1000000 --metrics 4

One run, one process. The data is generated once from a fixed seed and not timed: a
one-hour window of N points spread evenly over the metrics (``latency_ms`` log-normal,
``throughput_qps``, ``error_rate`` and ``memory_mb``; custom metrics past four), as the
service hands them over, one float64 array per metric; and, for a shadow deployment, N
cases of agree / disagree with one of six segments each (text, as labels arrive).

- ours: ``derive_checks`` of a canary plan and its criteria at 25 % traffic (12 checks),
  ``window_stats`` of every metric, ``analyse`` of the checks, and the analysis as the
  service stores it (``as_dict``, canonical JSON, SHA-256);
- numpy: count, mean, min, max, sum and ``np.percentile(v, [50, 95, 99])`` per metric;
- pandas: the points as one long frame (metric, value; built before the clock starts),
  ``groupby("metric").agg([count, mean, min, max, sum])`` and ``.quantile([.5, .95, .99])``;
- shadow: ``shadow_agreement`` against ``DataFrame.groupby("segment")["agree"].agg(["mean",
  "size"])`` on the same arrays.

Seconds are the median of ``--repeat`` runs after one warm-up (the minimum is also
reported). Peak memory is the largest traced allocation of one run above what was
allocated before it (``tracemalloc``, which sees NumPy's and pandas' buffers), measured
in a separate run so that tracing does not slow the timed ones. The script asserts that
every statistic the peers give equals ours within 1e-9 (relative). Results go to
``rollout-results.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.analysis.window import (  # noqa: E402
    MetricWindow,
    analyse,
    derive_checks,
    shadow_agreement,
    window_stats,
)

WINDOW_SECONDS = 3600.0
NAMES = ("latency_ms", "throughput_qps", "error_rate", "memory_mb")
FIELDS = ("count", "mean", "min", "max", "sum", "p50", "p95", "p99")
SEGMENTS = np.array(["web", "ios", "android", "kiosk", "partner_api", "call_centre"], dtype=object)
PLAN = {
    "serving": {
        "mode": "realtime",
        "latency_ms": {"p50": 80, "p95": 250, "p99": 400},
        "throughput": {"qps": 10},
    },
    "checks": [
        {"metric": "error_rate", "statistic": "p99", "comparator": "<=", "threshold": 0.05},
        {"metric": "memory_mb", "statistic": "p95", "comparator": "<=", "threshold": 1800},
        {"metric": "latency_ms", "statistic": "count", "comparator": ">=", "threshold": 1000},
    ],
}


def _criterion(metric, comparator, target, unit, target_high=None):
    return {
        "metric": metric,
        "category": "software",
        "source": "deployment",
        "comparator": comparator,
        "target": target,
        "target_high": target_high,
        "unit": unit,
        "rationale": "benchmark",
    }


CRITERIA = [
    _criterion("p95_latency_ms", "<=", 300.0, "ms"),
    _criterion("throughput_qps", ">=", 8.0, "requests/s"),
    _criterion("error_rate", "between", 0.0, "share", target_high=0.02),
    _criterion("memory_mb", "<=", 2048.0, "MB"),
]


def generate(points: int, metrics: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = [*NAMES[:metrics], *(f"custom_{n}" for n in range(metrics - len(NAMES)))]
    sizes = [points // metrics + (n < points % metrics) for n in range(metrics)]
    makers = {
        "latency_ms": lambda k: rng.lognormal(np.log(60.0), 0.5, k),
        "throughput_qps": lambda k: rng.normal(2.6, 0.3, k),
        "error_rate": lambda k: rng.beta(1.0, 300.0, k),
        "memory_mb": lambda k: rng.normal(1500.0, 60.0, k),
    }
    return {
        name: makers.get(name, lambda k: rng.exponential(1.0, k))(size)
        for name, size in zip(names, sizes, strict=True)
    }


def ours(arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
    checks = derive_checks(PLAN, CRITERIA, traffic=25)
    windows = {m: MetricWindow(m, window_stats(v), "pushed") for m, v in arrays.items()}
    analysis = analyse(checks, windows, window_seconds=WINDOW_SECONDS)
    body = json.dumps(analysis.as_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(body.encode()).hexdigest()
    numbers = {w.metric: w.stats.as_dict() for w in analysis.windows}
    return numbers, {"outcome": analysis.outcome, "checks": len(checks), "sha256": digest}


def with_numpy(arrays: dict[str, np.ndarray]) -> dict:
    numbers = {}
    for metric, v in arrays.items():
        p50, p95, p99 = np.percentile(v, [50, 95, 99])
        numbers[metric] = {
            "count": v.size,
            "mean": v.mean(),
            "min": v.min(),
            "max": v.max(),
            "sum": v.sum(),
            "p50": p50,
            "p95": p95,
            "p99": p99,
        }
    return numbers


def with_pandas(frame: pd.DataFrame) -> dict:
    grouped = frame.groupby("metric", observed=True)["value"]
    table = grouped.agg(["count", "mean", "min", "max", "sum"])
    quantiles = grouped.quantile([0.5, 0.95, 0.99]).unstack()
    table[["p50", "p95", "p99"]] = quantiles.to_numpy()
    return {str(metric): row.to_dict() for metric, row in table.iterrows()}


def shadow_ours(agree: np.ndarray, segments: list) -> dict:
    got = shadow_agreement(agree, segments)
    return {s: (rate, cases) for s, rate, cases in got.per_segment}


def shadow_pandas(agree: np.ndarray, segments: list) -> dict:
    frame = pd.DataFrame({"agree": agree, "segment": segments})
    table = frame.groupby("segment")["agree"].agg(["mean", "size"])
    return {s: (row["mean"], row["size"]) for s, row in table.iterrows()}


def timed(work, repeat: int) -> tuple[float, float, object]:
    answer = work()  # warm-up: first-call costs (imports, caches) are not the analysis
    seconds = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        answer = work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), min(seconds), answer


def traced_peak_mb(work) -> float:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def same(ours_numbers: dict, theirs: dict, what: str, tolerance: float = 1e-9) -> int:
    compared = 0
    assert set(ours_numbers) == set(theirs), what
    for metric, row in theirs.items():
        for name in FIELDS:
            a, b = float(ours_numbers[metric][name]), float(row[name])
            assert abs(a - b) <= tolerance * max(1.0, abs(b)), (what, metric, name, a, b)
            compared += 1
    return compared


def run(points: int, metrics: int, seed: int, repeat: int) -> dict:
    """Every path on the same data; their seconds, peaks and the numbers compared."""
    arrays = generate(points, metrics, seed)
    frame = pd.DataFrame(
        {
            "metric": pd.Categorical(np.repeat(list(arrays), [v.size for v in arrays.values()])),
            "value": np.concatenate(list(arrays.values())),
        }
    )
    rng = np.random.default_rng(seed + 1)
    codes = rng.integers(0, len(SEGMENTS), points)
    agree = rng.random(points) < 0.9 - 0.03 * codes
    segments = SEGMENTS[codes].tolist()  # Python strings, as labels come from the database

    paths = {
        "ours": partial(ours, arrays),
        "numpy": partial(with_numpy, arrays),
        "pandas": partial(with_pandas, frame),
        "shadow ours": partial(shadow_ours, agree, segments),
        "shadow pandas": partial(shadow_pandas, agree, segments),
    }
    row: dict = {"points": points, "metrics": metrics}
    answers = {}
    for name, work in paths.items():
        median, best, answers[name] = timed(work, repeat)
        row[f"{name} s"] = median
        row[f"{name} min s"] = best
        row[f"{name} peak MB"] = traced_peak_mb(work)
    numbers, verdict = answers["ours"]
    row["checked"] = same(numbers, answers["numpy"], "numpy")
    row["checked"] += same(numbers, answers["pandas"], "pandas")
    mine, theirs = answers["shadow ours"], answers["shadow pandas"]
    assert mine.keys() == theirs.keys()
    for segment, (rate, cases) in theirs.items():
        assert abs(mine[segment][0] - rate) <= 1e-12 and mine[segment][1] == cases, segment
        row["checked"] += 2
    row.update(verdict)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--metrics", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()

    results = []
    for points in args.points:
        results.append(run(points, args.metrics, args.seed, args.repeat))
        print_tables(results)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    (workdir / "rollout-results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )


def print_tables(results: list[dict]) -> None:
    print(
        "| points | metrics | checks | ours s | numpy s | pandas s | numpy/ours | pandas/ours "
        "| ours peak MB | numpy peak MB | pandas peak MB | identical (1e-9) |"
    )
    print("|" + "---|" * 12)
    for r in results:
        print(
            f"| {r['points']:,} | {r['metrics']} | {r['checks']} | {r['ours s']:.4f} "
            f"| {r['numpy s']:.4f} | {r['pandas s']:.4f} | {r['numpy s'] / r['ours s']:.2f}x "
            f"| {r['pandas s'] / r['ours s']:.2f}x | {r['ours peak MB']:.1f} "
            f"| {r['numpy peak MB']:.1f} | {r['pandas peak MB']:.1f} "
            f"| yes, {r['checked']} numbers |"
        )
    print()
    print(
        "| shadow cases | segments | ours s | pandas s | pandas/ours | ours peak MB "
        "| pandas peak MB |"
    )
    print("|" + "---|" * 7)
    for r in results:
        print(
            f"| {r['points']:,} | {len(SEGMENTS)} | {r['shadow ours s']:.4f} "
            f"| {r['shadow pandas s']:.4f} | {r['shadow pandas s'] / r['shadow ours s']:.2f}x "
            f"| {r['shadow ours peak MB']:.1f} | {r['shadow pandas peak MB']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
