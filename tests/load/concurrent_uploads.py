"""Concurrent uploads against the production stack, with the broker and cache stopped
for a while: gunicorn, PostgreSQL, a private Redis, a real Celery worker and beat.

Clients upload small CSV files (half of them to one shared dataset, the others each
to their own) and read the gate, for a bounded time. Midway Redis is shut down and
started again later. Then every upload must have answered 2xx or a clear 4xx, every
profile job must finish, and ``verify_events`` must pass. Exit status 0 only then.

    python -m tests.load.concurrent_uploads --clients 8 --seconds 60 --outage 60

Everything runs on loopback in a throwaway database and folder, and stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.servers import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

SETUP = """
from projects.models import Role
from projects.services import datasets, teams, tokens
from tests.factories import UserFactory, make_team, make_project
team = make_team("load-team")
engineer = UserFactory(username="load_engineer")
teams.membership_add(actor=None, team=team, user=engineer, role=Role.ML_ENGINEER)
project = make_project(team, "load-project", actor=engineer)
ids = [
    datasets.dataset_create(actor=engineer, project=project, name=f"set-{n}").pk
    for n in range({datasets})
]
_, key = tokens.token_create(user=engineer, name="load", scopes=["read", "write"])
print("SETUP", key, ",".join(map(str, ids)))
"""

REPORT = """
import json
from collections import Counter
from projects.models import DatasetVersion
rows = DatasetVersion.objects.values_list("status", "error")
status = Counter(s for s, _ in rows)
errors = Counter(e for s, e in rows if e)
print("JOBS", json.dumps({"status": status, "errors": errors}))
"""


def manage(env: dict, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def upload(base: str, key: str, dataset: int, n: int) -> int:
    boundary = uuid.uuid4().hex
    # The upload's number in a column makes every file's bytes new (no deduplication).
    rows = "".join(f"{i},{n},{i % 2}\n" for i in range(200))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="part-{n}.csv"\r\nContent-Type: text/csv\r\n\r\n'
        f"id,feature,label\n{rows}\r\n--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/datasets/{dataset}/versions/",
        data=body,
        headers={
            "Authorization": f"Token {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        method="POST",
    )
    return call(request)


def call(request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0  # no answer at all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--outage", type=float, default=0, help="seconds Redis is down")
    parser.add_argument("--kill", action="store_true", help="stop Redis with SIGKILL")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/stagegate_load")
    parser.add_argument("--drain", type=float, default=300, help="seconds to wait for jobs")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="stagegate-load-"))
    redis = PrivateRedis(folder)
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "DATABASE_URL": args.database,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CACHE_URL": f"redis://127.0.0.1:{redis.port}/1",
        "VAR_DIR": str(folder / "var"),
        "DEBUG": "false",
        "STATIC_MANIFEST": "false",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "JOB_SWEEP_SECONDS": "5",
        "JOB_STALE_SECONDS": "20",
        "THROTTLE_USER": "100000/minute",
        "LOG_LEVEL": "WARNING",
    }
    db_name = args.database.rsplit("/", 1)[1]
    admin_url = args.database.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db_name}"], check=True)
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {db_name}"], check=True)
    children: list[subprocess.Popen] = []
    try:
        redis.start()
        manage(env, "migrate", "--no-input")
        out = manage(env, "shell", "-c", SETUP.replace("{datasets}", str(args.clients + 1)))
        key, ids = out.split("SETUP ")[1].split()
        datasets = [int(i) for i in ids.split(",")]
        logs = open(folder / "services.log", "w")  # noqa: SIM115 (closed with the children)
        for command in (
            [
                PYTHON,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--preload",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "4",
                "--timeout",
                "60",
            ],
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "-n",
                f"load-{web_port}@%h",
            ],
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(folder / "beat-schedule"),
            ],
        ):
            children.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=logs, stderr=logs, start_new_session=True
                )
            )
        for _ in range(100):
            if call(urllib.request.Request(f"{base}/accounts/login/")) == 200:
                break
            time.sleep(0.2)

        codes: collections.Counter = collections.Counter()
        during_outage: collections.Counter = collections.Counter()
        timings: list[float] = []
        slow: list[tuple[float, float, int]] = []  # (seconds, when after the start, status)
        begun = time.monotonic()
        lock = threading.Lock()
        outage = threading.Event()
        stop_at = time.monotonic() + args.seconds

        def client(n: int) -> None:
            # Even clients share the first dataset; odd ones each have their own.
            dataset = datasets[0] if n % 2 == 0 else datasets[n % len(datasets)]
            i = 0
            while time.monotonic() < stop_at:
                started = time.monotonic()
                if i % 4 == 3:
                    status = call(
                        urllib.request.Request(
                            f"{base}/api/v1/projects/load-project/gates/",
                            headers={"Authorization": f"Token {key}"},
                        )
                    )
                else:
                    status = upload(base, key, dataset, n * 100_000 + i)
                took = time.monotonic() - started
                with lock:
                    codes[status] += 1
                    if outage.is_set():
                        during_outage[status] += 1
                    timings.append(took)
                    slow.append((round(took, 2), round(started - begun, 1), status))
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        if args.outage:
            time.sleep(min(args.seconds / 3, 20))
            redis.stop(kill=args.kill)
            outage.set()
            print(f"redis stopped for {args.outage:.0f} s", flush=True)
            time.sleep(args.outage)
            outage.clear()
            redis.start()
            print("redis started again", flush=True)
        for thread in threads:
            thread.join()

        deadline = time.monotonic() + args.drain
        while True:
            jobs = json.loads(manage(env, "shell", "-c", REPORT).split("JOBS ")[1])
            pending = {s: n for s, n in jobs["status"].items() if s in ("queued", "running")}
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(3)
        verify = subprocess.run(
            [PYTHON, "manage.py", "verify_events"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        server_errors = sum(n for code, n in codes.items() if code >= 500 or code == 0)
        print(
            json.dumps(
                {
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "redis_outage_seconds": args.outage,
                    "answers": dict(sorted(codes.items())),
                    "answers_during_outage": dict(sorted(during_outage.items())),
                    "answer_seconds": {
                        "p50": round(statistics.median(timings), 3),
                        "p95": round(statistics.quantiles(timings, n=20)[-1], 3),
                        "max": round(max(timings), 3),
                    },
                    "slowest_as_seconds_start_status": sorted(slow, reverse=True)[:5],
                    "jobs": jobs,
                    "verify_events": (verify.stdout or verify.stderr).strip().splitlines()[0],
                },
                indent=2,
            )
        )
        failed_jobs = jobs["status"].get("failed", 0)
        ok = server_errors == 0 and not pending and failed_jobs == 0 and verify.returncode == 0
        print("RESULT", "ok" if ok else "FAILED", flush=True)
        return 0 if ok else 1
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        redis.stop()
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db_name}"])
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
