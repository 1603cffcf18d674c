"""Upload bodies that break the size rules, sent over raw sockets to a live server: Django's
own (pytest-django's ``live_server``) and gunicorn, which production runs.

``test_prototyping.py::test_an_upload_cut_off_halfway_leaves_nothing`` covers a body
shorter than its Content-Length; these cover a chunked body over the cap, an honest
Content-Length over the cap, and a body longer than its Content-Length.
"""

from __future__ import annotations

import hashlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from projects.models import Dataset, DatasetVersion, Role
from projects.services import teams, tokens
from tests.data import sample_csv
from tests.factories import UserFactory, make_dataset, make_project, make_team
from tests.harness import WebServer

pytestmark = pytest.mark.integration

LIMIT = 64 << 10  # UPLOAD_MAX_BYTES for these tests
BOUNDARY = "stagegateboundary"


@dataclass
class Uploader:
    dataset: Dataset
    token_key: str


@pytest.fixture
def team(transactional_db) -> Uploader:
    """An ML engineer's dataset and a token that may upload to it."""
    engineer = UserFactory(username="u_engineer")
    team = make_team("u-team")
    teams.membership_add(actor=None, team=team, user=engineer, role=Role.ML_ENGINEER)
    project = make_project(team, "u-project", actor=engineer)
    _, key = tokens.token_create(user=engineer, name="ci", scopes=["read", "write"])
    return Uploader(make_dataset(project, engineer), key)


@pytest.fixture(params=["django", "gunicorn"])
def server(request, team, settings, tmp_path):
    """(host, port, scratch folder) of a live server taking uploads up to LIMIT bytes into
    a scratch folder of the test's own."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    if request.param == "django":
        settings.UPLOAD_MAX_BYTES = LIMIT
        settings.FILE_UPLOAD_TEMP_DIR = str(scratch)
        url = urlsplit(request.getfixturevalue("live_server").url)
        yield url.hostname, url.port, scratch
        return
    web = WebServer(tmp_path, UPLOAD_MAX_BYTES=str(LIMIT), FILE_UPLOAD_TEMP_DIR=str(scratch))
    try:
        yield "127.0.0.1", web.port, scratch
    finally:
        web.stop()


def files(folder) -> list[str]:
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file())


def multipart(content: bytes, name: str = "data.csv") -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def exchange(host: str, port: int, head: str, body_parts: list[bytes]) -> bytes:
    """Send a request as raw bytes and read what comes back until the server closes. A
    server may answer and close before it has read the whole body: sending then fails,
    and the answer already sent is still read."""
    reply = b""
    with socket.create_connection((host, port), timeout=15) as conn:
        try:
            conn.sendall(head.encode())
            for part in body_parts:
                conn.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := conn.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


def first_response(reply: bytes) -> tuple[int, dict]:
    """Status and JSON body of the first response in ``reply``."""
    head, _, rest = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    return status, json.loads(rest[:length])


def request_head(host: str, port: int, team, headers: dict[str, str]) -> str:
    lines = [
        f"POST /api/v1/datasets/{team.dataset.pk}/versions/ HTTP/1.1",
        f"Host: {host}:{port}",
        f"Authorization: Token {team.token_key}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        # One request a connection: the reply is read until the server closes.
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(body: bytes, size: int = 8192) -> list[bytes]:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]


def test_a_chunked_body_over_the_cap_is_refused_and_leaves_nothing(server, team, settings):
    host, port, scratch = server
    media_before, versions_before = files(settings.MEDIA_ROOT), DatasetVersion.objects.count()
    body = multipart(sample_csv(rows=20_000, seed=21))
    assert len(body) > 4 * LIMIT

    head = request_head(host, port, team, {"Transfer-Encoding": "chunked"})
    status, answer = first_response(exchange(host, port, head, chunked(body)))

    # Django reads a body up to its Content-Length: it would take a chunked one as empty
    # ("no file was submitted"). It is refused for what it is, before anything is read.
    assert status == 400, answer
    assert answer["code"] == "length_required", answer
    assert DatasetVersion.objects.count() == versions_before
    assert files(scratch) == []
    assert files(settings.MEDIA_ROOT) == media_before


def test_a_body_over_the_cap_is_stopped_while_streaming_and_leaves_nothing(server, team, settings):
    """An honest Content-Length, over the cap but under the early check's allowance: the
    upload handler stops the file at the cap and removes what it had written."""
    host, port, scratch = server
    media_before, versions_before = files(settings.MEDIA_ROOT), DatasetVersion.objects.count()
    body = multipart(sample_csv(rows=20_000, seed=22))
    assert LIMIT < len(body) < LIMIT + (1 << 20)

    head = request_head(host, port, team, {"Content-Length": str(len(body))})
    status, answer = first_response(exchange(host, port, head, [body]))

    assert status == 413, answer
    assert answer["code"] == "too_large"
    assert DatasetVersion.objects.count() == versions_before
    assert files(scratch) == []
    assert files(settings.MEDIA_ROOT) == media_before


def test_bytes_past_the_content_length_are_never_stored(server, team, settings):
    """A Content-Length that covers a small, whole upload, followed by far more bytes than
    the cap: the server takes the declared bytes only, and nothing of the rest."""
    host, port, scratch = server
    versions_before = DatasetVersion.objects.count()
    content = sample_csv(rows=200, seed=23)
    declared = multipart(content)
    extra = multipart(sample_csv(rows=20_000, seed=24), name="extra.csv")
    assert len(declared) < LIMIT < len(extra)

    head = request_head(host, port, team, {"Content-Length": str(len(declared))})
    status, answer = first_response(exchange(host, port, head, [declared + extra]))

    assert status == 202, answer
    assert DatasetVersion.objects.count() == versions_before + 1
    version = DatasetVersion.objects.get(pk=answer["id"])
    assert version.original_name == "data.csv"
    assert version.size_bytes == len(content)
    assert version.sha256 == hashlib.sha256(content).hexdigest()
    assert Path(version.file.path).read_bytes() == content
    assert files(scratch) == []
