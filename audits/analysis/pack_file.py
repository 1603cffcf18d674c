"""An approval pack as a file: the portal's PAdES signature on it, the snapshot it carries,
and whether its structure is PDF/A-3b. Pure: bytes and key files in, facts out.

The signature certifies the whole file (no later change permitted), so any changed byte,
any appended revision and any other signer shows in a PDF reader and in
:func:`signature_check`. The snapshot rides inside as a PDF/A-3 associated file, so the
document carries its own machine-readable evidence.

veraPDF is the reference PDF/A validator; :func:`pdfa_problems` checks the clauses of
ISO 19005-3 (level b) that a WeasyPrint layout plus a pyHanko signature could break: the
identification, output intent, fonts, associated files, annotations and the forbidden
features. It reads structure, not colour profiles or glyph widths.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The name of the snapshot's attachment inside every pack.
SNAPSHOT_NAME = "snapshot.json"
#: The signature field the portal signs in.
FIELD_NAME = "Stagegate"


class PackFileError(ValueError):
    """The file cannot be read as a pack at all (not a PDF, or broken beyond parsing)."""


def _outside_event_loop(fn, *args, **kwargs):
    """Call ``fn`` where no asyncio loop runs: pyHanko's sync API runs its own loop, which
    fails inside a running one (an async server, a browser driver's thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _quiet_pyhanko():
    # pyHanko imports cryptography's DSA module, which warns on import; the portal never
    # signs with DSA, and the warning would only be noise in logs and test runs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyhanko.sign import signers  # noqa: F401
        from pyhanko.sign.validation import validate_pdf_signature  # noqa: F401


# --- a key for local use -------------------------------------------------------------------
def self_signed_create(key_path: Path, cert_path: Path, *, common_name: str) -> None:
    """Write a new RSA key and a self-signed certificate for it (ten years) to the paths,
    the key readable by its owner only. For local use: production brings its own."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stagegate"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.touch(mode=0o600)
    key_path.write_bytes(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- signing ---------------------------------------------------------------------------------
def pack_sign(
    pdf: bytes,
    *,
    key_path: Path,
    cert_path: Path,
    reason: str,
    location: str,
    key_passphrase: bytes | None = None,
) -> bytes:
    """``pdf`` with the portal's certifying PAdES signature (B-B level, SHA-256) over all
    of it; no later change is permitted."""
    _quiet_pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    signer = signers.SimpleSigner.load(str(key_path), str(cert_path), key_passphrase=key_passphrase)
    if signer is None:
        raise PackFileError("The pack-signing key or certificate could not be read.")
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name="Stagegate",
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return _outside_event_loop(signers.PdfSigner(meta, signer).sign_pdf, writer).getvalue()


# --- checking -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    #: What is wrong, in a sentence; "" when ok.
    problem: str
    signer: str = ""
    signed_at: datetime | None = None
    reason: str = ""


def signature_check(pdf: bytes, cert_path: Path) -> SignatureCheck:
    """Whether ``pdf`` carries exactly one signature, by the certificate at ``cert_path``,
    intact and covering the whole file."""
    _quiet_pyhanko()
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise PackFileError(f"The file cannot be read as a PDF: {exc}") from None
    if not signatures:
        return SignatureCheck(False, "The file carries no signature.")
    if len(signatures) > 1:
        return SignatureCheck(False, f"The file carries {len(signatures)} signatures, not one.")
    trusted = load_cert_from_pemder(str(cert_path))
    context = ValidationContext(trust_roots=[trusted])
    try:
        status = _outside_event_loop(validate_pdf_signature, signatures[0], context)
    except Exception as exc:  # pyHanko raises many kinds on a mangled signature
        return SignatureCheck(False, f"The signature cannot be checked: {exc}")
    signer = status.signing_cert.subject.human_friendly if status.signing_cert else ""
    reason = str(signatures[0].sig_object.get("/Reason", ""))
    common = {"signer": signer, "signed_at": status.signer_reported_dt, "reason": reason}
    if not status.intact:
        problem = "The file was changed after it was signed: its bytes no longer match."
        return SignatureCheck(False, problem, **common)
    if not status.valid:
        problem = "The signature is not a valid signature over the file."
        return SignatureCheck(False, problem, **common)
    if not status.trusted:
        problem = f"The signature is not the portal's: it was made by {signer or 'an unknown key'}."
        return SignatureCheck(False, problem, **common)
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problem = "Something was added to the file after it was signed."
        return SignatureCheck(False, problem, **common)
    return SignatureCheck(True, "", **common)


def embedded_snapshot(pdf: bytes) -> bytes | None:
    """The bytes of the snapshot the pack carries (None when it carries none)."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            attached = document.attachments.get(SNAPSHOT_NAME)
            return attached.get_file().read_bytes() if attached is not None else None
    except pikepdf.PdfError as exc:
        raise PackFileError(f"The file cannot be read as a PDF: {exc}") from None


def _fonts(document) -> list:
    import pikepdf

    seen, fonts = set(), []
    for page in document.pages:
        resources = page.obj.get("/Resources") or pikepdf.Dictionary()
        for font in (resources.get("/Font") or pikepdf.Dictionary()).values():
            key = font.objgen
            if key in seen:
                continue
            seen.add(key)
            fonts.append(font)
            for descendant in font.get("/DescendantFonts") or []:
                fonts.append(descendant)
    return fonts


def pdfa_problems(pdf: bytes) -> list[str]:
    """What keeps ``pdf`` from PDF/A-3b, clause by clause; [] when nothing does."""
    import pikepdf

    problems = []
    try:
        document = pikepdf.open(io.BytesIO(pdf))
    except pikepdf.PdfError as exc:
        return [f"not a readable PDF: {exc}"]
    with document:
        root = document.Root
        # 6.1.3: the trailer's file identifier, no encryption.
        if "/ID" not in document.trailer:
            problems.append("6.1.3: the trailer has no file identifier (/ID)")
        if document.is_encrypted:
            problems.append("6.1.3: the file is encrypted")
        # 6.6.4: the identification in the XMP metadata.
        meta = document.open_metadata()
        if meta.get("pdfaid:part") != "3" or str(meta.get("pdfaid:conformance")).upper() != "B":
            problems.append(
                "6.6.4: the XMP metadata does not declare PDF/A-3b "
                f"(part {meta.get('pdfaid:part')}, conformance {meta.get('pdfaid:conformance')})"
            )
        # 6.2.3: an output intent with an embedded ICC profile.
        intents = root.get("/OutputIntents") or []
        if not any(i.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents):
            problems.append("6.2.3: no PDF/A output intent with an ICC profile")
        # 6.2.11.4: every font embedded.
        for font in _fonts(document):
            if font.get("/Subtype") in ("/Type0", "/Type3"):
                continue  # their descendant carries the font file, or they draw glyphs
            descriptor = font.get("/FontDescriptor") or {}
            if not any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                problems.append(f"6.2.11.4: font {font.get('/BaseFont')} is not embedded")
        # 6.8: embedded files as associated files, each with its relationship and type.
        associated = {f.objgen for f in root.get("/AF") or []}
        for name, spec in document.attachments.items():
            spec_obj = spec.obj
            if "/AFRelationship" not in spec_obj:
                problems.append(f"6.8: attachment {name} has no /AFRelationship")
            if spec_obj.objgen not in associated:
                problems.append(f"6.8: attachment {name} is not associated with the document")
            stream = spec_obj.get("/EF", {}).get("/F")
            if stream is None or "/Subtype" not in stream:
                problems.append(f"6.8: attachment {name} has no MIME type")
        # 6.3: annotations print and have appearances, unless they have no area.
        for number, page in enumerate(document.pages, start=1):
            for annot in page.obj.get("/Annots") or []:
                subtype = annot.get("/Subtype")
                rect = [float(x) for x in annot.get("/Rect", [0, 0, 0, 0])]
                if subtype in ("/Popup", "/Link") or (rect[0] == rect[2] and rect[1] == rect[3]):
                    continue
                flags = int(annot.get("/F", 0))
                if not flags & 4 or flags & (1 | 2 | 32 | 256):
                    problems.append(f"6.3.2: an annotation on page {number} does not print")
                if "/AP" not in annot:
                    problems.append(f"6.3.3: an annotation on page {number} has no appearance")
        # 6.6.1 / 6.1.11: no JavaScript, no actions run on opening.
        names = root.get("/Names") or {}
        opening = root.get("/OpenAction")
        if "/JavaScript" in names or (isinstance(opening, pikepdf.Dictionary) and "/JS" in opening):
            problems.append("6.6.1: the file holds JavaScript")
        if "/AA" in root:
            problems.append("6.6.2: the catalog has additional actions")
    return problems


def is_tagged(pdf: bytes) -> bool:
    """Whether ``pdf`` is a tagged PDF: marked, with a structure tree."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        mark = document.Root.get("/MarkInfo") or {}
        return bool(mark.get("/Marked")) and "/StructTreeRoot" in document.Root
