"""Object storage benchmark: a large upload's web memory, and an audit's read from S3.

Usage::

    .venv/bin/python benchmarks/s3_storage.py --upload-mb 2000 --rows 10000000

1. Upload. A CSV file of ``--upload-mb`` MiB is generated in ``--workdir`` and uploaded as
   a dataset version (``POST /api/v1/datasets/{id}/versions/``) to gunicorn with two sync
   workers on the production stack (tests/load/stack.py: a throwaway PostgreSQL database
   and a private Redis; no Celery worker, so the ingest job stays queued), twice: with
   ``STORAGE_URL`` pointing at SeaweedFS (tests/s3.py), and with the local disk. The
   client streams the multipart body from the file in 1 MiB pieces with a Content-Length.
   Each worker first takes a ``--probe-mb`` upload (two at once, so both take one).
   Measured: seconds to the 201/202 answer, MB/s, each web worker's VmHWM (peak resident
   set, from /proc) before the large upload and after it, the peak bytes in the web host's
   upload temp folder (``FILE_UPLOAD_TEMP_DIR``, sampled every 50 ms), and the stored
   bytes' sha256 (streamed from the bucket with boto3, or read from the media folder)
   against the one the database records and the one the client computed while writing
   the file. SeaweedFS runs with 200 volumes of 64 MB (the tests' 16 hold 1 GB in all).
2. Audit read. The predictions file of benchmarks/audit_job.py (its ``data_file``: label,
   prediction, score, sex, age_band) of ``--rows`` rows is stored in a SeaweedFS bucket and
   on the local disk, and the fairness audit's reads run as ``audits.services.fairness``
   does them: ``audit_inputs`` opens the evaluation's file with ``local_file`` and calls
   ``read_columns``, then ``_sensitive_columns`` opens it with ``local_file`` again for
   ``column_names`` and ``read_groups``. On S3 each ``local_file`` is a whole-file download
   to a temporary copy. A third row reads the same columns through ``parquet_source``
   (pyarrow's ranged reads of the columns asked for), as the dataset-version readers do.
   Each runs in a fresh subprocess with Django set up; peak memory is its maximum resident
   set size on exit (``os.wait4``).

Results also go to ``s3-storage-results.json`` in the work directory; the generated upload
file is removed at the end (the Parquet file is kept, as audit_job.py keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.audit_job import data_file, peak_mb, rss_mb  # noqa: E402
from tests.load.stack import PYTHON, Stack, call, manage  # noqa: E402
from tests.s3 import weed_s3  # noqa: E402

MiB = 1 << 20
PIECE = MiB
KEY = "evaluations/bench/predictions.parquet"

SETUP = """
from projects.models import Role
from projects.services import datasets, teams, tokens
from tests.factories import UserFactory, make_team, make_project
team = make_team("bench-team")
engineer = UserFactory(username="bench_engineer")
teams.membership_add(actor=None, team=team, user=engineer, role=Role.ML_ENGINEER)
project = make_project(team, "bench-project", actor=engineer)
dataset = datasets.dataset_create(actor=engineer, project=project, name="large")
_, key = tokens.token_create(user=engineer, name="bench", scopes=["read", "write"])
print("SETUP", key, dataset.pk)
"""

STORED = """
import json
from projects.models import DatasetVersion
v = DatasetVersion.objects.get(pk={pk})
print("STORED", json.dumps({"name": v.file.name, "sha256": v.sha256, "size": v.size_bytes}))
"""


#: Room for a file of gigabytes: the tests' 16 volumes of 64 MB hold 1 GB in all, which a
#: 2 GB object does not fit in (the upload answers 503).
VOLUMES = 200


# -- upload -------------------------------------------------------------------------------


def csv_file(workdir: Path, mb: int) -> tuple[Path, str]:
    """A CSV file of ``mb`` MiB (distinct rows, so no block repeats) and its sha256."""
    path = workdir / f"upload-{mb}.csv"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        header = b"id,feature_a,feature_b,label\n"
        out.write(header)
        digest.update(header)
        written, row = len(header), 0
        # Whole rows: the file ends up to one block past ``mb`` MiB.
        while written < mb * MiB:
            lines = "".join(
                f"{i},{(i * 7919) % 100_003},{(i * 31) % 977}.{i % 10},{i % 2}\n"
                for i in range(row, row + 20_000)
            ).encode()
            row += 20_000
            out.write(lines)
            digest.update(lines)
            written += len(lines)
    return path, digest.hexdigest()


def stream_upload(port: int, key: str, dataset: int, path: Path) -> tuple[int, dict, float]:
    """POST the file as multipart form data, read from disk piece by piece."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    started = time.perf_counter()
    connection.putrequest("POST", f"/api/v1/datasets/{dataset}/versions/")
    connection.putheader("Authorization", f"Token {key}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + size + len(tail)))
    connection.endheaders()
    connection.send(head)
    with path.open("rb") as source:
        while piece := source.read(PIECE):
            connection.send(piece)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    connection.close()
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {"body": body[:500].decode(errors="replace")}
    return response.status, answer, seconds


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(p) for p in listing.read().split()]


def folder_bytes(folder: Path) -> int:
    """Bytes on disk of the files directly in ``folder`` (files vanish while we look)."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            total += entry.stat().st_blocks * 512
    return total


class Sampler(threading.Thread):
    """The largest sum of a folder's files, every ``interval`` seconds until stopped."""

    def __init__(self, folder: Path, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.folder, self.interval = folder, interval
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, folder_bytes(self.folder))
            time.sleep(self.interval)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def serve(stack: Stack, workers: int = 2, timeout: int = 3600) -> int:
    """gunicorn alone (no Celery worker or beat), with a timeout long enough for the
    upload; the master's pid once the site answers."""
    gunicorn = stack._start(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--preload",
            "--bind",
            f"127.0.0.1:{stack.web_port}",
            "--workers",
            str(workers),
            "--timeout",
            str(timeout),
        ]
    )
    for _ in range(600):
        if call(urllib.request.Request(f"{stack.base}/accounts/login/")) == 200:
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"the portal did not answer; see {stack.log}")
    return gunicorn.pid


def stored_sha256(s3, name: str, media: Path) -> str:
    """The stored object's sha256, streamed: from the bucket, or from the media folder."""
    digest = hashlib.sha256()
    if s3 is not None:
        body = s3.client().get_object(Bucket=s3.bucket, Key=name)["Body"]
        for piece in body.iter_chunks(8 * MiB):
            digest.update(piece)
    else:
        with (media / name).open("rb") as stored:
            while piece := stored.read(8 * MiB):
                digest.update(piece)
    return digest.hexdigest()


def upload_run(storage: str, args: argparse.Namespace, upload: Path, expected: str) -> dict:
    workdir = Path(args.workdir)
    # Two files of the probe size (different bytes) to warm both workers up with.
    probes = [csv_file(workdir, args.probe_mb + n)[0] for n in (0, 1)]
    try:
        return upload_stack(storage, args, upload, expected, probes)
    finally:
        for probe in probes:
            probe.unlink()


def upload_stack(
    storage: str, args: argparse.Namespace, upload: Path, expected: str, probes: list[Path]
) -> dict:
    size = upload.stat().st_size
    workdir = Path(args.workdir)
    with Stack(args.database, prefix="stagegate-s3bench-") as stack:
        env = stack.env
        env["UPLOAD_MAX_BYTES"] = str(size + 64 * MiB)
        var = Path(env["VAR_DIR"])
        with contextlib.ExitStack() as running:
            s3 = None
            env.pop("STORAGE_URL", None)
            if storage == "s3":
                s3 = running.enter_context(weed_s3(workdir / "weed-upload", volumes=VOLUMES))
                env["STORAGE_URL"] = s3.storage_url()
            out = manage(env, "shell", "-c", SETUP)
            key, dataset = out.split("SETUP ")[1].split()
            master = serve(stack)
            # Each worker first takes an upload of the probe size (two at once, so both
            # are busy): "before" is then a worker that has imported the request path and
            # sent a multipart upload, and growth is what the large file adds.
            warmed: list[int] = []
            warm = [
                threading.Thread(
                    target=lambda p: warmed.append(
                        stream_upload(stack.web_port, key, int(dataset), p)[0]
                    ),
                    args=(p,),
                )
                for p in probes
            ]
            for thread in warm:
                thread.start()
            for thread in warm:
                thread.join()
            if len(warmed) != 2 or not set(warmed) <= {201, 202}:
                raise SystemExit(f"the warm-up uploads answered {warmed}")
            workers = children(master)
            before = {pid: status_kb(pid, "VmHWM") / 1024 for pid in workers}
            sampler = Sampler(var / "uploads")
            sampler.start()
            status, answer, seconds = stream_upload(stack.web_port, key, int(dataset), upload)
            temp_peak = sampler.stop()
            after = {pid: status_kb(pid, "VmHWM") / 1024 for pid in workers}
            if status not in (201, 202):
                log = workdir / "weed-upload" / "weed.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise SystemExit(f"the {storage} upload answered {status}: {answer}\n{tail}")
            out = manage(env, "shell", "-c", STORED.replace("{pk}", str(answer["id"])))
            row = json.loads(out.split("STORED ")[1])
            stored = stored_sha256(s3, row["name"], var / "media")
    grown = {pid: after[pid] - before[pid] for pid in workers}
    return {
        "storage": storage,
        "status": status,
        "bytes": size,
        "seconds": seconds,
        "mb_per_s": size / MiB / seconds,
        "worker_hwm_before_mb": before,
        "worker_hwm_after_mb": after,
        "worker_hwm_growth_mb": max(grown.values()),
        "temp_peak_mb": temp_peak / MiB,
        "client_peak_mb": peak_mb(),
        "sha256_client": expected,
        "sha256_recorded": row["sha256"],
        "sha256_stored": stored,
        "sha256_match": expected == row["sha256"] == stored,
    }


# -- audit read ---------------------------------------------------------------------------


def child_read(mode: str, name: str) -> dict:
    """The audit's reads in a fresh interpreter, Django set up with the run's storage."""
    import django

    django.setup()
    from types import SimpleNamespace

    from django.core.files.storage import default_storage

    from portal.storage import local_file, parquet_source
    from projects.analysis.tabular import column_names, read_columns, read_groups
    from projects.services.uploads import read_limits

    field = SimpleNamespace(name=name, storage=default_storage)
    limits = read_limits()
    features = ["sex", "age_band"]
    after_imports = rss_mb()
    steps = {}
    start = time.perf_counter()
    if mode == "parquet_source":
        with parquet_source(field) as source:
            columns = read_columns(source, ["label", "prediction", "score"], fmt="parquet")
        steps["columns"] = time.perf_counter() - start
        start = time.perf_counter()
        with parquet_source(field) as source:
            here = [f for f in features if f in set(column_names(source, fmt="parquet"))]
            groups = read_groups(source, here, fmt="parquet", limits=limits)
    else:
        # audit_inputs, then _sensitive_columns: two local_file blocks, as the job runs.
        with local_file(field) as path:
            columns = read_columns(
                path, ["label", "prediction", "score"], fmt="parquet", limits=limits
            )
        steps["columns"] = time.perf_counter() - start
        start = time.perf_counter()
        with local_file(field) as path:
            here = [f for f in features if f in set(column_names(path, fmt="parquet"))]
            groups = read_groups(path, here, fmt="parquet", limits=limits)
    steps["groups"] = time.perf_counter() - start
    return {
        "steps": steps,
        "after_imports_mb": after_imports,
        "rows": len(columns["label"]),
        "groups": sorted(len(g.categories) for g in groups.values()),
        "positives": int(columns["label"].sum()),
    }


def measure_read(mode: str, name: str, env: dict, workdir: Path) -> dict:
    result_file = workdir / f"s3-storage-read-{mode}.json"
    command = [sys.executable, __file__, "--child", mode, name, str(result_file)]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the {mode} read failed")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    result["mode"] = mode
    result["seconds"] = sum(result["steps"].values())
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def audit_read(args: argparse.Namespace) -> dict:
    workdir = Path(args.workdir)
    data = data_file(workdir, args.rows, args.seed)
    data.read_bytes()  # into the page cache
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(workdir / "s3-storage-var"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    base.pop("STORAGE_URL", None)
    runs = []
    local = {**base, "MEDIA_ROOT": str(data.parent)}
    for _ in range(args.repeat):
        run = measure_read("local_file", data.name, local, workdir)
        run["storage"] = "local"
        runs.append(run)
    with weed_s3(workdir / "weed-read", volumes=VOLUMES) as s3:
        s3.client().upload_file(str(data), s3.bucket, KEY)
        remote = {**base, "STORAGE_URL": s3.storage_url()}
        for _ in range(args.repeat):
            for mode in ("local_file", "parquet_source"):
                run = measure_read(mode, KEY, remote, workdir)
                run["storage"] = "s3"
                runs.append(run)
    answers = {json.dumps([r["rows"], r["groups"], r["positives"]]) for r in runs}
    assert len(answers) == 1, answers  # every path read the same columns
    return {"rows": args.rows, "file_mb": data.stat().st_size / MiB, "runs": runs}


# -- report -------------------------------------------------------------------------------


def print_upload(results: list[dict]) -> None:
    print(
        "\n| storage | MiB | seconds | MB/s | worker VmHWM before MB | after MB | growth MB "
        "| temp folder peak MB | sha256 (client = recorded = stored) |"
    )
    print("|" + "---|" * 9)
    for r in results:
        before = max(r["worker_hwm_before_mb"].values())
        after = max(r["worker_hwm_after_mb"].values())
        print(
            f"| {r['storage']} | {r['bytes'] / MiB:,.0f} | {r['seconds']:.1f} "
            f"| {r['mb_per_s']:.0f} | {before:.0f} | {after:.0f} "
            f"| {r['worker_hwm_growth_mb']:.1f} | {r['temp_peak_mb']:,.0f} "
            f"| {'yes' if r['sha256_match'] else 'NO'} |"
        )
    if len(results) == 2:
        local, s3 = sorted(results, key=lambda r: r["storage"])
        print(f"\nS3 over local disk: {s3['seconds'] / local['seconds']:.2f}x the time.")


def print_read(read: dict) -> None:
    print(f"\n{read['rows']:,} rows, {read['file_mb']:.0f} MB Parquet file")
    print(
        "| storage | reader | label+prediction+score s | groups s | total s "
        "| after imports MB | peak MB |"
    )
    print("|" + "---|" * 7)
    for r in read["runs"]:
        s = r["steps"]
        print(
            f"| {r['storage']} | {r['mode']} | {s['columns']:.2f} | {s['groups']:.2f} "
            f"| {r['seconds']:.2f} | {r['after_imports_mb']:.0f} | {r['peak_mb']:.0f} |"
        )
    local = min(r["seconds"] for r in read["runs"] if r["storage"] == "local")
    for mode in ("local_file", "parquet_source"):
        s3 = min(r["seconds"] for r in read["runs"] if r["storage"] == "s3" and r["mode"] == mode)
        print(f"S3 ({mode}) over local disk: {s3 / local:.2f}x the time.")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=2000, help="upload size in MiB")
    parser.add_argument(
        "--probe-mb", type=int, default=128, help="size in MiB of each worker's warm-up upload"
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each audit read")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/stagegate_s3bench"
    )
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-read", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, name, result_file = args.child
        Path(result_file).write_text(json.dumps(child_read(mode, name)))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    }
    if not args.skip_upload:
        upload, expected = csv_file(workdir, args.upload_mb)
        try:
            report["upload"] = [upload_run(s, args, upload, expected) for s in ("local", "s3")]
        finally:
            upload.unlink()
        print_upload(report["upload"])
    if not args.skip_read:
        report["read"] = audit_read(args)
        print_read(report["read"])
    (workdir / "s3-storage-results.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
