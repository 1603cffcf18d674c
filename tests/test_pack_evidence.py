"""An approval pack as evidence: what its PDF embeds and names, its hash in the audit
chain, one pack for two requests at once, and metrics that come out the same twice."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy
import pandas
import pyarrow
import pytest
import sklearn
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject
from rest_framework.test import APIClient

from audits.analysis.pack_file import SNAPSHOT_NAME
from audits.models import ApprovalPack, AuditRun
from audits.services import packs
from audits.services.packs import pack_render, render_pdf, software_versions, static_root
from projects.models import Event, Project, Role
from tests import servers
from tests.factories import WORLD_CRITERIA, UserFactory, build_team, make_audit, make_evaluation

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two requests meet on row locks and a unique index only on PostgreSQL here",
)


def _ask(api, project):
    return api.post(f"/api/v1/projects/{project.slug}/approval-packs/")


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _stored_pdf(pack: ApprovalPack) -> bytes:
    with pack.pdf.open("rb") as stored:
        return stored.read()


def pdf_facts(pdf: bytes) -> SimpleNamespace:
    """Every name in a PDF, the decoded bytes of all its streams, its text and metadata.

    Streams are compressed, so a file embedded whole would not show in the raw bytes;
    every object reachable from the trailer is walked and each stream decoded.
    """
    reader = PdfReader(io.BytesIO(pdf))
    names: set[str] = set()
    streams: list[bytes] = []
    seen: set[tuple[int, int]] = set()
    todo: list = [reader.trailer]
    while todo:
        obj = todo.pop()
        if isinstance(obj, IndirectObject):
            if (obj.idnum, obj.generation) in seen:
                continue
            seen.add((obj.idnum, obj.generation))
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            names.update(str(k) for k in obj)
            todo.extend(obj.values())
            if isinstance(obj, StreamObject):
                streams.append(obj.get_data())
        elif isinstance(obj, ArrayObject):
            todo.extend(obj)
        elif isinstance(obj, NameObject):
            names.add(str(obj))
    xmp = reader.xmp_metadata
    return SimpleNamespace(
        attachments=sorted(reader.attachments),
        names=names,
        decoded=b"\n".join([pdf, *streams]),
        text=" ".join(" ".join(page.extract_text() or "" for page in reader.pages).split()),
        metadata={str(k): str(v) for k, v in (reader.metadata or {}).items()},
        xmp=xmp.stream.get_data().decode("utf-8", "replace") if xmp is not None else "",
    )


def assert_embeds_nothing(facts: SimpleNamespace, *, but_snapshot: bool = False) -> None:
    """Nothing from the markup is embedded; a pack's own snapshot is, when ``but_snapshot``."""
    if but_snapshot:
        assert facts.attachments == [SNAPSHOT_NAME], facts.attachments
        assert "/FileAttachment" not in facts.names
    else:
        attached = facts.names & {
            "/EmbeddedFiles",
            "/EmbeddedFile",
            "/FileAttachment",
            "/Filespec",
        }
        assert not attached, f"the PDF carries an attachment: {sorted(attached)}"
    assert b"root:x:" not in facts.decoded, "the PDF holds /etc/passwd's first line"
    assert "root:x:" not in facts.text


@pytest.fixture
def canary() -> Iterator[SimpleNamespace]:
    """A loopback HTTP server that records every request and answers an empty image."""
    with servers.canary(lambda path: (200, {"Content-Type": "image/png"}, b"")) as server:
        yield server


def _hostile(canary_url: str) -> str:
    """Every way markup can make WeasyPrint load a file or call a server."""
    return (
        '<img src="file:///etc/passwd">'
        '<link rel="attachment" href="file:///etc/passwd">'
        '<a rel="attachment" href="file:///etc/passwd">passwd</a>'
        f'<style>@import url("{canary_url}/import.css");'
        ' body { background: url("file:///etc/passwd"); }</style>'
        '<svg width="10" height="10">'
        '<image href="file:///etc/passwd" width="10" height="10"/></svg>'
        f'<img src="{canary_url}/img.png">'
    )


def _passwd_has_root() -> bool:
    try:
        return "root:x:" in Path("/etc/passwd").read_text()
    except OSError:
        return False


# --- 25: injected resources ------------------------------------------------------------
@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
@pytest.mark.django_db
def test_markup_typed_into_a_project_reaches_the_pdf_as_text_and_embeds_nothing(api, world, canary):
    w = world["a"]
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    slug = w.project.slug
    hostile = _hostile(canary.url)
    patched = api.patch(f"/api/v1/projects/{slug}/", {"description": hostile}, format="json")
    assert patched.status_code == 200, patched.json()
    risk = {"title": "Injected", "category": "security_misuse", "likelihood": 3, "impact": 3}
    created = api.post(
        f"/api/v1/projects/{slug}/risks/", {**risk, "mitigation": hostile}, format="json"
    )
    assert created.status_code == 201, created.json()
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["rationale"] = hostile
    saved = api.post(f"/api/v1/projects/{slug}/criteria/", {"criteria": criteria}, format="json")
    assert saved.status_code == 201, saved.json()

    asked = _ask(api, w.project)
    assert asked.status_code == 202, asked.json()
    pack_render(pack_id=asked.json()["id"])
    pack = ApprovalPack.objects.get(pk=asked.json()["id"])
    assert pack.status == "succeeded", pack.error

    facts = pdf_facts(_stored_pdf(pack))
    assert_embeds_nothing(facts, but_snapshot=True)
    assert canary.hits == []
    rendered = Event.objects.get(verb="pack.rendered", target_id=str(pack.pk))
    assert rendered.payload["refused_urls"] == []  # escaped: nothing was even named
    assert '<link rel="attachment" href="file:///etc/passwd">' in facts.text


def test_unescaped_markup_laid_out_by_the_pack_renderer_embeds_nothing_and_calls_nobody(canary):
    """Were escaping to fail, the renderer's fetcher still loads nothing the markup names."""
    html = f'<link rel="stylesheet" href="css/pack.css"><p>Approval pack</p>{_hostile(canary.url)}'
    refused: list[str] = []
    pdf, _pages = render_pdf(html, refused)

    assert_embeds_nothing(pdf_facts(pdf))
    assert canary.hits == []
    assert "file:///etc/passwd" in refused
    assert {f"{canary.url}/import.css", f"{canary.url}/img.png"} <= set(refused)


@pytest.mark.skipif(not _passwd_has_root(), reason="no root:x: line in /etc/passwd to find")
def test_the_check_finds_the_file_that_weasyprints_own_fetcher_embeds(canary):
    """The control: without our fetcher WeasyPrint embeds /etc/passwd and calls the
    canary, and the checks above see both, so their silence means something."""
    from weasyprint import HTML

    html = f"<p>Approval pack</p>{_hostile(canary.url)}"
    pdf = HTML(string=html, base_url=static_root().as_uri() + "/").write_pdf()

    facts = pdf_facts(pdf)
    assert {"/EmbeddedFiles", "/FileAttachment"} <= facts.names
    assert b"root:x:" not in pdf, "compressed: only the decoded streams show it"
    assert b"root:x:" in facts.decoded
    with pytest.raises(AssertionError):
        assert_embeds_nothing(facts)
    assert "/img.png" in canary.hits


# --- 29: the PDF's hash in the chain, and its metadata ---------------------------------
@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
@pytest.mark.django_db
def test_the_rendered_event_holds_the_sha256_of_the_pdf_that_api_and_web_serve(api, client, world):
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    api.force_authenticate(owner)
    asked = _ask(api, w.project)
    assert asked.status_code == 202, asked.json()
    pack_id = asked.json()["id"]
    pack_render(pack_id=pack_id)

    event = Event.objects.get(verb="pack.rendered", target_id=str(pack_id))
    recorded = event.payload["pdf_sha256"]
    from_api = api.get(f"/api/v1/approval-packs/{pack_id}/pdf/")
    assert from_api.status_code == 200
    client.force_login(owner)
    from_web = client.get(f"/approval-packs/{pack_id}/pdf/")
    assert from_web.status_code == 200
    assert hashlib.sha256(_body(from_api)).hexdigest() == recorded
    assert hashlib.sha256(_body(from_web)).hexdigest() == recorded
    assert ApprovalPack.objects.get(pk=pack_id).pdf_sha256 == recorded
    # The event is a link of the project's chain, and the chain holds.
    assert event.project_id == w.project.pk and event.hash
    call_command("verify_events")


#: Information-dictionary keys a pack may carry; any other is a reason to look again.
METADATA_KEYS = {
    "/Title",
    "/Author",
    "/Subject",
    "/Keywords",
    "/Creator",
    "/Producer",
    "/ModDate",  # the signature's revision
}
#: XML namespace names are URIs, not paths on this machine.
XMLNS = re.compile(r'xmlns:\w+="[^"]*"')


@pytest.mark.django_db
def test_the_pdf_metadata_names_no_host_and_no_path(packed_world):
    pack = ApprovalPack.objects.get(project=packed_world["a"].project)
    facts = pdf_facts(_stored_pdf(pack))
    assert facts.metadata, "the PDF has no metadata to check"
    assert set(facts.metadata) <= METADATA_KEYS, sorted(facts.metadata)

    hosts = {socket.gethostname(), socket.getfqdn(), urlparse(settings.SITE_URL).hostname}
    paths = {
        str(settings.BASE_DIR),
        str(settings.VAR_DIR),
        str(settings.MEDIA_ROOT),
        str(static_root()),
        str(Path.home()),
    }
    assert all(len(h) >= 2 for h in hosts) and all(len(p) >= 4 for p in paths)
    for key, value in [*facts.metadata.items(), ("XMP", XMLNS.sub("", facts.xmp))]:
        for host in hosts:
            assert host.lower() not in value.lower(), f"{key} names the host {host!r}: {value!r}"
        for path in paths:
            assert path not in value, f"{key} names the path {path!r}: {value!r}"
        assert "file:" not in value, f"{key} holds a file URL: {value!r}"
        assert not re.search(r"(?<![\w.])/[\w.-]+/", value), f"{key} looks like a path: {value!r}"
    # Nor anywhere else in the document (the cover names SITE_URL on purpose).
    for path in paths:
        assert path.encode() not in facts.decoded, f"the PDF holds the path {path!r}"
        assert path not in facts.text, f"the PDF shows the path {path!r}"


# --- 50: the same numbers twice, and the versions that made them -----------------------
def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@pytest.mark.django_db
def test_the_same_audit_run_again_on_the_same_data_stores_byte_identical_metrics_json(world):
    w = world["a"]
    first = AuditRun.objects.get(pk=w.audit.pk)
    assert first.status == "succeeded" and first.result
    # A failed run is not reused, so asking again runs the same evaluation under the same
    # configuration a second time.
    AuditRun.objects.filter(pk=first.pk).update(status=AuditRun.Status.FAILED)
    second = make_audit(w.evaluation, w.people[Role.ML_ENGINEER])

    assert second.pk != first.pk and second.status == "succeeded", second.error
    assert (second.evaluation_id, second.config_id) == (first.evaluation_id, first.config_id)
    assert _canonical(second.result) == _canonical(first.result)
    assert second.result_sha256 == first.result_sha256


@pytest.mark.django_db
def test_the_same_predictions_evaluated_twice_give_byte_identical_metrics_json(world):
    w = world["a"]
    again = make_evaluation(w.model, w.version, w.people[Role.ML_ENGINEER])

    assert again.pk != w.evaluation.pk and again.status == "succeeded", again.error
    assert again.sha256 == w.evaluation.sha256
    assert again.metrics and _canonical(again.metrics) == _canonical(w.evaluation.metrics)


@pytest.mark.django_db
def test_the_pack_records_the_library_versions_and_its_pdf_shows_them(packed_world, tmp_path):
    import weasyprint

    pack = ApprovalPack.objects.get(project=packed_world["a"].project)
    expected = {
        "NumPy": numpy.__version__,
        "pandas": pandas.__version__,
        "PyArrow": pyarrow.__version__,
        "scikit-learn": sklearn.__version__,
        "WeasyPrint": weasyprint.__version__,
    }
    software = pack.snapshot["meta"]["software"]
    assert software == software_versions()
    named = {item["name"]: item["version"] for item in software}
    assert {k: named.get(k) for k in expected} == expected
    assert "Stagegate" in named

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: cannot check the PDF's text")
    path = tmp_path / "pack.pdf"
    path.write_bytes(_stored_pdf(pack))
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    text = " ".join(out.stdout.decode().split())
    assert "Produced with" in text
    for name, version in named.items():
        assert f"{name} {version}" in text, f"the PDF does not show {name} {version}"


# --- 41: two requests for the same state at once -----------------------------------------
def _owner_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _together(*calls) -> list:
    """Run ``calls`` in threads released at the same moment, each with its own connection."""
    start = threading.Barrier(len(calls))

    def run(fn):
        try:
            start.wait()
            return fn()
        except Exception as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _published(monkeypatch) -> list[tuple[str, int]]:
    """Record each job the commit hooks publish, instead of sending it."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "portal.jobs.job_publish", lambda model, pk: sent.append((model.__name__, pk)) or True
    )
    return sent


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_pack_requests_at_once_make_one_pack_and_one_render_job(monkeypatch):
    w = build_team("q", UserFactory(username="q_external"))
    owner = w.people[Role.BUSINESS_OWNER]
    sent = _published(monkeypatch)

    results = _together(*[lambda: _ask(_owner_client(owner), w.project)] * 2)

    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.status_code for r in results) == [200, 202]
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 1
    (pack_id,) = ids
    assert ApprovalPack.objects.filter(project=w.project).count() == 1
    assert Event.objects.filter(verb="pack.requested", project=w.project).count() == 1
    assert sent == [("ApprovalPack", pack_id)]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_requests_that_both_miss_the_reuse_check_meet_at_the_constraint_and_share_one_pack(
    monkeypatch,
):
    """Should the project lock ever be skipped, the unique constraint still makes one pack:
    both requests find none, both insert, the second waits on the index and, once the first
    commits, takes the IntegrityError path and answers with the first one's pack."""
    w = build_team("k", UserFactory(username="k_external"))
    owner = w.people[Role.BUSINESS_OWNER]
    sent = _published(monkeypatch)
    monkeypatch.setattr(
        packs, "project_lock", lambda p: Project.objects.select_related("team").get(pk=p.pk)
    )
    real = packs._existing
    # A thread that never arrives fails the test instead of hanging it.
    both_checked = threading.Barrier(2, timeout=60)
    calls: list[object] = []
    local = threading.local()

    def existing(project, digest):
        found = real(project, digest)
        calls.append(found)
        if not getattr(local, "checked", False):  # the first check of each request
            local.checked = True
            both_checked.wait()
        return found

    monkeypatch.setattr(packs, "_existing", existing)

    results = _together(*[lambda: _ask(_owner_client(owner), w.project)] * 2)

    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.status_code for r in results) == [200, 202]
    assert len({r.json()["id"] for r in results}) == 1
    pack = ApprovalPack.objects.get(project=w.project)
    # Two checks that found nothing, and the loser's look-up after the IntegrityError.
    assert calls == [None, None, pack]
    assert Event.objects.filter(verb="pack.requested", project=w.project).count() == 1
    assert sent == [("ApprovalPack", pack.pk)]


@pytest.mark.django_db
def test_a_request_that_loses_at_the_constraint_answers_with_the_pack_that_won(world, monkeypatch):
    """The IntegrityError path on its own: the reuse check misses a pack committed just
    after it looked (as a concurrent request's would be), so the insert meets the
    constraint, and the existing pack is returned with nothing recorded or queued again."""
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    won, created = packs.pack_request(actor=owner, project=w.project)
    assert created
    real = packs._existing
    missed: list[bool] = []

    def existing(project, digest):
        if not missed:
            missed.append(True)
            return None
        return real(project, digest)

    queued: list[int] = []
    monkeypatch.setattr(packs, "_existing", existing)
    monkeypatch.setattr(packs, "job_enqueue", lambda job: queued.append(job.pk))

    assert packs.pack_request(actor=owner, project=w.project) == (won, False)
    assert missed == [True]
    assert ApprovalPack.objects.filter(project=w.project).count() == 1
    assert Event.objects.filter(verb="pack.requested", project=w.project).count() == 1
    assert queued == []
