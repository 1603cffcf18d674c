"""Metric ingestion through the HTTP API against a bare COPY of the same points.

Usage::

    .venv/bin/python benchmarks/metric_ingest.py   # = --clients 4 --batches 40 --rounds 3

The script creates its own PostgreSQL database (``--database``, by default
``stagegate_bench_ingest`` on 127.0.0.1:5432; dropped and created again if it exists),
migrates it, and makes through the services a team, an ML engineer, a project whose
candidate model has a deployment, and a write-scope API token for that project. Redis is
a private ``redis-server`` on a free loopback port (the throttles' counters, as in
production). Everything listens on 127.0.0.1, every wait has a time limit, and the
database is dropped at the end unless ``--keep-database`` is given.

The points: ``--batches`` batches of ``--points`` ``latency_ms`` values (log-normal,
median about 37 ms), each batch over its own minute of the last hour at whole
milliseconds, every point labelled with a region and every other one with a route too,
from a fixed seed, so that both paths store the same rows.

- **COPY**: ``--clients`` processes, each with its own psycopg connection, COPY their
  share of the batches into ``deployments_metricpoint``, one transaction per batch, from
  rows already in memory (deployment, batch, name, timestamp, value, labels as JSON
  text); the batch rows they point at are made beforehand. This is the limit: the table,
  its index, its foreign keys and the database, without HTTP, parsing or checks.
- **API**: gunicorn as production runs it (``--preload``, ``--workers`` sync workers,
  DEBUG off) and ``--clients`` threads, each on one keep-alive ``http.client``
  connection (gunicorn's sync workers close it after each answer, so it reconnects),
  POSTing its share to ``/api/v1/deployments/{id}/metrics/``, one idempotency key per
  batch. The JSON bodies are made before the clock starts; every answer must be 201.

Each round runs COPY then the API, each on an empty table, timed from when all its
clients are ready until the last batch is stored; then the script checks that both
stored the same rows (count, and an md5 of every row's name, time, value and labels).
The ratio is the median of the rounds' ratios. CPU per batch is read from ``/proc``:
the gunicorn workers' and the COPY processes' own, and that of the PostgreSQL backends
serving each path (found by their process title). Peak memory: the largest ``VmHWM``
of the gunicorn workers at the end (with their resident set before the first batch;
``--preload`` shares the imported code between them) and of the COPY processes (with
theirs once their rows were built).

Last, unless ``--profile-repeat 0``, one batch's stages are timed in this process
against the same database, each the median of the repeats: the whole request through
Django's test client (and the time the garbage collector took during it), a one-point
request (the fixed cost of Django, DRF, the token, the throttle and the batch row), the
JSON parser (``json.loads`` and ``portal.inputs.json_problem``), ``clean_points`` (and its
``points_sha256``), the service's COPY and the commit. Results also go to
``metric-ingest-results.json`` in ``--workdir``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import PrivateRedis, free_port  # noqa: E402  (no Django in it)

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/stagegate_bench_ingest"
NAME = "latency_ms"
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
ROUTES = ("/score", "/explain")
COPY_SQL = (
    "COPY deployments_metricpoint (deployment_id, batch_id, name, timestamp, value, labels) "
    "FROM STDIN"
)
REQUEST_TIMEOUT = 120.0
Row = tuple[str, datetime, float, dict[str, str]]


# --- The points ---------------------------------------------------------------------


def batch_rows(start: datetime, number: int, size: int) -> list[Row]:
    """Batch ``number``: ``size`` latencies at whole milliseconds over its own span after
    ``start`` (a minute for 10,000 points), a region on each, a route on every other."""
    rng = random.Random(number)
    step = max(1, 60_000 // size)
    first = start + timedelta(milliseconds=number * step * size)
    rows = []
    for i in range(size):
        labels = {"region": REGIONS[rng.randrange(len(REGIONS))]}
        if i % 2:
            labels["route"] = ROUTES[rng.randrange(len(ROUTES))]
        value = round(rng.lognormvariate(3.6, 0.45), 3)
        rows.append((NAME, first + timedelta(milliseconds=i * step), value, labels))
    return rows


def batch_body(key: str, rows: list[Row]) -> bytes:
    points = [
        {
            "name": name,
            "value": value,
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "labels": labels,
        }
        for name, moment, value, labels in rows
    ]
    return json.dumps({"idempotency_key": key, "points": points}).encode()


def data_start(batches: int, size: int) -> datetime:
    """Where the first batch starts: the batches end five minutes before now."""
    span = timedelta(milliseconds=batches * max(1, 60_000 // size) * size)
    return (datetime.now(UTC) - span - timedelta(minutes=5)).replace(microsecond=0)


# --- Processes ----------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of ``pid`` in kB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def proc_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` so far, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``database``, found by
    its process title (``postgres: 15/main: user database host(port) state``)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            title = (entry / "cmdline").read_bytes()
            if title.startswith(b"postgres:") and f" {database} ".encode() in title:
                found[int(entry.name)] = proc_cpu_seconds(int(entry.name))
    return found


class BackendCpu:
    """CPU seconds the backends of ``database`` spend while it runs, sampled every
    ``interval`` seconds so that a backend that closes midway is counted up to then."""

    def __init__(self, database: str, interval: float = 0.2):
        self.database, self.interval = database, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> BackendCpu:
        self.first = backends(self.database)
        self.last = dict(self.first)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(self.interval):
            self.last.update(backends(self.database))

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        self.last.update(backends(self.database))

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def copy_client(
    url: str,
    deployment_id: int,
    work: list[tuple[int, int]],
    start_iso: str,
    size: int,
    ready,
    go,
    results,
) -> None:
    """One COPY client (a process of its own): build its batches' rows, say so, wait for
    the start, then COPY each batch in its own transaction."""
    import psycopg

    start = datetime.fromisoformat(start_iso)
    batches = [
        (
            batch_id,
            [(n, t, v, json.dumps(labels)) for n, t, v, labels in batch_rows(start, k, size)],
        )
        for batch_id, k in work
    ]
    prepared = proc_status(os.getpid())["VmHWM"] / 1024
    latencies = []
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.info.backend_pid
        backend_before = proc_cpu_seconds(backend)
        ready.put(os.getpid())
        go.wait()
        cpu_before = time.process_time()
        for batch_id, rows in batches:
            began = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for name, moment, value, labels in rows:
                    copy.write_row((deployment_id, batch_id, name, moment, value, labels))
            latencies.append(time.perf_counter() - began)
        finished = time.monotonic()
        cpu_seconds = time.process_time() - cpu_before
        backend_seconds = proc_cpu_seconds(backend) - backend_before
    results.put(
        {
            "finished": finished,
            "cpu_seconds": cpu_seconds,
            "backend_cpu_seconds": backend_seconds,
            "latencies": latencies,
            "prepared_mb": prepared,
            "peak_mb": proc_status(os.getpid())["VmHWM"] / 1024,
        }
    )


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int, worker_class: str, log: Path):
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--preload",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--timeout",
            "120",
        ]
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("gunicorn exited:\n" + log.read_text())
            if len(self.workers()) == workers and self._answers():
                return
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not answer within 90 s:\n" + log.read_text())

    def _answers(self) -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/accounts/login/")
            return conn.getresponse().status == 200
        return False

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# --- The two paths ------------------------------------------------------------------


def run_copy(args, url: str, deployment_id: int, batch_ids: list[int], start: datetime) -> dict:
    context = multiprocessing.get_context("spawn")  # fresh processes: their memory is theirs
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    numbers = list(range(args.batches))
    clients = [
        context.Process(
            target=copy_client,
            args=(
                url,
                deployment_id,
                [(batch_ids[k], k) for k in numbers[c :: args.clients]],
                start.isoformat(),
                args.points,
                ready,
                go,
                results,
            ),
        )
        for c in range(args.clients)
    ]
    for client in clients:
        client.start()
    try:
        for _ in clients:
            ready.get(timeout=300)
        began = time.monotonic()
        go.set()
        done = [results.get(timeout=args.max_seconds) for _ in clients]
    finally:
        for client in clients:
            client.join(30)
            if client.is_alive():
                client.terminate()
                client.join(10)
    seconds = max(d["finished"] for d in done) - began
    latencies = [x for d in done for x in d["latencies"]]
    return {
        "seconds": seconds,
        "points": len(latencies) * args.points,
        "latencies": latencies,
        "peak_mb": max(d["peak_mb"] for d in done),
        "client_cpu_seconds": sum(d["cpu_seconds"] for d in done),
        "backend_cpu_seconds": sum(d["backend_cpu_seconds"] for d in done),
        "prepared_mb": max(d["prepared_mb"] for d in done),
    }


def run_api(args, server: Gunicorn, token_key: str, deployment_id: int, start: datetime) -> dict:
    database = database_name(args.database)
    run = uuid.uuid4().hex[:8]
    bodies = [
        (k, batch_body(f"bench-{run}-{k}", batch_rows(start, k, args.points)))
        for k in range(args.batches)
    ]
    path = f"/api/v1/deployments/{deployment_id}/metrics/"
    headers = {
        "Authorization": f"Token {token_key}",
        "Content-Type": "application/json",
        "Connection": "keep-alive",
    }
    latencies: list[float] = []
    answers: Counter = Counter()
    failures: list[str] = []
    connections = [0] * args.clients
    lock = threading.Lock()
    barrier = threading.Barrier(args.clients + 1)
    deadline = time.monotonic() + args.max_seconds

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
        try:
            barrier.wait()
            for _k, body in bodies[c :: args.clients]:
                if time.monotonic() > deadline:
                    break
                if conn.sock is None:  # the first request, or the server closed the last
                    connections[c] += 1
                began = time.perf_counter()
                try:
                    conn.request("POST", path, body, headers)
                    response = conn.getresponse()
                    answer = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status, answer = 0, repr(exc).encode()
                took = time.perf_counter() - began
                with lock:
                    answers[status] += 1
                    if status == 201:
                        latencies.append(took)
                    elif len(failures) < 3:
                        failures.append(f"{status}: {answer[:300].decode(errors='replace')}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    workers = server.workers()
    cpu_before = {pid: proc_cpu_seconds(pid) for pid in workers}
    rss_before = max(proc_status(pid)["VmRSS"] for pid in workers) / 1024
    for thread in threads:
        thread.start()
    with BackendCpu(database) as backend_cpu:
        barrier.wait()
        began = time.monotonic()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - began
    statuses = [proc_status(pid) for pid in workers]
    return {
        "seconds": seconds,
        "points": answers[201] * args.points,
        "latencies": latencies,
        "answers": dict(sorted(answers.items())),
        "failures": failures,
        "connections_opened": sum(connections),
        "body_mb": sum(len(b) for _, b in bodies) / len(bodies) / 2**20,
        "worker_rss_before_mb": rss_before,
        "worker_peak_mb": max(s["VmHWM"] for s in statuses) / 1024,
        "worker_cpu_seconds": sum(proc_cpu_seconds(p) - cpu_before[p] for p in workers),
        "backend_cpu_seconds": backend_cpu.seconds,
    }


# --- The database -------------------------------------------------------------------


def admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def database_create(url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        name = sql.Identifier(database_name(url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def database_drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        name = sql.Identifier(database_name(url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def world_create():
    """A deployment of a project's candidate model, and a write-scope token for the
    project's ML engineer, made through the services."""
    from django.contrib.auth import get_user_model

    from deployments.services.plans import deployment_create
    from projects.models import Role
    from projects.services import evaluations, teams, tokens

    team = teams.team_create(actor=None, slug="bench-team", name="Bench team")
    engineer = get_user_model().objects.create_user("bench_engineer", password=uuid.uuid4().hex)
    teams.membership_add(actor=None, team=team, user=engineer, role=Role.ML_ENGINEER)
    project = teams.project_create(
        actor=engineer, team=team, slug="bench-ingest", name="Bench ingest"
    )
    model = evaluations.model_register(actor=engineer, project=project, name="scorer", version="1")
    evaluations.model_mark_candidate(actor=engineer, model=model)
    deployment = deployment_create(
        actor=engineer, project=project, model_version=model, name="scorer live"
    )
    _, key = tokens.token_create(user=engineer, name="bench", scopes=["write"], project=project)
    return engineer, deployment, key


def table_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE deployments_metricpoint, deployments_metricbatch")
        cursor.execute("VACUUM ANALYZE deployments_metricpoint")


def table_fingerprint() -> tuple[int, str]:
    """The rows' count and an md5 of every row's name, time, value and labels, in time order
    (batch and id differ between the paths)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), md5(string_agg(concat_ws('|', name, timestamp, value, labels),"
            " ',' ORDER BY timestamp, name)) FROM deployments_metricpoint"
        )
        count, digest = cursor.fetchone()
    return count, digest


# --- Where one batch's time goes ----------------------------------------------------


def median_ms(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def profile(deployment, engineer, key: str, start: datetime, size: int, repeat: int) -> dict:
    """One batch's stages, each the median of ``repeat`` runs, in this process."""
    import io

    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from deployments.analysis.points import clean_points
    from deployments.models import MetricBatch
    from deployments.services.metrics import _insert
    from portal.api.parsers import JSONParser
    from portal.api.throttling import UserThrottle
    from portal.inputs import json_problem
    from projects.services.tokens import token_authenticate

    rows = batch_rows(start, 0, size)
    body = batch_body("profile", rows)
    path = f"/api/v1/deployments/{deployment.pk}/metrics/"
    client = Client()
    full = iter([batch_body(f"profile-{n}", rows) for n in range(repeat + 1)])
    single = iter([batch_body(f"profile-one-{n}", rows[:1]) for n in range(repeat)])

    def request(bodies) -> None:
        answer = client.post(
            path, next(bodies), content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
        )
        assert answer.status_code == 201, answer.content

    data = json.loads(body)
    points = data["points"]
    cleaned = clean_points(points, now=timezone.now(), max_points=size)
    copy_ms, commit_ms = [], []
    for n in range(repeat):
        with transaction.atomic():
            batch = MetricBatch.objects.create(
                deployment=deployment,
                idempotency_key=f"profile-copy-{n}",
                body_sha256=cleaned.sha256,
                points=size,
            )
            began = time.perf_counter()
            _insert(batch, cleaned)
            copied = time.perf_counter()
        committed = time.perf_counter()
        copy_ms.append((copied - began) * 1000)
        commit_ms.append((committed - copied) * 1000)

    class Asked:
        user = engineer
        META = {"REMOTE_ADDR": "127.0.0.1"}

    request(full)  # warm-up: the first request loads what it needs
    collecting: list[float] = []

    def on_collection(phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            collecting.append(-now)
        else:
            collecting[-1] += now

    gc.callbacks.append(on_collection)
    try:
        whole = median_ms(lambda: request(full), repeat)
    finally:
        gc.callbacks.remove(on_collection)
    stages = {
        "request": whole,
        "request_garbage_collection": sum(collecting) * 1000 / repeat,
        "request_one_point": median_ms(lambda: request(single), repeat),
        "parser": median_ms(lambda: JSONParser().parse(io.BytesIO(body)), repeat),
        "json_loads": median_ms(lambda: json.loads(body), repeat),
        "json_problem": median_ms(lambda: json_problem(data), repeat),
        "clean_points": median_ms(
            lambda: clean_points(points, now=timezone.now(), max_points=size), repeat
        ),
        "copy": statistics.median(copy_ms),
        "commit": statistics.median(commit_ms),
        "token": median_ms(lambda: token_authenticate(key), repeat),
        "throttle": median_ms(lambda: UserThrottle().allow_request(Asked, None), repeat),
    }
    with contextlib.suppress(ImportError):  # the canonical hash, where it is a function
        from deployments.analysis.points import points_sha256

        stages["points_sha256"] = median_ms(lambda: points_sha256(cleaned.rows), repeat)
    return stages


# --- The run ------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def copy_batches(deployment, round_: int, batches: int, size: int) -> list[int]:
    """The batch rows the COPY path's points point at (made before its clock starts)."""
    from deployments.models import MetricBatch

    made = MetricBatch.objects.bulk_create(
        MetricBatch(
            deployment=deployment,
            idempotency_key=f"copy-{round_}-{k}",
            body_sha256="",
            points=size,
        )
        for k in range(batches)
    )
    return [batch.pk for batch in made]


def latency_ms(latencies: list[float]) -> dict[str, int]:
    return {
        "p50": round(statistics.median(latencies) * 1000),
        "p95": round(quantile(latencies, 0.95) * 1000),
        "max": round(max(latencies) * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="batches per path and round")
    parser.add_argument("--points", type=int, default=10_000, help="points per batch")
    parser.add_argument("--rounds", type=int, default=3, help="COPY then API, this many times")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn's: sync or gthread")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--max-seconds", type=float, default=300, help="per path and round")
    parser.add_argument("--profile-repeat", type=int, default=5, help="0: no profile")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args()
    if urlsplit(args.database).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("The benchmark runs on loopback only: give a 127.0.0.1 database.")
    if not 1 <= args.points <= 10_000:
        raise SystemExit("--points: 1 to 10,000, the service's largest batch.")
    if not 1 <= args.batches * args.rounds <= 1000 or args.clients < 1:
        raise SystemExit("--batches times --rounds: 1 to 1,000; --clients: at least 1.")

    folder = Path(tempfile.mkdtemp(prefix="stagegate-ingest-"))
    redis = PrivateRedis(folder)
    server = None
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": args.database,
        "CELERY_BROKER_URL": redis.url(0),
        "CACHE_URL": redis.url(1),
        "VAR_DIR": str(folder / "var"),
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DEBUG": "false",
        "STATIC_MANIFEST": "false",
    }
    try:
        redis.start()
        os.environ.update(env)
        database_create(args.database)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        engineer, deployment, key = world_create()
        start = data_start(args.batches, args.points)
        connections.close_all()
        server = Gunicorn(env, args.workers, args.worker_class, folder / "gunicorn.log")

        rounds = []
        for round_ in range(args.rounds):
            batch_ids = copy_batches(deployment, round_, args.batches, args.points)
            connections.close_all()
            copy = run_copy(args, args.database, deployment.pk, batch_ids, start)
            copied = table_fingerprint()
            table_empty()
            connections.close_all()
            api = run_api(args, server, key, deployment.pk, start)
            if api["answers"].get(201, 0) != args.batches:
                print(json.dumps({"answers": api["answers"], "failures": api["failures"]}))
                raise SystemExit("Not every batch was stored; see the answers above.")
            stored = table_fingerprint()
            if stored != copied:
                raise SystemExit(f"The paths stored other rows: {stored} against {copied}")
            table_empty()
            connections.close_all()
            rounds.append({"copy": copy, "api": api, "rows": stored})
            print(
                f"round {round_ + 1}: API {api['points'] / api['seconds']:,.0f} points/s, "
                f"COPY {copy['points'] / copy['seconds']:,.0f} points/s",
                flush=True,
            )
        workers_peak = max(proc_status(pid)["VmHWM"] for pid in server.workers()) / 1024
        server.stop()

        stages = {}
        if args.profile_repeat:
            stages = profile(deployment, engineer, key, start, args.points, args.profile_repeat)
            table_empty()

        api_rates = [r["api"]["points"] / r["api"]["seconds"] for r in rounds]
        copy_rates = [r["copy"]["points"] / r["copy"]["seconds"] for r in rounds]
        ratios = [a / c for a, c in zip(api_rates, copy_rates, strict=True)]
        api_latencies = [x for r in rounds for x in r["api"]["latencies"]]
        copy_latencies = [x for r in rounds for x in r["copy"]["latencies"]]
        per_batch = 1000 / (args.batches * args.rounds)

        def cpu_ms(path: str, what: str) -> int:
            return round(sum(r[path][what] for r in rounds) * per_batch)

        ratio = statistics.median(ratios)
        result = {
            "clients": args.clients,
            "batches_per_round": args.batches,
            "points_per_batch": args.points,
            "rounds": args.rounds,
            "gunicorn": f"{args.workers} {args.worker_class} workers, --preload",
            "api_points_per_second": round(statistics.median(api_rates)),
            "copy_points_per_second": round(statistics.median(copy_rates)),
            "ratio_api_to_copy": round(ratio, 3),
            "goal_api_at_least_a_third_of_copy": ratio >= 1 / 3,
            "rounds_api_copy_ratio": [
                [round(a), round(c), round(r, 3)]
                for a, c, r in zip(api_rates, copy_rates, ratios, strict=True)
            ],
            "api_request_ms": latency_ms(api_latencies),
            "copy_batch_ms": latency_ms(copy_latencies),
            "api_answers": dict(sum((Counter(r["api"]["answers"]) for r in rounds), Counter())),
            "api_connections_opened": sum(r["api"]["connections_opened"] for r in rounds),
            "api_body_mb_per_batch": round(rounds[0]["api"]["body_mb"], 2),
            "cpu_ms_per_batch": {
                "api_gunicorn_worker": cpu_ms("api", "worker_cpu_seconds"),
                "api_postgres_backend": cpu_ms("api", "backend_cpu_seconds"),
                "copy_client": cpu_ms("copy", "client_cpu_seconds"),
                "copy_postgres_backend": cpu_ms("copy", "backend_cpu_seconds"),
            },
            "gunicorn_worker_rss_before_mb": round(rounds[0]["api"]["worker_rss_before_mb"]),
            "gunicorn_worker_peak_mb": round(workers_peak),
            "copy_process_with_rows_mb": round(max(r["copy"]["prepared_mb"] for r in rounds)),
            "copy_process_peak_mb": round(max(r["copy"]["peak_mb"] for r in rounds)),
            "same_rows": {"count": rounds[0]["rows"][0], "md5": rounds[0]["rows"][1]},
            "profile_ms_per_batch": {k: round(v, 1) for k, v in stages.items()},
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
        }
        print(json.dumps(result, indent=2))
        args.workdir.mkdir(parents=True, exist_ok=True)
        (args.workdir / "metric-ingest-results.json").write_text(json.dumps(result, indent=2))
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not args.keep_database:
            with contextlib.suppress(Exception):
                database_drop(args.database)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
