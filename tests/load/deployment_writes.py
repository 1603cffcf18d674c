"""The deployment stage's writes against the production stack, with the broker and cache
stopped for a while: gunicorn, PostgreSQL, a private Redis, a real Celery worker and beat.

Several projects each have a deployment with a signed quick canary plan and a rollout
under way. For a bounded time, clients push batches of live metrics over HTTP (with the
deployment's metrics token and with the project's write token; some retried with the same
idempotency key, some sent twice at the same moment, a few deliberately bad) and read the
deployment, its rollout, its analyses and the gate into monitoring, and now and then ask
for a drift check, send an Alertmanager notification (firing or resolved), join a file
of delayed labels and ask for a monitoring report; for every deployment two promoters race
to promote the same step as soon as its window closes. Midway Redis is shut down and
started again later. Then:

- no answer is a 5xx (or none at all), every bad batch answered 4xx;
- every batch that answered 201 is stored exactly once with its points, and a deployment
  holds exactly the points of its stored batches; a retry answered 200 with the same batch,
  and of a batch sent twice at once one copy answered 201, the other 200;
- at most one promoter won each step, and the rollout's moves are the winners, one per
  step change, none skipped or repeated;
- every analysis has its sha256, and the trail names the same;
- every drift check and report asked for answered 202, every Alertmanager notification
  200, and no rule has two open alerts;
- every new file of labels answered 202 and a file joined already 409, and each period's
  realized performance was computed from every joined batch, over all their ids;
- every pushed point is in its minute's and its hour's rollup (the worker's refresh, or
  beat's sweep for pushes whose refresh could not be published), none left due;
- ``verify_events`` passes, PostgreSQL saw no deadlock, and no job is left unfinished.

Exit status 0 only then.

    python -m tests.load.deployment_writes --clients 4 --seconds 45 --outage 20 --kill

Everything runs on loopback in a throwaway database and folder, and stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import glob
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from tests.load.stack import (
    PYTHON,
    ROOT,
    Stack,
    answer_seconds,
    arguments,
    code_of,
    fetch,
    manage,
    redis_outage,
    request,
)

SETUP = """
import json
from datetime import timedelta
from django.utils import timezone
from deployments.services.rollouts import rollout_start
from deployments.services.tokens import deployment_token_create
from projects.models import Role
from projects.services import tokens
from tests.factories import (
    UserFactory, build_team, make_dataset, make_deployment, make_production_period, make_version,
    production_frame,
)
import numpy as np
import pyarrow.parquet as pq
outsider = UserFactory(username="load_outsider")
made = []
for n in range({projects}):
    world = build_team(f"load{n}", outsider)
    engineer = world.people[Role.ML_ENGINEER]
    # The factories' quick canary: one-minute windows, signed by both roles.
    deployment, _ = make_deployment(world)
    # Started minutes ago, so the first step's window has closed when the clients begin.
    rollout = rollout_start(
        actor=engineer,
        deployment=deployment,
        reason="Load run.",
        now=timezone.now() - timedelta(minutes=5),
    )
    _, write = tokens.token_create(
        user=engineer,
        name="ci",
        scopes=["read", "write", "transition"],
        project=world.project,
    )
    _, metrics = deployment_token_create(actor=engineer, deployment=deployment, name="exporter")
    period = make_version(
        make_dataset(world.project, engineer, name="requests", purpose="production_sample"),
        engineer,
        production_frame(200, seed=n).to_csv(index=False).encode(),
    )
    # A week of the live model's requests, named by customer id, and six files of their
    # outcomes (overlapping subsets), each joined at most once while the clients run.
    make_production_period(
        deployment,
        period,
        start=timezone.now() - timedelta(days=8),
        end=timezone.now() - timedelta(days=1),
        id_column="customer_id",
    )
    rows = pq.read_table(period.parquet.path, columns=["customer_id", "defaulted"]).to_pandas()
    outcomes = make_dataset(
        world.project, engineer, name="outcomes", purpose="production_sample",
        label_column="", sensitive_columns=[], personal_data_columns=[],
    )
    rng = np.random.default_rng(n)
    label_versions = []
    for k in range(6):
        some = rows.iloc[np.sort(rng.choice(len(rows), 40, replace=False))]
        label_versions.append(make_version(
            outcomes, engineer, some.to_csv(index=False).encode(), name=f"outcomes-{k}.csv"
        ).pk)
    made.append({
        "reference": world.version.pk,
        "current": period.pk,
        "deployment": deployment.pk,
        "rollout": rollout.pk,
        "project": world.project.slug,
        "write": write,
        "metrics": metrics,
        "labels": label_versions,
    })
print("SETUP", json.dumps(made))
"""

JOBS = """
import json
from collections import Counter
from deployments.models import RollupDue
from portal.jobs import job_models
jobs = {
    m.__name__: dict(Counter(m.objects.values_list("status", flat=True))) for m in job_models()
}
jobs = {name: status for name, status in jobs.items() if status}
# Spans still waiting for their rollups count as work left, as a queued job does.
if RollupDue.objects.exists():
    jobs["RollupDue"] = {"queued": RollupDue.objects.count()}
print("JOBS", json.dumps(jobs))
"""

FACTS = """
import json
from django.db.models import Count
from django.db.models.functions import TruncHour, TruncMinute
from deployments.models import (
    Alert, Analysis, MetricBatch, MetricPoint, MetricRollup, Rollout, RolloutMove, RollupDue
)
from projects.models import Event
from deployments.models import LabelBatch, ProductionPeriod
import pyarrow.parquet as pq
def joined():
    # Per period naming its ids: the deployment's joined batches, the batches its realized
    # performance was computed from, the distinct ids of those batches among the period's
    # scored rows, and the labelled rows it counted.
    found = []
    for period in ProductionPeriod.objects.exclude(id_column=""):
        done = list(LabelBatch.objects.filter(
            deployment=period.deployment_id, status="succeeded"
        ).select_related("dataset_version").order_by("pk"))
        frame = pq.read_table(period.dataset_version.parquet.path,
                              columns=[period.id_column, period.score_column]).to_pandas()
        scored = set(frame[period.id_column][frame[period.score_column].notna()])
        ids = set()
        for b in done:
            ids |= set(pq.read_table(b.dataset_version.parquet.path, columns=[b.id_column])
                       .column(0).to_pylist())
        found.append([period.pk, [b.pk for b in done], period.realized.get("batches", []),
                      len(ids & scored), period.realized.get("labelled", 0)])
    return found
def by_bucket(trunc, resolution):
    raw = {
        (d, n, b.isoformat()): c
        for d, n, b, c in MetricPoint.objects.annotate(b=trunc("timestamp"))
        .values_list("deployment_id", "name", "b").annotate(c=Count("id")).order_by()
    }
    rolled = {
        (d, n, b.isoformat()): c
        for d, n, b, c in MetricRollup.objects.filter(resolution=resolution)
        .values_list("deployment_id", "name", "bucket", "count")
    }
    return sorted([list(k), raw.get(k), rolled.get(k)] for k in raw.keys() | rolled.keys()
                  if raw.get(k) != rolled.get(k))
rows = dict(MetricPoint.objects.values_list("batch_id").annotate(n=Count("id")).order_by())
held = MetricPoint.objects.values_list("deployment_id").annotate(n=Count("id")).order_by()
print("FACTS", json.dumps({
    "batches": [
        [d, key, points, rows.get(pk, 0)]
        for pk, d, key, points in MetricBatch.objects.values_list(
            "pk", "deployment_id", "idempotency_key", "points"
        )
    ],
    "points": {str(d): n for d, n in held},
    "rollouts": {
        str(r.pk): {"deployment": r.deployment_id, "status": r.status, "step": r.step}
        for r in Rollout.objects.all()
    },
    "moves": list(RolloutMove.objects.order_by("rollout_id", "id").values(
        "rollout_id", "action", "step", "analysis_id"
    )),
    "analyses": {
        str(a["id"]): a
        for a in Analysis.objects.values("id", "rollout_id", "step", "outcome", "sha256")
    },
    "events": [
        [e.verb, e.payload.get("analysis"), e.payload.get("analysis_sha256")]
        for e in Event.objects.filter(verb__startswith="rollout.")
    ],
    "rollups_off": by_bucket(TruncMinute, 60)[:20] + by_bucket(TruncHour, 3600)[:20],
    "rollups_due": RollupDue.objects.count(),
    "labels": joined(),
    "open_alerts_per_rule": sorted(
        [d, k, n] for d, k, n in Alert.objects.exclude(state="resolved")
        .values_list("deployment_id", "key").annotate(n=Count("id")).order_by() if n > 1
    ),
}))
"""

#: Promotion refusals a losing or early promoter may get; anything else is a defect.
REFUSALS = {
    "out_of_order",
    "moved_meanwhile",
    "window_open",
    "analysis_failed",
    "analysis_inconclusive",
}
SHA256 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")


@dataclass
class Push:
    deployment: int
    key: str
    points: int
    answers: list[int] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)


@dataclass
class Tally:
    """What the clients saw; one lock guards it all."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: collections.Counter = field(default_factory=collections.Counter)
    by_kind: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    during_outage: collections.Counter = field(default_factory=collections.Counter)
    timings: dict = field(default_factory=lambda: collections.defaultdict(list))
    pushes: dict[str, Push] = field(default_factory=dict)
    #: key -> (first batch id, the retry's status, the retry's batch id)
    retries: dict[str, tuple] = field(default_factory=dict)
    #: key -> the two statuses of a batch sent twice at the same moment
    twins: dict[str, list[int]] = field(default_factory=dict)
    #: (what was wrong, status, code)
    bad: list[tuple[str, int, str]] = field(default_factory=list)
    #: (deployment, step) -> [(status, code), ...] over every race for that step
    races: dict = field(default_factory=lambda: collections.defaultdict(list))
    #: deployments with at least one stored batch, so a race has points to judge
    fed: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    #: deployment -> label files sent so far
    labels_sent: collections.Counter = field(default_factory=collections.Counter)


def points_for(count: int, now: datetime) -> list[dict]:
    """``count`` instants over the last 50 s, each with the three metrics the quick plan
    derives checks for, all healthy (as tests.factories.healthy_points, which needs
    Django)."""
    start = now - timedelta(seconds=50)
    step = timedelta(seconds=50) / count
    points = []
    for i in range(count):
        at = (start + step * i).isoformat()
        points += [
            {"name": "latency_ms", "value": 40.0 + (i % 5), "timestamp": at},
            {"name": "throughput_qps", "value": 12.0, "timestamp": at},
            {"name": "error_rate", "value": 0.0, "timestamp": at},
        ]
    return points


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` in threads released at the same moment; their results, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(j: int) -> None:
        barrier.wait()
        results[j] = calls[j]()

    threads = [threading.Thread(target=run, args=(j,)) for j in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def pg_log() -> Path | None:
    """The PostgreSQL server's log, when this user may read it (Debian's layout)."""
    for name in sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log")):
        path = Path(name)
        try:
            with path.open("rb"):
                return path
        except OSError:
            continue
    return None


def errors_logged(log: Path, limit: int = 3) -> list[str]:
    """The first ``limit`` errors the web and the worker logged with a traceback (the
    services log JSON, a record a line), for the report of a failure. Beat's complaints
    about the broker while Redis is down are expected and left out."""
    found = []
    text = log.read_text(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "exception" not in record:
            continue
        if record.get("level") != "ERROR" or record.get("logger") == "celery.beat":
            continue
        found.append(
            f"{record.get('logger')}: {record.get('message')}\n{record['exception'][-3000:]}"
        )
        if len(found) == limit:
            break
    return found


def main() -> int:
    parser = arguments(
        __doc__.splitlines()[0],
        "postgres://postgres@127.0.0.1:5432/stagegate_load_deploy",
        clients=4,
    )
    parser.add_argument("--projects", type=int, default=4, help="deployments to drive")
    parser.add_argument("--seed", type=int, default=0, help="batch sizes and retries")
    parser.add_argument("--keep", action="store_true", help="keep the folder and its logs")
    args = parser.parse_args()
    # A stopped run still ends its services and drops its database (Stack's exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    log = pg_log()
    log_from = log.stat().st_size if log else 0
    phases = {"start": time.monotonic()}
    with Stack(args.database, prefix="stagegate-load-deploy-", keep=args.keep) as stack:
        env, base = stack.env, stack.base
        phases["migrated"] = time.monotonic()
        out = manage(env, "shell", "-c", SETUP.replace("{projects}", str(args.projects)))
        targets = json.loads(out.split("SETUP ", 1)[1])
        phases["set_up"] = time.monotonic()
        stack.serve()

        tally = Tally()
        outage = threading.Event()
        begun = time.monotonic()
        stop_at = begun + args.seconds

        def send(kind: str, req: urllib.request.Request) -> tuple[int, bytes]:
            started = time.monotonic()
            status, body = fetch(req)
            took = time.monotonic() - started
            with tally.lock:
                tally.codes[status] += 1
                tally.by_kind[kind][status] += 1
                tally.timings[kind].append(took)
                if outage.is_set():
                    tally.during_outage[status] += 1
            return status, body

        def push(target: dict, token: str, rng: random.Random, count: int) -> Push:
            # Like curl --retry: a push that got no answer is sent again with its key.
            points = points_for(count, datetime.now(UTC))
            record = Push(target["deployment"], f"load-{uuid.uuid4().hex}", len(points))
            with tally.lock:
                tally.pushes[record.key] = record
            url = f"{base}/api/v1/deployments/{record.deployment}/metrics/"
            body = {"idempotency_key": record.key, "points": points}
            if rng.random() < 0.1:
                # A retry racing the original (a sender that timed out and sent again while
                # the first was being stored): one 201, one 200, the same batch.
                both = at_once(*[lambda: send("twin", request(url, token, body))] * 2)
                for status, answer in both:
                    record.answers.append(status)
                    if status in (200, 201):
                        record.batch_ids.append(json.loads(answer)["id"])
                with tally.lock:
                    tally.twins[record.key] = sorted(status for status, _ in both)
                    if record.batch_ids:
                        tally.fed.add(record.deployment)
                return record
            for _ in range(3):
                status, answer = send("push", request(url, token, body))
                record.answers.append(status)
                if status in (200, 201):
                    record.batch_ids.append(json.loads(answer)["id"])
                    with tally.lock:
                        tally.fed.add(record.deployment)
                if status != 0:
                    break
            if record.answers[-1] == 201 and rng.random() < 0.25:
                # The deliberate retry: same key, same points; stored once, answered 200.
                status, answer = send("retry", request(url, token, body))
                record.answers.append(status)
                again = json.loads(answer).get("id") if status in (200, 201) else None
                with tally.lock:
                    tally.retries[record.key] = (record.batch_ids[0], status, again)
            return record

        def bad(target: dict, other: dict, n: int) -> None:
            """The ``n``-th deliberately bad batch of a client: each must answer 4xx and
            store nothing."""
            now = datetime.now(UTC)
            good = points_for(10, now)
            ahead = (now + timedelta(hours=1)).isoformat()
            token, key = target["write"], f"bad-{uuid.uuid4().hex}"
            with tally.lock:
                stored = [
                    p.key
                    for p in tally.pushes.values()
                    if p.deployment == target["deployment"] and 201 in p.answers
                ]
            cases = [
                ("a value that is not a number", key, [{**good[0], "value": "fast"}]),
                ("a point an hour ahead", key, [{**good[0], "timestamp": ahead}]),
                ("no idempotency key", "", good),
                ("points not a list", key, "latency_ms=40"),
                ("10,001 points", key, points_for(3334, now)[:10_001]),
                # A key stored before, with other points: a conflict, nothing stored.
                ("a stored key with other points", stored[-1] if stored else key, good),
                # Another project's deployment token: that token does not see this project.
                ("another deployment's metrics token", key, good),
            ]
            what, key, points = cases[n % len(cases)]
            if what.startswith("another"):
                token = other["metrics"]
            url = f"{base}/api/v1/deployments/{target['deployment']}/metrics/"
            status, answer = send(
                "bad", request(url, token, {"idempotency_key": key, "points": points})
            )
            with tally.lock:
                tally.bad.append((what, status, code_of(answer)))

        def monitor(kind: str, target: dict, n: int, i: int = 0) -> None:
            """A drift check, an Alertmanager notification (the client's alert firing, then
            resolved, in turns) or a report on the last hour, with the write token."""
            api = f"{base}/api/v1/deployments/{target['deployment']}"
            now = datetime.now(UTC)
            if kind == "drift_check":
                url, body = (
                    f"{api}/drift-checks/",
                    {
                        "reference": target["reference"],
                        "current": target["current"],
                    },
                )
            elif kind == "labels":
                # The next file of outcomes; once all are joined, the first again (409).
                with tally.lock:
                    k = tally.labels_sent[target["deployment"]]
                    tally.labels_sent[target["deployment"]] += 1
                versions = target["labels"]
                url, body = (
                    f"{api}/label-batches/",
                    {
                        "dataset_version": versions[k] if k < len(versions) else versions[0],
                        "id_column": "customer_id",
                        "label_column": "defaulted",
                    },
                )
            elif kind == "report":
                url, body = (
                    f"{api}/monitoring-reports/",
                    {
                        "period_start": (now - timedelta(hours=1)).isoformat(),
                        "period_end": now.isoformat(),
                    },
                )
            else:
                state = "firing" if (i // 20) % 2 == 0 else "resolved"
                labels = {"alertname": f"LoadAlert{n}", "severity": "ticket"}
                url, body = (
                    f"{api}/alertmanager/",
                    {
                        "version": "4",
                        "status": state,
                        "receiver": "stagegate",
                        "groupKey": f"load-{n}",
                        "alerts": [
                            {
                                "status": state,
                                "labels": labels,
                                "annotations": {"summary": f"Load client {n}"},
                                "startsAt": (now - timedelta(minutes=1)).isoformat(),
                                "endsAt": now.isoformat() if state == "resolved" else "",
                                "fingerprint": f"load{n:04d}",
                            }
                        ],
                    },
                )
            send(kind, request(url, target["write"], body))

        def client(n: int) -> None:
            target = targets[n % len(targets)]
            other = targets[(n + 1) % len(targets)]
            api = f"{base}/api/v1"
            reads = {
                3: ("deployment", f"{api}/deployments/{target['deployment']}/"),
                7: ("rollout", f"{api}/rollouts/{target['rollout']}/"),
                9: ("gate", f"{api}/projects/{target['project']}/gates/?to=monitoring"),
            }
            rng = random.Random(args.seed * 1000 + n)
            i = 0
            try:
                while time.monotonic() < stop_at:
                    # Half the requests with the deployment's metrics token, half with the
                    # project's write token.
                    token = target["metrics"] if i % 2 else target["write"]
                    slot = i % 20
                    if slot == 5:
                        bad(target, other, i // 20)
                    elif i % 40 == 11:
                        monitor("drift_check", target, n)
                    elif slot == 13:
                        monitor("alertmanager", target, n, i)
                    elif i % 80 == 15:
                        monitor("report", target, n)
                    elif i % 40 == 31:
                        monitor("labels", target, n)
                    elif slot % 10 in reads:
                        kind, url = reads[slot % 10]
                        status, body = send(kind, request(url, token))
                        analyses = json.loads(body).get("analyses") if kind == "rollout" else None
                        if status == 200 and analyses:
                            send("analysis", request(analyses[-1]["url"], token))
                    else:
                        # 167 to 667 instants of three metrics: 501 to 2,001 points.
                        push(target, token, rng, rng.randint(167, 667))
                    i += 1
            except Exception as exc:  # a broken client must fail the run, not hide
                with tally.lock:
                    tally.errors.append(f"client {n}: {exc!r}")

        def race(target: dict, step: int) -> list[tuple[int, str]]:
            """Two promoters ask for ``step`` at the same moment; (status, code) of each."""
            url = f"{base}/api/v1/deployments/{target['deployment']}/promote/"

            def promote(j: int) -> tuple[int, str]:
                body = {"step": step, "reason": f"Load run: promoter {j}."}
                status, answer = send("promote", request(url, target["write"], body))
                return status, code_of(answer)

            return at_once(lambda: promote(0), lambda: promote(1))

        def racer(target: dict) -> None:
            """Two promoters ask for the same step at the same moment, as soon as the
            step's window has closed and points are in it."""
            rollout_url = f"{base}/api/v1/rollouts/{target['rollout']}/"
            try:
                while time.monotonic() < stop_at:
                    status, body = send("rollout", request(rollout_url, target["write"]))
                    if status != 200:
                        time.sleep(1)
                        continue
                    rollout = json.loads(body)
                    if rollout["status"] != "active":
                        return
                    step = rollout["step"]
                    window = rollout["steps"][step]["window_minutes"]
                    closes = datetime.fromisoformat(rollout["step_started_at"]) + timedelta(
                        minutes=window, seconds=1
                    )
                    wait = (closes - datetime.now(UTC)).total_seconds()
                    if wait > 0 or target["deployment"] not in tally.fed:
                        time.sleep(max(0.5, min(wait, stop_at - time.monotonic())))
                        continue
                    outcomes = race(target, step)
                    with tally.lock:
                        tally.races[(target["deployment"], step)] += outcomes
                    if not any(status == 200 for status, _ in outcomes):
                        time.sleep(2)  # refused on its data: let more points come in
            except Exception as exc:
                with tally.lock:
                    tally.errors.append(f"racer {target['deployment']}: {exc!r}")

        # Daemons: a run stopped by a signal does not wait for them.
        threads = [
            threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)
        ]
        threads += [threading.Thread(target=racer, args=(t,), daemon=True) for t in targets]
        for thread in threads:
            thread.start()
        if args.outage:
            redis_outage(
                stack.redis, seconds=args.seconds, outage=args.outage, kill=args.kill, flag=outage
            )
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - begun
        phases["clients_done"] = time.monotonic()

        deadline = time.monotonic() + args.drain
        while True:
            jobs = json.loads(manage(env, "shell", "-c", JOBS).split("JOBS ")[1])
            pending = {
                name: n
                for name, status in jobs.items()
                for s, n in status.items()
                if s in ("queued", "running")
            }
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(3)
        failed_jobs = {m: s["failed"] for m, s in jobs.items() if s.get("failed")}
        phases["drained"] = time.monotonic()
        facts = json.loads(manage(env, "shell", "-c", FACTS).split("FACTS ", 1)[1])
        verify = subprocess.run(
            [PYTHON, "manage.py", "verify_events"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        # Backends report their counters when idle; give the last ones a moment.
        time.sleep(1)
        deadlocks = int(
            stack.psql(
                f"SELECT deadlocks FROM pg_stat_database WHERE datname = '{stack.db_name}'"
            ).strip()
            or 0
        )
        report = judge(args, tally, facts, elapsed)
        services = stack.log.read_text(errors="replace") if stack.log.exists() else ""
        in_log = None
        if log is not None:
            with log.open("rb") as handle:
                handle.seek(log_from)
                ours = [
                    line
                    for line in handle.read().decode(errors="replace").splitlines()
                    if f"@{stack.db_name} " in line
                ]
            in_log = sum("deadlock detected" in line for line in ours)
        report["database"] = {
            "deadlocks_pg_stat_database": deadlocks,
            "deadlocks_in_server_log": in_log if log is not None else "log not readable",
            "deadlocks_in_services_log": services.count("deadlock detected"),
            # The database's, not the broker's (kombu has an OperationalError too).
            "operational_errors_in_services_log": services.count(
                "django.db.utils.OperationalError"
            ),
            "transaction_conflicts_retried": services.count("transaction conflict"),
        }
        report["jobs"] = {"status": jobs, "pending": pending, "failed": failed_jobs}
        report["verify_events"] = (verify.stdout or verify.stderr).strip().splitlines()[0]
        marks = [*phases.items(), ("checked", time.monotonic())]
        report["phase_seconds"] = {
            name: round(at - before, 1) for (_, before), (name, at) in itertools.pairwise(marks)
        }
        report["checks"]["database_no_deadlock"] = (
            deadlocks == 0 and not in_log and "deadlock detected" not in services
        )
        report["checks"]["jobs_finished"] = not pending and not failed_jobs
        report["checks"]["verify_events"] = verify.returncode == 0
        ok = all(report["checks"].values())
        print(json.dumps(report, indent=2))
        if not ok:
            for error in errors_logged(stack.log):
                print("--- logged by the services ---", error, sep="\n", file=sys.stderr)
        print("RESULT", "ok" if ok else "FAILED", flush=True)
        return 0 if ok else 1


def judge(args: argparse.Namespace, tally: Tally, facts: dict, elapsed: float) -> dict:
    """Compare what the clients were told with what the database holds."""
    problems: dict[str, list] = collections.defaultdict(list)

    # Batches: a 201 is stored once, whole; a deployment holds its stored batches' points.
    stored: dict[tuple[int, str], list] = collections.defaultdict(list)
    for deployment, key, points, rows in facts["batches"]:
        stored[(deployment, key)].append((points, rows))
    pushes = tally.pushes
    expected = collections.Counter()
    accepted = accepted_points = unanswered = 0
    for push in pushes.values():
        held = stored.get((push.deployment, push.key), [])
        answered = [a for a in push.answers if a != 0]
        if push.answers.count(201) > 1:
            problems["batch_201_twice"].append(push.key)
        if 201 in push.answers:
            accepted += 1
            accepted_points += push.points
        if any(a in (200, 201) for a in answered):
            expected[push.deployment] += push.points
            if held != [(push.points, push.points)]:
                problems["batch_not_stored_once_whole"].append([push.key, push.points, held])
        elif answered:
            problems["good_batch_refused"].append([push.key, push.answers])
        else:
            # Never answered: stored whole or not at all, and counted as it is.
            unanswered += 1
            if held not in ([], [(push.points, push.points)]):
                problems["batch_not_stored_once_whole"].append([push.key, push.points, held])
            expected[push.deployment] += push.points if held else 0
        if len(set(push.batch_ids)) > 1:
            problems["batch_ids_differ"].append([push.key, push.batch_ids])
    for (deployment, key), held in stored.items():
        if key.startswith("period-"):
            # The metrics a production period's job derived, pushed once.
            expected[deployment] += sum(rows for _, rows in held)
            if len(held) != 1 or held[0][0] != held[0][1]:
                problems["batch_not_stored_once_whole"].append([key, held])
        elif key not in pushes:
            problems["batch_nobody_pushed"].append(key)
    for deployment, points in expected.items():
        held = facts["points"].get(str(deployment), 0)
        if held != points:
            problems["points_per_deployment"].append([deployment, points, held])
    for key, (first, status, again) in tally.retries.items():
        if status != 200 or again != first:
            problems["retry_not_200_same_batch"].append([key, status, first, again])

    for key, statuses in tally.twins.items():
        if statuses != [200, 201]:
            problems["twins_not_201_and_200"].append([key, statuses])

    # Reads answer 200 (a 5xx is counted below).
    for kind in ("deployment", "rollout", "analysis", "gate"):
        refused = {c: n for c, n in tally.by_kind[kind].items() if 0 < c < 500 and c != 200}
        if refused:
            problems["read_refused"].append([kind, refused])

    # Bad batches: each answered 4xx.
    for what, status, code in tally.bad:
        if not 400 <= status < 500:
            problems["bad_batch_not_4xx"].append([what, status, code])

    # Promotions: one winner a step, the losers refused; the moves are the winners.
    wins = collections.Counter()
    outcomes = collections.Counter()
    for (deployment, step), answers in tally.races.items():
        for status, code in answers:
            outcomes[f"{status} {code}".strip()] += 1
            if status == 200:
                wins[(deployment, step)] += 1
            elif status != 409 or code not in REFUSALS:
                problems["promotion_unexpected_answer"].append([deployment, step, status, code])
    for (deployment, step), n in wins.items():
        if n > 1:
            problems["step_won_twice"].append([deployment, step, n])
    moved = collections.Counter()
    analyses = facts["analyses"]
    by_rollout = collections.defaultdict(list)
    for move in facts["moves"]:
        by_rollout[move["rollout_id"]].append(move)
    for rollout_id, rollout in facts["rollouts"].items():
        moves = by_rollout.get(int(rollout_id), [])
        actions = [(m["action"], m["step"]) for m in moves]
        # start at 0, then one promote per step change landing on 1, 2, ... (a finish
        # stays on the last step).
        want = [("start", 0)] + [("promote", s) for s in range(1, rollout["step"] + 1)]
        if rollout["status"] == "finished":
            want.append(("finish", rollout["step"]))
        if actions != want:
            problems["moves_inconsistent"].append([rollout_id, rollout, actions])
        for m in moves:
            if m["action"] in ("promote", "finish"):
                moved[(rollout["deployment"], m["step"] - (m["action"] == "promote"))] += 1
                analysis = analyses.get(str(m["analysis_id"]))
                if analysis is None or analysis["outcome"] != "pass":
                    problems["move_without_passed_analysis"].append([rollout_id, m, analysis])
    if set(moved) != set(wins) or any(n != 1 for n in moved.values()):
        problems["moves_not_the_winners"].append(
            [sorted(map(list, moved)), sorted(map(list, wins))]
        )
    for analysis in analyses.values():
        if not SHA256.fullmatch(analysis["sha256"] or ""):
            problems["analysis_without_sha256"].append(analysis["id"])
    for verb, analysis_id, digest in facts["events"]:
        if analysis_id is not None and analyses.get(str(analysis_id), {}).get("sha256") != digest:
            problems["event_names_other_sha256"].append([verb, analysis_id, digest])

    # Monitoring writes: accepted (202 for jobs, 200 for Alertmanager), whatever Redis does.
    for kind, want in (("drift_check", 202), ("report", 202), ("alertmanager", 200)):
        other = {c: n for c, n in tally.by_kind[kind].items() if 0 < c < 500 and c != want}
        if other:
            problems["monitoring_write_refused"].append([kind, other])
    # Labels: a new file accepted, one joined already refused (409); every period's realized
    # performance computed from every joined batch, over the distinct ids they hold.
    answers = tally.by_kind["labels"].items()
    other = {c: n for c, n in answers if 0 < c < 500 and c not in (202, 409)}
    if other:
        problems["monitoring_write_refused"].append(["labels", other])
    for period, done, used, ids, labelled in facts["labels"]:
        if done and (used != done or labelled != ids):
            problems["labels_lost"].append([period, done, used, ids, labelled])
    if facts["open_alerts_per_rule"]:
        problems["two_open_alerts_for_a_rule"] = facts["open_alerts_per_rule"]
    if facts["rollups_off"] or facts["rollups_due"]:
        problems["rollups_off"] = [facts["rollups_due"], facts["rollups_off"]]

    server_errors = {c: n for c, n in tally.codes.items() if c >= 500 or c == 0}
    all_timings = [t for times in tally.timings.values() for t in times]
    checks = {
        "no_5xx_or_no_answer": not server_errors,
        "clients_ran": not tally.errors,
        "bad_batches_4xx": not problems["bad_batch_not_4xx"] and bool(tally.bad),
        "batches_stored_once": not any(
            problems[k]
            for k in (
                "batch_201_twice",
                "batch_not_stored_once_whole",
                "good_batch_refused",
                "refused_batch_stored",
                "batch_ids_differ",
                "batch_nobody_pushed",
                "points_per_deployment",
            )
        ),
        "retries_not_counted_twice": not problems["retry_not_200_same_batch"]
        and not problems["twins_not_201_and_200"],
        "reads_answered": not problems["read_refused"],
        "one_winner_per_step": not problems["step_won_twice"]
        and not problems["promotion_unexpected_answer"],
        "moves_consistent": not problems["moves_inconsistent"]
        and not problems["moves_not_the_winners"]
        and not problems["move_without_passed_analysis"],
        "analyses_sha256": not problems["analysis_without_sha256"]
        and not problems["event_names_other_sha256"],
        "monitoring_writes_accepted": not problems["monitoring_write_refused"]
        and all(tally.by_kind[k] for k in ("drift_check", "report", "alertmanager", "labels")),
        "labels_all_joined": not problems["labels_lost"]
        and any(done for _, done, *_ in facts["labels"]),
        "one_open_alert_per_rule": not problems["two_open_alerts_for_a_rule"],
        "rollups_match_points": not problems["rollups_off"],
    }
    return {
        "clients": args.clients,
        "projects": args.projects,
        "seconds": args.seconds,
        "redis_outage_seconds": args.outage,
        "redis_killed": args.kill,
        "answers": {str(c): n for c, n in sorted(tally.codes.items())},
        "answers_by_kind": {
            kind: {str(c): n for c, n in sorted(codes.items())}
            for kind, codes in sorted(tally.by_kind.items())
        },
        "answers_during_outage": {str(c): n for c, n in sorted(tally.during_outage.items())},
        "answer_seconds": answer_seconds(all_timings),
        "answer_seconds_by_kind": {
            kind: answer_seconds(times) if len(times) > 1 else times
            for kind, times in sorted(tally.timings.items())
        },
        "pushed": {
            "batches_201": accepted,
            "points_201": accepted_points,
            "batches_per_second": round(accepted / elapsed, 1),
            "points_per_second": round(accepted_points / elapsed),
            "retried": len(tally.retries),
            "sent_twice_at_once": len(tally.twins),
            "unanswered": unanswered,
            "bad": collections.Counter(f"{w}: {s} {c}" for w, s, c in tally.bad),
            "points_in_database": sum(facts["points"].values()),
        },
        "promotions": {
            "races": len(tally.races),
            "outcomes": dict(outcomes),
            "steps_won": len(wins),
            "rollouts": {
                r["deployment"]: f"{r['status']} at step {r['step']}"
                for r in facts["rollouts"].values()
            },
            "analyses": collections.Counter(a["outcome"] for a in analyses.values()),
        },
        "client_errors": tally.errors,
        "problems": {k: v[:10] for k, v in problems.items() if v},
        "checks": checks,
    }


if __name__ == "__main__":
    sys.exit(main())
