"""The production stack a load run drives, on loopback: a throwaway PostgreSQL database,
gunicorn, a real Celery worker and beat, a private Redis for broker and cache, and a
throwaway folder for VAR_DIR and the services' log. Shared by the runs in this package.

    with Stack(database) as stack:          # database made, Redis up, migrated
        manage(stack.env, "shell", "-c", SETUP)
        stack.serve()                       # gunicorn, worker and beat answering
        ...                                 # everything stops and goes on leaving
"""

from __future__ import annotations

import argparse
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
from typing import IO

from tests.servers import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def manage(env: dict, *args: str, timeout: float = 300) -> str:
    """``manage.py`` with ``args``; its stdout, or the run stops with what it printed."""
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


def fetch(request: urllib.request.Request, timeout: float = 30) -> tuple[int, bytes]:
    """The answer's status and body; status 0 when there was no answer at all."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, b""


def call(request: urllib.request.Request) -> int:
    return fetch(request)[0]


def request(
    url: str, key: str, body: dict | None = None, headers: dict | None = None
) -> urllib.request.Request:
    """A call with an API token: POST of ``body`` as JSON, or GET without one."""
    data = None if body is None else json.dumps(body).encode()
    return urllib.request.Request(
        url,
        data=data,
        headers={
            "Authorization": f"Token {key}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
        method="GET" if data is None else "POST",
    )


def code_of(body: bytes) -> str:
    """The ``code`` of a JSON error answer, or ""."""
    try:
        return str(json.loads(body).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def arguments(description: str, database: str, clients: int = 2) -> argparse.ArgumentParser:
    """The options every load run takes; a run adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=clients)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--outage", type=float, default=0, help="seconds Redis is down")
    parser.add_argument("--kill", action="store_true", help="stop Redis with SIGKILL")
    parser.add_argument("--database", default=database)
    parser.add_argument("--drain", type=float, default=300, help="seconds to wait for jobs")
    return parser


def answer_seconds(timings: list[float]) -> dict:
    return {
        "p50": round(statistics.median(timings), 3),
        "p95": round(statistics.quantiles(timings, n=20)[-1], 3),
        "max": round(max(timings), 3),
    }


def redis_outage(
    redis: PrivateRedis, *, seconds: float, outage: float, kill: bool, flag: threading.Event
) -> None:
    """A third of the way into a run of ``seconds`` (20 s at most), stop Redis for
    ``outage`` seconds, with ``flag`` set meanwhile, then start it again."""
    time.sleep(min(seconds / 3, 20))
    redis.stop(kill=kill)
    flag.set()
    print(f"redis stopped for {outage:.0f} s", flush=True)
    time.sleep(outage)
    flag.clear()
    redis.start()
    print("redis started again", flush=True)


class Stack:
    """The stack of one load run. Entering it drops and makes the database, starts Redis
    and migrates; :meth:`serve` starts the services; leaving it ends every process it
    started and removes the database and the folder (kept when ``keep``, for a look at
    ``log``)."""

    def __init__(self, database: str, *, prefix: str = "stagegate-load-", keep: bool = False):
        self.database, self.keep = database, keep
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.redis = PrivateRedis(self.folder)
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.log = self.folder / "services.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{self.redis.port}/1",
            "VAR_DIR": str(self.folder / "var"),
            "DEBUG": "false",
            "STATIC_MANIFEST": "false",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1",
            "JOB_SWEEP_SECONDS": "5",
            "JOB_STALE_SECONDS": "20",
            "THROTTLE_USER": "100000/minute",
            "LOG_LEVEL": "WARNING",
        }
        self.db_name = database.rsplit("/", 1)[1]
        self.admin_url = database.rsplit("/", 1)[0] + "/postgres"
        self.children: list[subprocess.Popen] = []
        self._logs: IO[str] | None = None

    def psql(self, sql: str, *, check: bool = True) -> str:
        """Run ``sql`` on the server's ``postgres`` database; its unaligned output."""
        done = subprocess.run(
            ["psql", self.admin_url, "-qAtc", sql], check=check, capture_output=True, text=True
        )
        return done.stdout

    def __enter__(self) -> Stack:
        subprocess.run(
            ["psql", self.admin_url, "-qc", f"DROP DATABASE IF EXISTS {self.db_name}"], check=True
        )
        subprocess.run(
            ["psql", self.admin_url, "-qc", f"CREATE DATABASE {self.db_name}"], check=True
        )
        try:
            self.redis.start()
            manage(self.env, "migrate", "--no-input")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve(self, web_workers: int = 4, *, worker: bool = True) -> None:
        """Start gunicorn (sync workers), a Celery worker (unless not ``worker``: a run
        starting its own with :meth:`start_worker`) and beat; wait until the site answers
        (a minute at most: a loaded two-core machine takes more than 20 s)."""
        self._start(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--preload",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(web_workers),
                "--timeout",
                "60",
            ]
        )
        if worker:
            self.start_worker(f"load-{self.web_port}")
        self._start(
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
                str(self.folder / "beat-schedule"),
            ]
        )
        for _ in range(300):
            if call(urllib.request.Request(f"{self.base}/accounts/login/")) == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the portal did not answer within a minute; see {self.log}")

    def start_worker(
        self,
        name: str,
        *,
        env: dict | None = None,
        queues: str = "",
        concurrency: int = 2,
        hostname: str = "",
    ) -> subprocess.Popen:
        """Start a Celery worker called ``name`` serving ``queues`` (comma-separated; every
        queue when empty), with ``env`` over the stack's (another host's folders, say), and
        with a ``hostname`` of its own when given (a UTS namespace: needs root). It leads a
        process group of its own, so a run can kill it with its pool."""
        command = [PYTHON, "-m", "celery", "-A", "portal", "worker", "--concurrency"]
        command += [str(concurrency), "--loglevel", "WARNING", "-n", f"{name}@%h"]
        if queues:
            command += ["-Q", queues]
        if hostname:
            rename = 'hostname "$0" && exec "$@"'
            command = ["unshare", "--uts", "--fork", "sh", "-c", rename, hostname, *command]
        return self._start(command, {**self.env, **(env or {})})

    def _start(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        if self._logs is None:
            self._logs = open(self.log, "a")  # noqa: SIM115 (closed with the children)
        child = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or self.env,
            stdout=self._logs,
            stderr=self._logs,
            start_new_session=True,
        )
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.children = []
        if self._logs is not None:
            self._logs.close()
            self._logs = None
        self.redis.stop()
        subprocess.run(["psql", self.admin_url, "-qc", f"DROP DATABASE IF EXISTS {self.db_name}"])
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
