"""Pipelines polling the gate: GET gates at a fixed rate against gunicorn on PostgreSQL and
Redis with the demo data, with the gate's cache and without it, side by side.

    .venv/bin/python -m benchmarks.gate_polling --rate 20 --seconds 300

Each phase starts its own stack (tests/load/stack.py: a throwaway database, a private
Redis, gunicorn with ``--workers``, a worker and beat), loads the demo, and polls the
demo's two projects a CI user can see, open loop: ``--rate`` requests a second spread over
``--clients`` threads, each sending on its own schedule whatever the answers take. Halfway
through, the business owner changes one project's description through the API and later
puts it back; every poll sent after each change answered must show it (the "Project
described" check), or the run counts it as stale.

Reported per phase: answer times (p50, p95, p99, max), errors, stale answers, the web
workers' CPU seconds per request and their peak resident memory; and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import urllib.request
from pathlib import Path

from tests.load.stack import Stack, fetch, manage, request

PROJECTS = ("credit-default", "collections-priority")
CHANGED = "credit-default"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _peak_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _describe(stack: Stack, key: str, text: str) -> tuple[float, float]:
    """Set the changed project's description; when it was sent and when answered."""
    sent = time.monotonic()
    status, body = fetch(
        urllib.request.Request(
            f"{stack.base}/api/v1/projects/{CHANGED}/",
            data=json.dumps({"description": text}).encode(),
            headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
            method="PATCH",
        )
    )
    if status != 200:
        raise SystemExit(f"the description change answered {status}: {body[:300]!r}")
    return sent, time.monotonic()


def phase(args: argparse.Namespace, cache_seconds: int) -> dict:
    name = "cached" if cache_seconds else "computed"
    with Stack(args.database, prefix=f"stagegate-gate-{name}-") as stack:
        stack.env["GATE_CACHE_SECONDS"] = str(cache_seconds)
        # The poller is one CI user; the benchmark measures the gate, not the throttle.
        stack.env["THROTTLE_GATE"] = "1000000/minute"
        manage(stack.env, "pack_signing_key")
        manage(stack.env, "load_demo", timeout=900)
        key = manage(stack.env, "create_token", "credit_owner").strip().splitlines()[-1]
        stack.serve(web_workers=args.workers)
        original = json.loads(fetch(request(f"{stack.base}/api/v1/projects/{CHANGED}/", key))[1])[
            "description"
        ]
        gunicorn = stack.children[0].pid
        workers = _children(gunicorn)
        # Warm each worker's imports and the cache before the clock starts.
        for _ in range(4 * args.workers):
            for slug in PROJECTS:
                fetch(request(f"{stack.base}/api/v1/projects/{slug}/gates/", key))
        cpu_before = _cpu_seconds(workers)

        timings: list[float] = []
        errors: dict[str, int] = {}
        polls: list[tuple[float, float, str, bool]] = []  # sent, answered, slug, described
        lock = threading.Lock()
        start = time.monotonic() + 0.5
        end = start + args.seconds
        interval = args.clients / args.rate

        def poller(n: int) -> None:
            due = start + n * interval / args.clients
            i = n
            while due < end:
                time.sleep(max(0.0, due - time.monotonic()))
                slug = PROJECTS[(i // args.clients + n) % len(PROJECTS)]
                sent = time.monotonic()
                status, body = fetch(request(f"{stack.base}/api/v1/projects/{slug}/gates/", key))
                answered = time.monotonic()
                with lock:
                    timings.append(answered - sent)
                    if status != 200:
                        errors[str(status)] = errors.get(str(status), 0) + 1
                    else:
                        checks = json.loads(body)["checks"]
                        described = next(
                            (c["passed"] for c in checks if c["key"] == "project.description"),
                            True,
                        )
                        polls.append((sent, answered, slug, described))
                due += interval
                i += args.clients

        threads = [threading.Thread(target=poller, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, start + args.seconds / 2 - time.monotonic()))
        _, cleared = _describe(stack, key, "")
        time.sleep(min(30, args.seconds / 6))
        restoring, restored = _describe(stack, key, original)
        for thread in threads:
            thread.join()
        cpu = _cpu_seconds(workers) - cpu_before

        # A poll sent after a change was answered must show it; one in flight while the
        # change was being made may show either.
        stale = after_change = 0
        for sent, answered, slug, described in polls:
            if slug != CHANGED:
                continue
            if cleared <= sent and answered <= restoring:
                expected = False
            elif sent >= restored:
                expected = True
            else:
                continue
            after_change += 1
            stale += described != expected
        sent_total = len(timings)
        return {
            "phase": name,
            "requests": sent_total,
            "rate": round(sent_total / args.seconds, 2),
            "errors": errors,
            "stale": stale,
            "polls_after_change": after_change,
            "p50_ms": round(statistics.median(timings) * 1000, 1),
            "p95_ms": round(_quantile(timings, 0.95) * 1000, 1),
            "p99_ms": round(_quantile(timings, 0.99) * 1000, 1),
            "max_ms": round(max(timings) * 1000, 1),
            "cpu_ms_per_request": round(cpu / sent_total * 1000, 2),
            "web_cores_busy": round(cpu / args.seconds, 3),
            "web_worker_peak_mb": _peak_mb(workers),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20, help="requests a second in all")
    parser.add_argument("--seconds", type=float, default=300, help="per phase")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/stagegate_gate_bench"
    )
    parser.add_argument("--only", choices=("cached", "computed"))
    args = parser.parse_args()
    results = []
    for cache_seconds in (60, 0):
        if args.only and args.only != ("cached" if cache_seconds else "computed"):
            continue
        result = phase(args, cache_seconds)
        print(json.dumps(result), flush=True)
        results.append(result)
    if len(results) == 2:
        cached, computed = results
        print(
            json.dumps(
                {
                    "p95_ratio_computed_over_cached": round(
                        computed["p95_ms"] / cached["p95_ms"], 2
                    ),
                    "cpu_ratio_computed_over_cached": round(
                        computed["cpu_ms_per_request"] / cached["cpu_ms_per_request"], 2
                    ),
                }
            )
        )


if __name__ == "__main__":
    main()
