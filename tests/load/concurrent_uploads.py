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

import collections
import json
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from tests.load.stack import (
    PYTHON,
    ROOT,
    Stack,
    answer_seconds,
    arguments,
    call,
    manage,
    redis_outage,
)

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


def main() -> int:
    parser = arguments(__doc__.splitlines()[0], "postgres://postgres@127.0.0.1:5432/stagegate_load")
    args = parser.parse_args()

    with Stack(args.database) as stack:
        env, base = stack.env, stack.base
        out = manage(env, "shell", "-c", SETUP.replace("{datasets}", str(args.clients + 1)))
        key, ids = out.split("SETUP ")[1].split()
        datasets = [int(i) for i in ids.split(",")]
        stack.serve()

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
            redis_outage(
                stack.redis,
                seconds=args.seconds,
                outage=args.outage,
                kill=args.kill,
                flag=outage,
            )
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
                    "answer_seconds": answer_seconds(timings),
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


if __name__ == "__main__":
    sys.exit(main())
