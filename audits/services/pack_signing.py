"""The portal's signing identity for approval packs (its key and certificate), and the
check of a pack file against the database that `manage.py verify_pack` runs."""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from audits.analysis.pack_file import (
    SNAPSHOT_NAME,
    PackFileError,
    embedded_snapshot,
    is_tagged,
    pdfa_problems,
    self_signed_create,
    signature_check,
)
from audits.models import ApprovalPack
from audits.snapshot import pack_state, state_sha256
from portal.exceptions import ApplicationError
from projects.analysis.criteria import content_sha256
from projects.models import Event


def signing_identity() -> tuple[Path, Path]:
    """The key and certificate paths from settings; a clear error when either is missing."""
    key, cert = Path(settings.PACK_SIGNING_KEY), Path(settings.PACK_SIGNING_CERT)
    missing = [str(p.name) for p in (key, cert) if not p.is_file()]
    if missing:
        raise ApplicationError(
            "The portal has no pack-signing key: set PACK_SIGNING_KEY and PACK_SIGNING_CERT "
            "to a PEM key and certificate, or run `python manage.py pack_signing_key` for a "
            f"self-signed pair (missing: {', '.join(missing)}).",
            code="signing_key_missing",
        )
    return key, cert


def signing_passphrase() -> bytes | None:
    return settings.PACK_SIGNING_KEY_PASSPHRASE.encode() or None


def signing_key_ensure() -> bool:
    """Generate a self-signed key and certificate at the configured paths unless both are
    there; True when it made them. Several processes may call it at once (test runners,
    a web and a worker starting together): a lock file lets one of them write."""
    key, cert = Path(settings.PACK_SIGNING_KEY), Path(settings.PACK_SIGNING_CERT)
    if key.is_file() and cert.is_file():
        return False
    if key.is_file() != cert.is_file():
        raise ApplicationError(
            f"Only one of {key} and {cert} exists; remove it or supply the other.",
            code="signing_key_missing",
        )
    key.parent.mkdir(parents=True, exist_ok=True)
    with open(key.parent / ".pack-signing.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if key.is_file() and cert.is_file():
            return False
        self_signed_create(key, cert, common_name="Stagegate approval packs (self-signed)")
    return True


@dataclass
class PackVerification:
    """What verify_pack found: each check as (passed, sentence), and the pack it names."""

    checks: list[tuple[bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pack: ApprovalPack | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for passed, _ in self.checks)

    def add(self, passed: bool, sentence: str) -> None:
        self.checks.append((passed, sentence))


def _signature(found: PackVerification, pdf: bytes, cert: Path) -> None:
    check = signature_check(pdf, cert)
    if check.ok:
        found.add(
            True,
            f"Signed by the portal ({check.signer}) on {check.signed_at:%Y-%m-%d %H:%M} UTC; "
            "the signature covers the whole file and nothing changed since.",
        )
    else:
        found.add(False, f"Signature: {check.problem}")


def _snapshot(found: PackVerification, pdf: bytes) -> str | None:
    """The sha256 of the snapshot the file carries, as the portal hashes snapshots."""
    try:
        carried = embedded_snapshot(pdf)
    except PackFileError as exc:
        found.add(False, f"Snapshot: {exc}")
        return None
    except Exception as exc:  # a changed byte inside the compressed attachment
        found.add(False, f"Snapshot: the embedded snapshot cannot be read ({exc}).")
        return None
    if carried is None:
        found.add(False, f"Snapshot: the file carries no {SNAPSHOT_NAME}.")
        return None
    try:
        snapshot = json.loads(carried)
    except ValueError:
        found.add(False, "Snapshot: the embedded snapshot is not JSON.")
        return None
    return content_sha256([snapshot])


def _pack(found: PackVerification, digest: str, pdf_sha256: str) -> None:
    pack = (
        ApprovalPack.objects.filter(snapshot_sha256=digest)
        .select_related("project", "requested_by")
        .order_by("pk")
        .first()
    )
    if pack is None:
        found.add(
            False,
            f"Snapshot: the one in the file (sha256 {digest}) matches no approval pack in the "
            "database.",
        )
        return
    found.pack = pack
    found.add(
        True,
        f"It is approval pack {pack.pk} of project “{pack.project.name}” ({pack.project.slug}), "
        f"requested by {pack.requested_by.get_username()} on "
        f"{pack.created_at:%Y-%m-%d %H:%M} UTC.",
    )
    stored = content_sha256([pack.snapshot])
    found.add(
        stored == digest,
        "The database's snapshot of the pack matches the one in the file."
        if stored == digest
        else f"Snapshot: the database's snapshot of pack {pack.pk} no longer matches the one in "
        f"the file (sha256 {stored} in the database, {digest} in the file).",
    )
    found.add(
        pack.pdf_sha256 == pdf_sha256,
        "The file is the one the portal stored for the pack (sha256 matches)."
        if pack.pdf_sha256 == pdf_sha256
        else f"The file is not the one stored for pack {pack.pk}: sha256 {pdf_sha256}, stored "
        f"{pack.pdf_sha256 or 'none'}.",
    )
    rendered = Event.objects.filter(verb="pack.rendered", target_id=str(pack.pk)).first()
    recorded = (rendered.payload or {}).get("pdf_sha256") if rendered else None
    found.add(
        recorded == pdf_sha256,
        "The audit trail's pack.rendered event records this file's sha256."
        if recorded == pdf_sha256
        else "The audit trail records another file for the pack "
        f"({recorded or 'no pack.rendered event'}).",
    )
    current = state_sha256(pack_state(pack.project)) == pack.state_sha256
    found.notes.append(
        "The project is still in the state the pack shows."
        if current
        else "The project has changed since the pack was taken: it is a true record of an "
        "earlier state, not of today's."
    )


def pack_file_verify(pdf: bytes) -> PackVerification:
    """Check a pack file: the portal's signature, its PDF/A-3b structure, the snapshot it
    carries against the database, and which pack it is."""
    found = PackVerification()
    _key, cert = signing_identity()
    try:
        _signature(found, pdf, cert)
    except PackFileError as exc:
        found.add(False, str(exc))
        return found
    problems = pdfa_problems(pdf)
    found.add(
        not problems,
        "PDF/A-3b structure: no problem found (ISO 19005-3 clauses checked: "
        "6.1.3, 6.2.3, 6.2.11.4, 6.3, 6.6, 6.8); tagged."
        if not problems and is_tagged(pdf)
        else "PDF/A-3b structure: " + ("; ".join(problems) or "the file is not tagged") + ".",
    )
    digest = _snapshot(found, pdf)
    if digest is not None:
        _pack(found, digest, hashlib.sha256(pdf).hexdigest())
    return found
