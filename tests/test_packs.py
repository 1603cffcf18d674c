"""Approval packs through HTTP: snapshot, PDF and its sha256, reuse, escaping, the model card."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import pytest

from audits.models import ApprovalPack
from audits.services import packs
from audits.services.packs import (
    pack_html,
    pack_render,
    render_pdf,
    snapshot_attachment,
    static_root,
)
from audits.snapshot import pack_state, state_sha256
from projects import selectors
from projects.analysis.criteria import content_sha256
from projects.models import Event, Project, Role
from projects.services import evaluations
from tests.factories import WORLD_CRITERIA

pytestmark = pytest.mark.django_db

PACK_CHECK = "Approval pack rendered for exactly this state"
FILE_IMG = '<img src="file:///etc/passwd">'
TRACKER_IMG = '<img src="http://example.com/tracker.png">'
SCRIPT = "<script>alert(1)</script>"


def _as(api, user):
    api.force_authenticate(user)
    return api


def _ask(api, project):
    return api.post(f"/api/v1/projects/{project.slug}/approval-packs/")


def _pack_check(project):
    """The gate's pack check, on the project as stored now (not a stale instance)."""
    fresh = Project.objects.get(pk=project.pk)
    return next(c for c in selectors.project_gate(fresh).checks if c.name == PACK_CHECK)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _requested(pack_id: int) -> int:
    return Event.objects.filter(verb="pack.requested", target_id=str(pack_id)).count()


def _first_difference(a: bytes, b: bytes) -> str:
    """Where two PDFs part, and which metadata keys they carry, for the assertion message."""
    pairs = list(zip(a, b, strict=False))
    at = next((i for i, (x, y) in enumerate(pairs) if x != y), len(pairs))
    keys = sorted(
        {k.decode() for k in re.findall(rb"/(CreationDate|ModDate|ID|Producer)\b", a + b)}
    )
    return (
        f"sizes {len(a)} and {len(b)}, {sum(x != y for x, y in pairs)} differing bytes, "
        f"the first at offset {at}: {a[max(0, at - 60) : at + 60]!r} "
        f"vs {b[max(0, at - 60) : at + 60]!r}; metadata keys present: {keys}"
    )


def test_the_owner_asks_for_a_pack_and_downloads_the_same_pdf_from_api_and_web(api, client, world):
    w = world["a"]
    owner = w.people[Role.BUSINESS_OWNER]
    api = _as(api, owner)
    response = _ask(api, w.project)
    assert response.status_code == 202, response.json()
    queued = response.json()
    assert response["Location"] == queued["url"]
    assert queued["url"].endswith(f"/api/v1/approval-packs/{queued['id']}/")
    assert queued["status"] == "queued"
    assert queued["pdf"] is None and queued["pdf_sha256"] == ""
    # No PDF before the worker has run.
    assert api.get(f"/api/v1/approval-packs/{queued['id']}/pdf/").status_code == 409

    pack_render(pack_id=queued["id"])  # as the worker would

    got = api.get(response["Location"])
    assert got.status_code == 200
    pack = got.json()
    assert pack["status"] == "succeeded", pack
    assert pack["pages"] > 1
    assert re.fullmatch(r"[0-9a-f]{64}", pack["pdf_sha256"])
    assert pack["pdf"].endswith(f"/api/v1/approval-packs/{pack['id']}/pdf/")
    assert pack["snapshot"]["state"]["project"]["slug"] == w.project.slug

    from_api = api.get(f"/api/v1/approval-packs/{pack['id']}/pdf/")
    assert from_api.status_code == 200
    assert from_api["Content-Type"] == "application/pdf"
    api_bytes = _body(from_api)
    client.force_login(owner)
    from_web = client.get(f"/approval-packs/{pack['id']}/pdf/")
    assert from_web.status_code == 200
    assert from_web["Content-Disposition"].startswith("attachment")
    web_bytes = _body(from_web)

    assert api_bytes == web_bytes
    assert api_bytes.startswith(b"%PDF")
    digest = hashlib.sha256(api_bytes).hexdigest()
    assert digest == pack["pdf_sha256"] == from_api["X-Content-SHA256"]
    assert from_web["X-Content-SHA256"] == digest
    assert pack["pdf_bytes"] == len(api_bytes)
    page = client.get(f"/approval-packs/{pack['id']}/").content.decode()
    assert f'<td class="mono" id="pdf-sha256">{digest}</td>' in page
    assert pack["snapshot_sha256"] in page


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_asking_again_for_the_same_state_reuses_the_pack_until_the_project_changes(api, world):
    w = world["a"]
    api = _as(api, w.people[Role.BUSINESS_OWNER])
    first = _ask(api, w.project)
    assert first.status_code == 202
    pack_id = first.json()["id"]

    # While it is queued, and while it is rendering, the same pack answers.
    again = _ask(api, w.project)
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == pack_id and again["Location"] == first["Location"]
    ApprovalPack.objects.filter(pk=pack_id).update(status=ApprovalPack.Status.RUNNING)
    assert _ask(api, w.project).json()["id"] == pack_id
    ApprovalPack.objects.filter(pk=pack_id).update(status=ApprovalPack.Status.QUEUED)
    assert ApprovalPack.objects.filter(project=w.project).count() == 1
    assert _requested(pack_id) == 1

    pack_render(pack_id=pack_id)
    rendered = _ask(api, w.project)
    assert rendered.status_code == 200
    assert (rendered.json()["id"], rendered.json()["status"]) == (pack_id, "succeeded")
    assert ApprovalPack.objects.filter(project=w.project).count() == 1
    assert Event.objects.filter(verb="pack.requested", project=w.project).count() == 1
    check = _pack_check(w.project)
    assert check.passed, check.detail

    changed = api.patch(
        f"/api/v1/projects/{w.project.slug}/",
        {"description": "Scores loan applications for default risk, reviewed monthly."},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    check = _pack_check(w.project)
    assert not check.passed
    assert check.detail == f"Pack {pack_id} was rendered before the last change; render it again."
    newer = _ask(api, w.project)
    assert newer.status_code == 202, newer.json()
    assert newer.json()["id"] != pack_id
    assert newer.json()["state_sha256"] != rendered.json()["state_sha256"]
    assert ApprovalPack.objects.filter(project=w.project).count() == 2
    assert _requested(newer.json()["id"]) == 1


def test_user_text_is_escaped_and_nothing_it_names_is_fetched(api, world, monkeypatch, tmp_path):
    w = world["a"]
    api = _as(api, w.people[Role.BUSINESS_OWNER])
    slug = w.project.slug
    description = f"Scores loans. {FILE_IMG} {TRACKER_IMG} {SCRIPT}"
    assert api.patch(f"/api/v1/projects/{slug}/", {"description": description}).status_code == 200
    risk = {
        "title": f"Injected {SCRIPT}",
        "category": "security_misuse",
        "likelihood": 3,
        "impact": 3,
        "mitigation": f"Strip markup {FILE_IMG} {TRACKER_IMG}",
    }
    created = api.post(f"/api/v1/projects/{slug}/risks/", risk, format="json")
    assert created.status_code == 201, created.json()
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["rationale"] = f"Alerts worth reading {TRACKER_IMG} {SCRIPT} {FILE_IMG}"
    saved = api.post(f"/api/v1/projects/{slug}/criteria/", {"criteria": criteria}, format="json")
    assert saved.status_code == 201, saved.json()

    asked: list[str] = []
    real = packs.static_fetcher

    def recording(root, refused=None):
        # WeasyPrint takes a URLFetcher object (68+), and reaches it through its ``fetch``.
        fetcher = real(root, refused)
        fetch = fetcher.fetch

        def wrapper(url, *args, **kwargs):
            asked.append(url)
            return fetch(url, *args, **kwargs)

        fetcher.fetch = wrapper
        return fetcher

    monkeypatch.setattr(packs, "static_fetcher", recording)
    response = _ask(api, w.project)
    assert response.status_code == 202
    pack_render(pack_id=response.json()["id"])
    pack = ApprovalPack.objects.get(pk=response.json()["id"])
    assert pack.status == "succeeded", pack.error

    html = pack.html
    for text in (FILE_IMG, TRACKER_IMG, SCRIPT):
        escaped = text.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert escaped in html, f"{text!r} is not shown escaped in the pack's HTML"
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # description, title, rationale
    assert not re.search(r"<img\b", html), "user text reached the pack as an <img> tag"
    assert not re.search(r"<script\b", html), "user text reached the pack as a <script> tag"
    assert 'src="file:' not in html and 'src="http' not in html

    root = static_root().resolve().as_uri() + "/"
    assert root + "css/pack.css" in asked, f"the stylesheet was not fetched: {asked}"
    strays = [u for u in asked if not (u.startswith(root) or u.startswith("data:"))]
    assert strays == [], f"the pack asked the fetcher for {strays}"
    rendered = Event.objects.get(verb="pack.rendered", target_id=str(pack.pk))
    assert rendered.payload["refused_urls"] == []

    # Laid out again from the stored HTML: nothing is refused, so nothing else was named.
    asked.clear()
    refused: list[str] = []
    pdf, _pages = render_pdf(html, refused)
    assert refused == []
    assert all(u.startswith(root) or u.startswith("data:") for u in asked), asked

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: cannot check the PDF's text")
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    text = " ".join(out.stdout.decode().split())
    for literal in (FILE_IMG, TRACKER_IMG, SCRIPT):
        assert literal in text, f"the PDF does not show {literal!r} as text"


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_the_same_snapshot_renders_to_the_same_bytes(packed_world):
    pack = ApprovalPack.objects.get(project=packed_world["a"].project)
    assert pack_html(pack.snapshot, pack.pk, pack.snapshot_sha256) == pack.html
    with pack.pdf.open("rb") as stored:
        before = stored.read()
    first, pages = render_pdf(pack.html, None, [snapshot_attachment(pack)])
    second, _ = render_pdf(pack.html, None, [snapshot_attachment(pack)])
    assert pages == pack.pages
    assert first == second, f"two renders differ: {_first_difference(first, second)}"
    # The stored file is the layout with the portal's signature appended as a revision.
    assert before[: len(first)] == first, (
        f"a render differs from the stored PDF: {_first_difference(first, before)}"
    )
    assert len(before) > len(first)
    assert hashlib.sha256(before).hexdigest() == pack.pdf_sha256


def test_the_pack_keeps_its_snapshot_and_the_model_card_comes_from_the_same_state(
    api, client, packed_world
):
    w = packed_world["a"]
    pack = ApprovalPack.objects.get(project=w.project)
    assert pack.status == "succeeded"
    assert pack.state_sha256 == state_sha256(pack_state(w.project))
    assert state_sha256(pack.snapshot["state"]) == pack.state_sha256
    assert pack.snapshot_sha256 == content_sha256([pack.snapshot])
    assert pack.snapshot["state"]["project"]["description"] == w.project.description
    assert pack.snapshot["meta"]["requested_by"] == w.people[Role.BUSINESS_OWNER].username
    assert pack.snapshot_sha256 in pack.html

    client.force_login(w.people[Role.VIEWER])
    page = client.get(f"/approval-packs/{pack.pk}/").content.decode()
    current = re.search(r"<th>For the current state</th><td>(.*?)</td>", page, re.S).group(1)
    assert "Yes" in current and "No" not in current

    api = _as(api, w.people[Role.VIEWER])
    card = api.get(f"/api/v1/projects/{w.project.slug}/model-card/")
    assert card.status_code == 200
    body = card.json()
    assert body["model_details"]["name"] == w.model.name
    overall = [
        m for m in body["quantitative_analysis"]["performance_metrics"] if m["slice"] == "overall"
    ]
    assert overall, body["quantitative_analysis"]["performance_metrics"]
    download = client.get(f"/projects/{w.project.slug}/model-card.json")
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        f'attachment; filename="{w.project.slug}-model-card.json"'
    )
    assert download.json()["model_details"]["name"] == w.model.name


def test_a_pack_that_fails_to_render_is_recorded_and_not_reused(api, world, monkeypatch):
    w = world["a"]
    api = _as(api, w.people[Role.BUSINESS_OWNER])

    def broken(html, refused=None, attachments=None):
        raise ValueError("layout broke")

    monkeypatch.setattr(packs, "render_pdf", broken)
    first = _ask(api, w.project).json()
    pack_render(pack_id=first["id"])

    failed = api.get(f"/api/v1/approval-packs/{first['id']}/").json()
    assert failed["status"] == "failed"
    assert failed["error"] == "Internal error (ValueError)."
    assert failed["pdf"] is None and failed["pdf_sha256"] == ""
    assert api.get(f"/api/v1/approval-packs/{first['id']}/pdf/").status_code == 409
    event = Event.objects.get(verb="pack.failed", target_id=str(first["id"]))
    assert event.payload == {"error": failed["error"]}
    assert event.actor == w.people[Role.BUSINESS_OWNER]
    assert _pack_check(w.project).detail == f"Pack {first['id']} failed; render it again."

    again = _ask(api, w.project)
    assert again.status_code == 202, again.json()
    assert again.json()["id"] != first["id"]
    assert again.json()["state_sha256"] == first["state_sha256"]
    assert again.json()["status"] == "queued"
    assert ApprovalPack.objects.filter(project=w.project).count() == 2


def test_a_project_back_in_an_earlier_state_finds_that_states_pack(packed_world):
    """Marking another candidate and then the first one again: the first pack counts again."""
    w = packed_world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    first = ApprovalPack.objects.get(project=w.project)
    evaluations.model_mark_candidate(actor=engineer, model=w.spare_model)
    second, created = packs.pack_request(actor=engineer, project=w.project)
    assert created and second.pk != first.pk
    evaluations.model_mark_candidate(actor=engineer, model=w.model)
    project = Project.objects.get(pk=w.project.pk)
    assert selectors.project_gate(project).passed
    assert packs.pack_request(actor=engineer, project=project) == (first, False)
