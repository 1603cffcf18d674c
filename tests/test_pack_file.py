"""The approval pack as a file: PDF/A-3b and tagged, its snapshot inside, the portal's
PAdES signature, and `manage.py verify_pack` naming what is wrong with a copy."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pikepdf
import pytest
from django.core.management import CommandError, call_command

from audits.analysis.pack_file import (
    SNAPSHOT_NAME,
    embedded_snapshot,
    is_tagged,
    pack_sign,
    pdfa_problems,
    self_signed_create,
    signature_check,
)
from audits.models import ApprovalPack
from audits.services.packs import pack_render, render_pdf, snapshot_attachment
from projects.analysis.criteria import content_sha256
from projects.models import Role
from tests.factories import make_pack

pytestmark = pytest.mark.django_db


def _pack(world) -> ApprovalPack:
    return ApprovalPack.objects.get(project=world["a"].project)


def _stored(pack: ApprovalPack) -> bytes:
    with pack.pdf.open("rb") as stored:
        return stored.read()


def _verify(path: Path) -> tuple[bool, str]:
    out = io.StringIO()
    try:
        call_command("verify_pack", str(path), stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def test_a_fresh_pack_is_pdf_a_3b_tagged_signed_and_carries_its_snapshot(packed_world):
    pack = _pack(packed_world)
    pdf = _stored(pack)
    assert pdfa_problems(pdf) == []
    assert is_tagged(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        meta = document.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("3", "B")
        spec = document.attachments[SNAPSHOT_NAME].obj
        assert spec.AFRelationship == "/Data"
    carried = json.loads(embedded_snapshot(pdf))
    assert carried == pack.snapshot
    assert content_sha256([carried]) == pack.snapshot_sha256
    from django.conf import settings

    check = signature_check(pdf, settings.PACK_SIGNING_CERT)
    assert check.ok, check.problem
    assert f"Approval pack {pack.pk}" in check.reason


def test_verify_pack_passes_on_a_fresh_pack_and_says_which_it_is(packed_world, tmp_path):
    pack = _pack(packed_world)
    path = tmp_path / "pack.pdf"
    path.write_bytes(_stored(pack))
    ok, out = _verify(path)
    assert ok, out
    assert f"approval pack {pack.pk} of project “{pack.project.name}”" in out
    assert "FAIL" not in out
    assert "still in the state the pack shows" in out


def test_one_changed_byte_fails_the_signature(packed_world, tmp_path):
    pdf = bytearray(_stored(_pack(packed_world)))
    # A byte of the first page's content stream: inside what the signature covers.
    at = pdf.index(b"stream", len(pdf) // 4) + 20
    pdf[at] ^= 0x01
    path = tmp_path / "changed.pdf"
    path.write_bytes(bytes(pdf))
    ok, out = _verify(path)
    assert not ok
    assert "FAIL Signature: The file was changed after it was signed" in out
    assert "not a verified approval pack" in out


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_a_pack_signed_by_another_key_is_not_the_portals(packed_world, tmp_path):
    pack = _pack(packed_world)
    layout, _pages = render_pdf(pack.html, None, [snapshot_attachment(pack)])
    key, cert = tmp_path / "other.key", tmp_path / "other.pem"
    self_signed_create(key, cert, common_name="Someone else")
    forged = pack_sign(layout, key_path=key, cert_path=cert, reason="forged", location="-")
    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    ok, out = _verify(path)
    assert not ok
    assert "FAIL Signature: The signature is not the portal's: it was made by" in out
    assert "Someone else" in out
    # The snapshot inside is genuine, so it still says which pack the forgery copies.
    assert f"approval pack {pack.pk}" in out
    assert "FAIL The file is not the one stored" in out


def test_a_pack_whose_snapshot_no_longer_matches_the_database_is_named(packed_world, tmp_path):
    pack = _pack(packed_world)
    path = tmp_path / "pack.pdf"
    path.write_bytes(_stored(pack))
    changed = {**pack.snapshot, "meta": {**pack.snapshot["meta"], "requested_by": "mallory"}}
    # Behind the portal's back, as a database edit would be.
    ApprovalPack.objects.filter(pk=pack.pk).update(snapshot=changed)
    ok, out = _verify(path)
    assert not ok
    assert f"FAIL Snapshot: the database's snapshot of pack {pack.pk} no longer matches" in out
    # The signature itself is still fine: the failure is the database's, and says so.
    assert "ok   Signed by the portal" in out


def test_a_pack_the_database_does_not_know_is_named(packed_world, tmp_path):
    pack = _pack(packed_world)
    path = tmp_path / "pack.pdf"
    path.write_bytes(_stored(pack))
    ApprovalPack.objects.filter(pk=pack.pk).update(snapshot_sha256="0" * 64)
    ok, out = _verify(path)
    assert not ok
    assert "matches no approval pack in the database" in out


def test_a_file_that_is_not_a_pdf_is_refused_with_a_sentence(db, tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"just some text, not a PDF")
    ok, out = _verify(path)
    assert not ok
    assert "cannot be read as a PDF" in out
    ok, out = _verify(tmp_path / "missing.pdf")
    assert not ok and "Cannot read" in out


def test_the_structure_check_finds_what_a_plain_pdf_lacks():
    from weasyprint import HTML

    plain = HTML(string="<p>Plain</p>").write_pdf()
    problems = pdfa_problems(plain)
    assert any(p.startswith("6.6.4") for p in problems), problems
    assert any(p.startswith("6.2.3") for p in problems), problems
    assert not is_tagged(plain)


def test_a_changed_project_is_noted_not_failed(packed_world, tmp_path, api):
    w = packed_world["a"]
    pack = _pack(packed_world)
    path = tmp_path / "pack.pdf"
    path.write_bytes(_stored(pack))
    api.force_authenticate(w.people[Role.BUSINESS_OWNER])
    changed = api.patch(
        f"/api/v1/projects/{w.project.slug}/", {"limitations": "Untested on 2027 data."}
    )
    assert changed.status_code == 200
    ok, out = _verify(path)
    assert ok, out
    assert "The project has changed since the pack was taken" in out


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_without_a_signing_key_the_render_fails_with_what_to_do(world, settings, tmp_path):
    settings.PACK_SIGNING_KEY = tmp_path / "absent.key"
    settings.PACK_SIGNING_CERT = tmp_path / "absent.pem"
    pack = make_pack(world["a"])
    assert pack.status == "failed"
    assert "no pack-signing key" in pack.error and "pack_signing_key" in pack.error
    settings.PACK_SIGNING_KEY = tmp_path / "made.key"
    settings.PACK_SIGNING_CERT = tmp_path / "made.pem"
    call_command("pack_signing_key", stdout=io.StringIO())
    assert (tmp_path / "made.key").stat().st_mode & 0o077 == 0
    ApprovalPack.objects.filter(pk=pack.pk).update(status="queued", error="")
    pack_render(pack_id=pack.pk)
    pack.refresh_from_db()
    assert pack.status == "succeeded", pack.error


def test_the_check_works_where_an_event_loop_runs(packed_world):
    """pyHanko runs its own loop; an async caller (a browser driver, an ASGI view) has one."""
    import asyncio

    from django.conf import settings

    pdf = _stored(_pack(packed_world))

    async def inside() -> bool:
        return signature_check(pdf, settings.PACK_SIGNING_CERT).ok

    assert asyncio.run(inside())
