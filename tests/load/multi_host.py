"""Worker hosts that share nothing but the database, Redis and the bucket: gunicorn and
three Celery workers, each with its own empty VAR_DIR (and so its own MEDIA_ROOT and
FILE_UPLOAD_TEMP_DIR), every stored file in SeaweedFS through STORAGE_URL, one beat.

Each host serves its own mix of queues, and every queue is served by two hosts, so losing
any one host leaves no job class without a worker (operations' advice: more than one
worker per queue):

    host1  ingest, train, monitor
    host2  audit, render, monitor
    host3  every queue

Clients with API tokens upload dataset versions (CSV of ``--upload-mb`` MB), upload
predictions of ``--audit-rows`` rows and ask for a fairness audit of each once it is
computed, and ask for approval packs. Once a quarter of the requests are answered, the
host running most of those jobs is killed with SIGKILL (its whole process group). Each
host has a hostname of its own (a UTS namespace, where root may make one), so no host can
see another's processes: the job sweeper hands a dead host's jobs on once their pulse (a
heartbeat each delivery keeps from a thread) has missed four beats, as across machines
(the run beats every 5 s). After a bounded drain:

- every job row succeeded, and finished exactly once (one finishing event per job);
- every stored file a row names is in the bucket, with the sha256 the row records;
- nothing was written under a worker host's VAR_DIR (but for temporary copies, which the
  live hosts removed) nor under the web host's MEDIA_ROOT, and its upload folder stayed
  empty while the files streamed through it to the bucket;
- ``verify_events`` passes.

Exit status 0 only then. CI's size (the defaults), a few minutes on two cores:

    python -m tests.load.multi_host --uploads 6 --upload-mb 2 --audits 4 --packs 2

The full size, with several GB of disk for the bucket:

    python -m tests.load.multi_host --uploads 20 --upload-mb 100 --audits 50 \\
        --audit-rows 1000000 --packs 10 --drain 1800

Everything runs on loopback in a throwaway database and folder, and stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from tests.data import predictions_csv, sample_frame
from tests.load.stack import PYTHON, ROOT, Stack, fetch, manage, request
from tests.s3 import weed_s3

#: The job classes the clients' requests make.
WORKLOAD = {"DatasetVersion", "Evaluation", "AuditRun", "ApprovalPack"}

#: Each host's queues (empty: every queue). Every queue is on two hosts.
HOSTS = {
    "host1": "ingest,train,monitor",
    "host2": "audit,render,monitor",
    "host3": "",
}

SETUP = """
import json
from portal.jobs import job_models
from projects.models import Role
from tests.data import sample_frame
from tests.factories import UserFactory, build_team, make_dataset, make_version
outsider = UserFactory(username="mh_outsider")
made = []
for n in range({projects}):
    world = build_team(f"mh{n}", outsider)
    engineer = world.people[Role.ML_ENGINEER]
    # Held-out rows for the predictions the clients upload: the same frame they make.
    holdout = make_version(
        make_dataset(world.project, engineer, "holdout", purpose="test"),
        engineer,
        sample_frame({audit_rows}, seed=100 + n).to_csv(index=False).encode(),
        name="holdout.csv",
    )
    uploads = make_dataset(world.project, engineer, "applications", purpose="training")
    made.append({
        "slug": world.project.slug,
        "key": world.token_key,
        "model": world.model.pk,
        "holdout": holdout.pk,
        "uploads": uploads.pk,
    })
tables = {m.__name__: m._meta.db_table for m in job_models()}
print("SETUP", json.dumps({"projects": made, "tables": tables}))
"""

#: The event that says a job of each class finished: exactly one per succeeded job.
FINISHED = """
FINISHED = {
    "DatasetVersion": "dataset_version.profiled",
    "Evaluation": "evaluation.computed",
    "AuditRun": "audit.finished",
    "Mitigation": "mitigation.finished",
    "BaselineRun": "baseline_run.finished",
    "ApprovalPack": "pack.rendered",
    "MonitoringReport": "monitoring_report.rendered",
    "EventExport": "export.finished",
    "DriftCheck": "drift_check.finished",
    "ProductionPeriod": "production_period.metrics_derived",
    "LabelBatch": "label_batch.joined",
}
"""

FACTS = (
    FINISHED
    + """
import json
from collections import Counter
from django.db import models
from portal.jobs import job_models
from projects.models import Event
jobs, finished, files = {}, {}, []
for m in job_models():
    rows = list(m.objects.values("pk", "status", "error", "deliveries", "runner"))
    if not rows:
        continue
    verb = FINISHED.get(m.__name__)
    counts = Counter(Event.objects.filter(verb=verb).values_list("target_id", flat=True))
    jobs[m.__name__] = [
        {**r, "finished_events": counts.get(str(r["pk"]), 0) if verb else None} for r in rows
    ]
# Every stored file a row names, with the digest recorded beside it where there is one.
from django.apps import apps
for m in apps.get_models():
    fields = [f for f in m._meta.get_fields() if isinstance(f, models.FileField)]
    names = {f.name for f in m._meta.get_fields()}
    for f in fields:
        digest = f"{f.name}_sha256" if f"{f.name}_sha256" in names else (
            "sha256" if f.name == "file" and "sha256" in names else None
        )
        for row in m.objects.exclude(**{f.name: ""}).values("pk", f.name, *[digest] * bool(digest)):
            files.append([m.__name__, row["pk"], f.name, row[f.name], row.get(digest)])
print("FACTS", json.dumps({"jobs": jobs, "files": files}, default=str))
"""
)


def upload_body(fields: dict, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body of ``fields`` and one file; the body and its content type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: text/csv\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_file(url: str, key: str, fields: dict, filename: str, content: bytes) -> tuple[int, dict]:
    body, content_type = upload_body(fields, filename, content)
    req = urllib.request.Request(
        url,
        data=body,
        headers={"Authorization": f"Token {key}", "Content-Type": content_type},
        method="POST",
    )
    status, answer = fetch(req, timeout=600)
    return status, json.loads(answer or b"{}") if answer.startswith(b"{") else {}


def dataset_csv(megabytes: float, n: int) -> bytes:
    """About ``megabytes`` MB of the sample table's columns; ``n`` makes the bytes new."""
    rows = max(100, int(megabytes * 1e6 / 62))
    frame = sample_frame(rows, seed=n)
    frame["customer_id"] = f"u{n}-" + frame["customer_id"]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def host_of(runner: str, hosts: dict[str, subprocess.Popen]) -> str | None:
    """The worker host a job's runner (``hostname:pid``) names: by its hostname when the
    hosts have their own, else by the process group of a live pid (each worker leads its
    own, with its pool)."""
    hostname, _, pid = runner.rpartition(":")
    if hostname.startswith("mh-") and hostname[3:] in hosts:
        return hostname[3:]
    try:
        group = os.getpgid(int(pid))
    except (ProcessLookupError, ValueError):
        return None
    return next((name for name, proc in hosts.items() if proc.pid == group), None)


def own_hostnames() -> bool:
    """Whether each worker can have a hostname of its own (a UTS namespace: root)."""
    try:
        done = subprocess.run(["unshare", "--uts", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def running_jobs(database: str, tables: dict[str, str]) -> list[tuple[str, int, str]]:
    """(job class, id, runner) of every running job, straight from PostgreSQL: fast enough
    to pick a host while its jobs are still in flight."""
    sql = " UNION ALL ".join(
        f"SELECT '{name}', id, runner FROM {table} WHERE status = 'running'"
        for name, table in tables.items()
    )
    done = subprocess.run(
        ["psql", database, "-qAtF", "\t", "-c", sql], capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stdout.splitlines():
        name, pk, runner = line.split("\t")
        rows.append((name, int(pk), runner))
    return rows


def pending(database: str, tables: dict[str, str]) -> int:
    sql = " + ".join(
        f"(SELECT count(*) FROM {t} WHERE status IN ('queued', 'running'))" for t in tables.values()
    )
    done = subprocess.run(
        ["psql", database, "-qAtc", f"SELECT {sql}"], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def files_written(folder: Path, *, but: Path | None = None) -> list[str]:
    """Every file under ``folder`` (outside ``but``), as paths relative to it."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and (but is None or but not in p.parents)
    )


def volumes_for(args: argparse.Namespace) -> int:
    """SeaweedFS volumes (64 MB each) with room for the run's files, twice over: each upload
    with its Parquet copy, and each predictions file (about 40 bytes a row as CSV)."""
    megabytes = args.uploads * args.upload_mb * 2 + args.audits * args.audit_rows * 40 / 1e6
    return max(16, int(2 * megabytes / 64) + 16)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=6, help="dataset versions uploaded")
    parser.add_argument("--upload-mb", type=float, default=2, help="size of each upload")
    parser.add_argument("--audits", type=int, default=4, help="evaluations, each audited")
    parser.add_argument("--audit-rows", type=int, default=20_000, help="rows of each")
    parser.add_argument("--packs", type=int, default=2, help="approval packs (one a project)")
    parser.add_argument("--clients", type=int, default=3, help="requests at once")
    parser.add_argument("--drain", type=float, default=150, help="seconds to wait for jobs")
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/stagegate_multihost"
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder and its logs")
    args = parser.parse_args()
    # A stopped run still ends its services and drops its database (Stack's exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    begun = time.monotonic()
    # On one machine, a sweeper sharing the dead worker's hostname sees its pid gone at
    # once; with hostnames of their own, the hosts know of each other only what the
    # database says, as on separate machines.
    separate = own_hostnames()
    if not separate:
        print("no UTS namespaces here: the worker hosts share one hostname", flush=True)
    stack = Stack(args.database, prefix="stagegate-load-mh-", keep=args.keep)
    (stack.folder / "weed").mkdir()
    with weed_s3(stack.folder / "weed", volumes=volumes_for(args)) as s3, stack:
        bucket = s3.client()
        web_var = Path(stack.env["VAR_DIR"])
        signing = stack.folder / "signing"
        stack.env.update(
            STORAGE_URL=s3.storage_url(),
            PACK_SIGNING_KEY=str(signing / "key.pem"),
            PACK_SIGNING_CERT=str(signing / "certificate.pem"),
        )
        # A pulse every 5 s: a dead host's jobs are handed on after 20 s of silence.
        stack.env["JOB_PULSE_SECONDS"] = "5"
        manage(stack.env, "pack_signing_key")
        projects = max(args.packs, 1)
        out = manage(
            stack.env,
            "shell",
            "-c",
            SETUP.replace("{projects}", str(projects)).replace(
                "{audit_rows}", str(args.audit_rows)
            ),
        )
        setup = json.loads(out.split("SETUP ", 1)[1])
        targets, tables = setup["projects"], setup["tables"]
        set_up = time.monotonic()

        # Each worker host: its own empty folder for VAR_DIR, MEDIA_ROOT and the temporary
        # copies, and its own copy of the signing key, as a secret
        # provisioned to each machine.
        homes: dict[str, Path] = {}
        hosts: dict[str, subprocess.Popen] = {}
        stack.serve(worker=False)
        for name, queues in HOSTS.items():
            home = homes[name] = stack.folder / name
            (home / "secrets").mkdir(parents=True)
            for pem in ("key.pem", "certificate.pem"):
                shutil.copy(signing / pem, home / "secrets" / pem)
            env = {
                "VAR_DIR": str(home / "var"),
                "MEDIA_ROOT": str(home / "var" / "media"),
                "FILE_UPLOAD_TEMP_DIR": str(home / "var" / "tmp"),
                "PACK_SIGNING_KEY": str(home / "secrets" / "key.pem"),
                "PACK_SIGNING_CERT": str(home / "secrets" / "certificate.pem"),
            }
            hosts[name] = stack.start_worker(
                f"mh-{name}", env=env, queues=queues, hostname=f"mh-{name}" * separate
            )
        base = f"{stack.base}/api/v1"

        lock = threading.Lock()
        answers: collections.Counter = collections.Counter()
        problems: dict[str, list] = collections.defaultdict(list)

        def note(kind: str, status: int, body: dict | None = None) -> None:
            with lock:
                answers[f"{kind} {status}"] += 1
                if status not in (200, 201, 202):
                    problems["refused"].append([kind, status, body])

        def upload(n: int) -> None:
            t = targets[n % len(targets)]
            status, body = post_file(
                f"{base}/datasets/{t['uploads']}/versions/",
                t["key"],
                {"source_uri": f"s3://raw/part-{n}"},
                f"part-{n}.csv",
                dataset_csv(args.upload_mb, 1000 + n),
            )
            note("upload", status, body)

        def evaluate_and_audit(n: int) -> None:
            t = targets[n % len(targets)]
            frame = sample_frame(args.audit_rows, seed=100 + targets.index(t))
            status, body = post_file(
                f"{base}/models/{t['model']}/evaluations/",
                t["key"],
                {
                    "dataset_version": t["holdout"],
                    "y_true": "label",
                    "y_pred": "prediction",
                    "y_score": "score",
                    "sensitive": "sex",
                },
                f"predictions-{n}.csv",
                predictions_csv(frame, seed=n),
            )
            note("evaluation", status, body)
            if status != 201 and status != 202:
                return
            evaluation = body["id"]
            # The audit is asked for once the evaluation is computed (a host may die
            # meanwhile: the wait is the drain's).
            deadline, state = time.monotonic() + args.drain, None
            while time.monotonic() < deadline:
                _, raw = fetch(request(f"{base}/evaluations/{evaluation}/", t["key"]))
                state = json.loads(raw or b"{}").get("status")
                if state in ("succeeded", "failed"):
                    break
                time.sleep(1)
            if state != "succeeded":
                problems["evaluation_not_computed"].append([evaluation, state])
                return
            status, raw = fetch(request(f"{base}/evaluations/{evaluation}/audits/", t["key"], {}))
            note("audit", status, json.loads(raw or b"{}"))

        def pack(n: int) -> None:
            t = targets[n]
            status, raw = fetch(
                request(f"{base}/projects/{t['slug']}/approval-packs/", t["key"], {})
            )
            note("pack", status, json.loads(raw or b"{}"))

        work = [(upload, n) for n in range(args.uploads)]
        work += [(evaluate_and_audit, n) for n in range(args.audits)]
        work += [(pack, n) for n in range(args.packs)]
        # Interleaved, so every job class is in flight when the host dies.
        work.sort(key=lambda item: (item[1] % max(1, len(work) // 3), item[0].__name__))
        # Data files stream from the web process to the bucket: its upload folder stays
        # empty throughout (sampled every 50 ms while the requests run).
        web_uploads, answered = web_var / "uploads", threading.Event()
        web_upload_peak = [0]

        def watch_web_uploads() -> None:
            while not answered.wait(0.05):
                held = 0
                for path in web_uploads.glob("*"):
                    with contextlib.suppress(FileNotFoundError):  # gone since listed
                        held += path.stat().st_size
                web_upload_peak[0] = max(web_upload_peak[0], held)

        watcher = threading.Thread(target=watch_web_uploads, daemon=True)
        watcher.start()
        pool = concurrent.futures.ThreadPoolExecutor(args.clients)
        futures = [pool.submit(fn, n) for fn, n in work]

        # Once a quarter of the requests are answered (early enough that the wait for the
        # dead host's heartbeats overlaps the rest), kill the host running most of the
        # clients' jobs.
        killed, held, killed_at = None, [], None
        while killed is None:
            done = sum(f.done() for f in futures)
            if done >= len(futures) // 4 or done == len(futures):
                by_host = collections.defaultdict(list)
                for name, pk, runner in running_jobs(args.database, tables):
                    host = host_of(runner, hosts)
                    if host:
                        by_host[host].append([name, pk])
                ours = {h: sum(n in WORKLOAD for n, _ in jobs) for h, jobs in by_host.items()}
                if any(ours.values()):
                    killed = max(by_host, key=lambda h: (ours[h], len(by_host[h])))
                    held = by_host[killed]
                    os.killpg(hosts[killed].pid, signal.SIGKILL)
                    killed_at = time.monotonic() - begun
                    print(f"killed {killed} with {len(held)} jobs running: {held}", flush=True)
                elif done == len(futures) and not pending(args.database, tables):
                    break
            time.sleep(0.2)
        for f in futures:
            f.result()
        pool.shutdown()
        requested = time.monotonic()
        answered.set()
        watcher.join()
        if web_upload_peak[0]:
            problems["upload_on_web_disk"].append(web_upload_peak[0])

        deadline = time.monotonic() + args.drain
        while pending(args.database, tables) and time.monotonic() < deadline:
            time.sleep(2)
        drained = time.monotonic()

        facts = json.loads(manage(stack.env, "shell", "-c", FACTS).split("FACTS ", 1)[1])
        verify = subprocess.run(
            [PYTHON, "manage.py", "verify_events"],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
        )

        # Jobs: all succeeded, each finished once; the killed host's handed on.
        statuses: dict[str, collections.Counter] = {}
        for name, rows in facts["jobs"].items():
            statuses[name] = collections.Counter(r["status"] for r in rows)
            for r in rows:
                if r["status"] != "succeeded":
                    problems["job_not_succeeded"].append([name, r["pk"], r["status"], r["error"]])
                elif r["finished_events"] is None:
                    problems["job_class_without_finishing_verb"].append([name, r["pk"]])
                elif r["finished_events"] != 1:
                    problems["not_finished_once"].append([name, r["pk"], r["finished_events"]])
        rows_of = {(n, r["pk"]): r for n, rows in facts["jobs"].items() for r in rows}
        # Delivered again, and finished by another host.
        redelivered = [
            [n, pk, rows_of[(n, pk)]["deliveries"], host_of(rows_of[(n, pk)]["runner"], hosts)]
            for n, pk in held
            if (n, pk) in rows_of
            and rows_of[(n, pk)]["deliveries"] > 1
            and host_of(rows_of[(n, pk)]["runner"], hosts) != killed
        ]
        # Where each job ran last: a worker host, or setup's inline runs (the machine).
        ran_on: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for name, rows in facts["jobs"].items():
            for r in rows:
                ran_on[host_of(r["runner"], hosts) or "set up inline"][name] += 1
        if killed is None:
            problems["no_host_killed"].append("no job was running when the host was to die")
        elif len(redelivered) != len(held):
            problems["held_jobs_not_redelivered"].append([held, redelivered])

        # Files: in the bucket, with the recorded digest.
        checked_bytes = 0
        for model, pk, field, key, digest in facts["files"]:
            try:
                if digest:
                    got = bucket.get_object(Bucket=s3.bucket, Key=key)["Body"]
                    sha = hashlib.sha256()
                    while chunk := got.read(1 << 20):
                        sha.update(chunk)
                        checked_bytes += len(chunk)
                    if sha.hexdigest() != digest:
                        problems["file_digest_differs"].append([model, pk, field, key])
                else:
                    checked_bytes += bucket.head_object(Bucket=s3.bucket, Key=key)["ContentLength"]
            except bucket.exceptions.ClientError as error:
                problems["file_not_in_bucket"].append([model, pk, field, key, str(error)])

        # Local disks: nothing on a worker host outside its temporary copies, nothing in the
        # web host's MEDIA_ROOT.
        leftovers = {}
        for name, home in homes.items():
            var = home / "var"
            written = files_written(var, but=var / "tmp")
            if written:
                problems["written_on_worker_host"].append([name, written[:10]])
            leftovers[name] = len(files_written(var / "tmp")) if (var / "tmp").exists() else 0
            # A live host removes its temporary copies; the dead one could not.
            if leftovers[name] and name != killed:
                problems["temporary_copies_left"].append([name, files_written(var / "tmp")])
        web_media = files_written(web_var / "media") if (web_var / "media").exists() else []
        if web_media:
            problems["written_in_web_media_root"].append(web_media[:10])
        if verify.returncode != 0:
            problems["verify_events"].append((verify.stdout + verify.stderr)[-2000:])

        events = sum(r["finished_events"] or 0 for rows in facts["jobs"].values() for r in rows)
        report = {
            "hosts": {name: queues or "every queue" for name, queues in HOSTS.items()},
            "sizes": {
                "uploads": args.uploads,
                "upload_mb": args.upload_mb,
                "audits": args.audits,
                "audit_rows": args.audit_rows,
                "packs": args.packs,
            },
            "answers": dict(sorted(answers.items())),
            "jobs": {name: dict(c) for name, c in sorted(statuses.items())},
            "finishing_events": events,
            "own_hostnames": separate,
            "jobs_ran_on": {host: dict(c) for host, c in sorted(ran_on.items())},
            "killed": {
                "host": killed,
                "after_seconds": round(killed_at or 0, 1),
                "jobs_running": held,
                "redelivered_and_succeeded": redelivered,
            },
            "files_in_bucket": len(facts["files"]),
            "bytes_checked": checked_bytes,
            "temporary_copies_left": leftovers,
            "web_upload_folder_peak_bytes": web_upload_peak[0],
            "verify_events": (verify.stdout or verify.stderr).strip().splitlines()[:1],
            "seconds": {
                "set_up": round(set_up - begun, 1),
                "requests": round(requested - set_up, 1),
                "drain": round(drained - requested, 1),
                "total": round(time.monotonic() - begun, 1),
            },
            "problems": {k: v[:10] for k, v in problems.items() if v},
        }
        print(json.dumps(report, indent=2, default=str))
        ok = not report["problems"]
        print("RESULT", "ok" if ok else "failed", flush=True)
        if not ok:
            print("reasons:", ", ".join(report["problems"]), flush=True)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
