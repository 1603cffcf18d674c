"""Small loopback servers for tests and the load run; no Django here, so the load run can
use them before it has a settings module."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

#: (status, headers, body) for a requested path.
Answer = tuple[int, dict[str, str], bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def canary(answer: Callable[[str], Answer]) -> Iterator[SimpleNamespace]:
    """A loopback HTTP server that records the path of every request it gets (``hits``)
    and answers each with ``answer(path)``."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            status, headers, body = answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", hits=hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class PrivateRedis:
    """A redis-server of the caller's own on a free port, keeping its files in ``folder``
    (an append-only file there when ``aof``), so fault tests never stop the shared one."""

    def __init__(self, folder: Path, *, aof: bool = False, port: int | None = None) -> None:
        self.folder, self.aof = folder, aof
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "yes" if self.aof else "no"]
        command += ["--dir", str(self.folder)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the private redis-server on port {self.port} did not start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            # SIGKILL loses whatever Redis held in memory, as a crashed host would.
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(10)
            self.proc = None


class PrivatePgBouncer:
    """A PgBouncer of the caller's own on a free loopback port, in ``mode`` (transaction
    pooling by default) in front of the PostgreSQL at 127.0.0.1:5432, trusting every user,
    with ``pool_size`` server connections per database and user. PgBouncer refuses to run
    as root: as root it runs as the ``postgres`` user, so its files live in a folder of
    their own that user can reach (pytest's are private to root)."""

    def __init__(self, *, binary: str, mode: str = "transaction", pool_size: int = 3) -> None:
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="stagegate-pgbouncer-"))
        self.folder.chmod(0o777)
        self.port = free_port()
        folder = self.folder
        (folder / "users.txt").write_text('"postgres" ""\n')
        self.config = folder / "pgbouncer.ini"
        self.config.write_text(
            "[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
            f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
            "unix_socket_dir =\nignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        for path in (folder / "users.txt", self.config):
            path.chmod(0o644)
        self.proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PrivatePgBouncer:
        command = [self.binary, str(self.config)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"PgBouncer did not start; see {self.folder / 'pgbouncer.log'}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            # runuser's child is PgBouncer: end the whole group.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)


#: Debian's prometheus binary, or the one PROMETHEUS_PATH names; None when neither is there.
PROMETHEUS = os.environ.get("PROMETHEUS_PATH") or shutil.which("prometheus")
NO_PROMETHEUS = "no prometheus on the PATH: apt-get install prometheus, or set PROMETHEUS_PATH"


class PrivatePrometheus:
    """A Prometheus server of the caller's own on a free loopback port, scraping ``targets``
    (``host:port`` each) every second and keeping its files under ``folder``.

    Use it as a context manager, or ``start()`` and ``stop()``; ``binary`` is the path of
    the ``prometheus`` executable (Debian's package puts it on the PATH)."""

    def __init__(
        self,
        folder: Path,
        targets: list[str],
        *,
        binary: str = "prometheus",
        port: int | None = None,
    ) -> None:
        self.folder, self.targets, self.binary = folder, targets, binary
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "prometheus.yml"
        # JSON is YAML: no YAML writer needed.
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {"job_name": "canary", "static_configs": [{"targets": self.targets}]}
                    ],
                }
            )
        )
        command = [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the private Prometheus on port {self.port} did not become ready: "
            f"{self.log.read_text(errors='replace')[-2000:]}"
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.folder / "data", ignore_errors=True)

    def __enter__(self) -> PrivatePrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CanaryExporter:
    """A service's metrics as a Prometheus client library exports them, made up as they go:
    ``per_second`` requests a second, each observed in ``http_request_duration_seconds``
    (a histogram) and counted in ``http_requests_total`` by ``status``.

    Healthy, latencies are about 50 ms and one request in 1,000 fails (status 500);
    after ``degrade()`` they are about 400 ms and one in 20 fails; ``heal()`` goes back.
    Failures are spaced evenly, so an error rate over a few seconds is exact; latencies are
    drawn from a normal distribution with a 10 % spread (``seed`` fixes them). The exporter
    has its own registry, so several can run in one process."""

    BUCKETS = (0.01, 0.025, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
    PROFILES = {"healthy": (0.050, 1_000), "degraded": (0.400, 20)}

    def __init__(self, *, per_second: int = 200, seed: int = 0) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.per_second = per_second
        self.mode = "healthy"
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request.",
            buckets=self.BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "http_requests", "Requests answered, by status.", ["status"], registry=self.registry
        )
        # Both series exist from the first scrape, so an error rate is 0 rather than absent.
        self.requests.labels(status="200")
        self.requests.labels(status="500")
        self._random = random.Random(seed)
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server = None

    @property
    def target(self) -> str:
        """``host:port`` for a scrape configuration."""
        return f"127.0.0.1:{self._server.server_port}"

    def degrade(self) -> None:
        with self._lock:
            self.mode = "degraded"

    def heal(self) -> None:
        with self._lock:
            self.mode = "healthy"

    def start(self) -> None:
        from prometheus_client import start_http_server

        self._server, serving = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        making = threading.Thread(target=self._make_requests, daemon=True)
        making.start()
        self._threads = [serving, making]

    def _make_requests(self) -> None:
        began = time.monotonic()
        while not self._stopping.wait(0.02):
            due = int((time.monotonic() - began) * self.per_second)
            with self._lock:
                latency, every = self.PROFILES[self.mode]
                while self._count < due:
                    self._count += 1
                    failed = self._count % every == 0
                    self.requests.labels(status="500" if failed else "200").inc()
                    seconds = max(0.001, self._random.gauss(latency, latency / 10))
                    self.latency.observe(seconds)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(10)
        self._threads = []

    def __enter__(self) -> CanaryExporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookReceiver:
    """A webhook receiver on loopback that checks each request's signature, as a team's
    would: HMAC-SHA256 with the shared secret over "<timestamp>.<body>"."""

    def __init__(self, answer: int = 200, delay: float = 0.0) -> None:
        from deployments.services.alerts import SIGNATURE_HEADER

        self.answer, self.delay, self.secret = answer, delay, ""
        #: Answers for the next requests, before ``answer`` is used again.
        self.next_answers: list[int] = []
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = dict(p.split("=", 1) for p in self.headers[SIGNATURE_HEADER].split(","))
                expected = hmac.new(
                    receiver.secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
                ).hexdigest()
                fresh = abs(time.time() - int(parts["t"])) < 300
                valid = hmac.compare_digest(expected, parts["v1"]) and fresh
                receiver.received.append({"valid": valid, "body": json.loads(body)})
                time.sleep(receiver.delay)
                answer = receiver.next_answers.pop(0) if receiver.next_answers else receiver.answer
                self.send_response(answer if valid else 401)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/stagegate"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailReceiver:
    """A real SMTP server on a free loopback port (aiosmtpd) that keeps every message it
    is given (``received``: the envelope's sender, recipients and the parsed message)."""

    def __init__(self, port: int | None = None) -> None:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        self.received: list[SimpleNamespace] = []
        received = self.received

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                received.append(
                    SimpleNamespace(
                        sender=envelope.mail_from,
                        to=list(envelope.rcpt_tos),
                        message=message_from_bytes(envelope.content, policy=policy.default),
                    )
                )
                return "250 Message accepted for delivery"

        self.port = port or free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
