"""Evidence files attached to business figures: which kinds are taken, whether a file's
content is the kind its name declares, and the name it may be shown under.

An attachment is downloaded by the people who review the figure and opened by whatever
program its name picks, so a file is taken only when its whole content is that kind:
a PNG image ends at its last chunk, a PDF at its ``%%EOF``, a workbook is a ZIP archive
from its first byte to its last, and text holds no binary. That refuses polyglots (a PNG
with a ZIP archive appended, CSV text that is also an archive). No Django import here.
"""

from __future__ import annotations

import os
import unicodedata
import zipfile
from typing import BinaryIO

#: Suffix -> what the file is, for messages.
KINDS = {
    ".pdf": "a PDF document",
    ".png": "a PNG image",
    ".jpg": "a JPEG image",
    ".jpeg": "a JPEG image",
    ".csv": "CSV text",
    ".tsv": "tab-separated text",
    ".txt": "plain text",
    ".xlsx": "an Excel workbook",
}
ACCEPTED = "PDF, PNG or JPEG images, CSV or plain text, Excel workbooks (.xlsx)"

_CHUNK = 1 << 20
_BINARY_MAGIC = (
    b"\x89PNG",
    b"%PDF",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"PAR1",
)
_ZIP_RECORDS = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
_ZIP_END = b"PK\x05\x06"
#: Characters a file name is not shown with: controls, format characters (the
#: right-to-left override among them), separators of lines and paragraphs, surrogates,
#: private and unassigned code points.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
MAX_NAME = 255


def suffix_of(name: str) -> str | None:
    """The accepted suffix ``name`` ends with (lowercase), or None."""
    _, dot, suffix = name.rpartition(".")
    return f".{suffix.lower()}" if dot and f".{suffix.lower()}" in KINDS else None


def display_name(name: str) -> str:
    """``name`` as a download may offer it: no folders, nothing invisible, at most 255
    characters with its suffix kept."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _HIDDEN)
    # A leading dot hides a saved file on most systems; ".csv" alone keeps its suffix.
    bare = name.strip().lstrip(".").strip()
    name = f"attachment.{bare}" if bare and suffix_of(f".{bare}") == f".{bare.lower()}" else bare
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        keep = f"{dot}{suffix}" if dot and len(suffix) < 10 else ""
        name = (stem if keep else name)[: MAX_NAME - len(keep)] + keep
    return name or "attachment"


def content_matches(handle: BinaryIO, suffix: str) -> bool:
    """Whether the whole of ``handle`` is the kind ``suffix`` declares. Reads from the
    start, at most the file once; leaves the position at the start."""
    try:
        return _CHECKS[suffix](handle, handle.seek(0, os.SEEK_END))
    finally:
        handle.seek(0)


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def _pdf(handle: BinaryIO, size: int) -> bool:
    head = _read_at(handle, 0, 8)
    tail = _read_at(handle, max(0, size - 1024), 1024)
    # Nothing but line ends after the last %%EOF: no archive appended.
    return head.startswith(b"%PDF-") and tail.rstrip(b"\r\n\t \x00").endswith(b"%%EOF")


def _png(handle: BinaryIO, size: int) -> bool:
    if _read_at(handle, 0, 8) != b"\x89PNG\r\n\x1a\n":
        return False
    offset = 8
    while offset + 12 <= size:
        header = _read_at(handle, offset, 8)
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if not kind.isalpha():
            return False
        offset += 12 + length
        if kind == b"IEND":
            return offset == size  # the image ends with its last chunk, nothing after
    return False


def _jpeg(handle: BinaryIO, size: int) -> bool:
    head, tail = _read_at(handle, 0, 3), _read_at(handle, max(0, size - 2), 2)
    return head == b"\xff\xd8\xff" and tail == b"\xff\xd9"


def _text(handle: BinaryIO, size: int) -> bool:
    head = _read_at(handle, 0, 1024)
    if not head or head.startswith(_BINARY_MAGIC) or b"%PDF-" in head:
        return False
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    handle.seek(0)
    controls, carry = 0, b""
    while chunk := handle.read(_CHUNK):
        window = carry + chunk
        if (not utf16 and b"\x00" in chunk) or any(r in window for r in _ZIP_RECORDS):
            return False
        controls += sum(chunk.count(bytes([c])) for c in range(32) if c not in (0, 9, 10, 12, 13))
        carry = chunk[-3:]
    return controls <= size // 100


def _xlsx(handle: BinaryIO, size: int) -> bool:
    head, end = _read_at(handle, 0, 4), _read_at(handle, max(0, size - 22), 4)
    # A workbook is an archive from its first byte to its end record, with no comment.
    if head != b"PK\x03\x04" or end != _ZIP_END:
        return False
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            return (
                not archive.comment
                and "[Content_Types].xml" in names
                and any(name.startswith("xl/") for name in names)
            )
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


_CHECKS = {
    ".pdf": _pdf,
    ".png": _png,
    ".jpg": _jpeg,
    ".jpeg": _jpeg,
    ".csv": _text,
    ".tsv": _text,
    ".txt": _text,
    ".xlsx": _xlsx,
}
