"""Starting real processes for tests: a Celery worker against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from portal.celery import app
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def missing_part(message: str, required_by: str) -> None:
    """Skip the test for want of a real part (a binary, a browser) this machine lacks;
    fail it instead where the environment variable ``required_by`` is set, as CI sets it,
    so a part that went missing there cannot pass as a skip."""
    if os.environ.get(required_by):
        pytest.fail(message)
    pytest.skip(message)


def database_url() -> str:
    """The URL of the test database this process uses, for a child process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **extra,
    }


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Worker:
    """A worker process; ``include`` names more task modules than ``tests.workloads``,
    ``queues`` the queues it serves (all when empty), and a ``CELERY_BROKER_URL`` in
    ``env`` gives it (and the ping that waits for it) a broker of its own."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        include: tuple[str, ...] = (),
        queues: tuple[str, ...] = (),
        **env: str,
    ):
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log = tmp_path / "worker.log"
        broker = env.get("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
        # Control commands go out through an app's own producer pool, whatever connection
        # is passed, so a worker on another broker is pinged through an app of its own.
        # Celery prefers CELERY_BROKER_URL in the environment to broker_url, but not to
        # the read and write URLs.
        self.control = app
        if broker != settings.CELERY_BROKER_URL:
            self.control = Celery("stagegate-test", set_as_current=False)
            self.control.conf.update(broker_read_url=broker, broker_write_url=broker)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--hostname",
            self.name,
            "--include",
            ",".join(("tests.workloads", *include)),
            "--without-mingle",
            "--without-gossip",
            *(("--queues", ",".join(queues)) if queues else ()),
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=child_env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _started(self, "the worker to answer a ping")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("the worker exited:\n" + self.log.read_text())
        replies = self.control.control.ping(timeout=1.0)
        return any(self.name.split("@")[0] in name for reply in replies for name in reply)

    def pool_children(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.proc.pid).children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL to the whole process group: the main process and its pool at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        _stop(self.proc)
        if self.control is not app:
            self.control.close()


def _started(child: Worker | WebServer, what: str) -> None:
    """Wait for ``child`` to answer; one that does not is stopped, not left running."""
    try:
        wait_for(child._answers, 60, what)
    except BaseException:
        child.stop()
        raise


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class WebServer:
    """gunicorn serving the portal on loopback against the test database, as production
    runs it (DEBUG off); ``env`` overrides settings for it."""

    def __init__(self, tmp_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "web.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
        ]
        settings_env = {"DEBUG": "false", "STATIC_MANIFEST": "false", **env}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=child_env(**settings_env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _started(self, "the web server to answer")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("the web server exited:\n" + self.log.read_text())
        try:
            with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        _stop(self.proc)
