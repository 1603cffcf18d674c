"""Checking and storing an uploaded data file (datasets and predictions alike)."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile

from portal.exceptions import ApplicationError
from portal.storage import StorageUnavailable, storage_errors
from portal.uploads import TAIL_BYTES, StagedUpload
from projects.analysis.tabular import (
    DataError,
    LimitExceeded,
    ReadLimits,
    check_first_line,
    opened,
    sniff_format,
)

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv.gz",
    ".tsv.gz": "csv.gz",
    ".gz": "csv.gz",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMAT_NAMES = {"csv": "CSV", "csv.gz": "gzip-compressed CSV", "parquet": "Parquet"}
#: Records of a ZIP archive's central directory; text never holds these control bytes.
_ZIP_RECORDS = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")


@dataclass(frozen=True)
class CheckedUpload:
    file: UploadedFile
    name: str
    format: str
    size: int
    sha256: str


def read_limits() -> ReadLimits:
    """What an uploaded file may hold once read, from the ``UPLOAD_MAX_*`` settings."""
    return ReadLimits(
        max_expanded_bytes=settings.UPLOAD_MAX_EXPANDED_BYTES,
        max_rows=settings.UPLOAD_MAX_ROWS,
        max_line_bytes=settings.UPLOAD_MAX_LINE_BYTES,
    )


def text_encoding(name: str) -> str:
    """The canonical name of a text encoding; 400 for anything else (rot13, zlib, ...)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not info._is_text_encoding:
        raise ApplicationError(
            f"{name!r} is not a text encoding; use one such as utf-8 or latin-1.",
            code="invalid_encoding",
        )
    return info.name


def declared_format(name: str) -> str:
    lowered = name.lower()
    for suffix in sorted(EXTENSIONS, key=len, reverse=True):
        if lowered.endswith(suffix):
            return EXTENSIONS[suffix]
    raise ApplicationError(
        f"{name!r} is not a CSV (.csv, .csv.gz) or Parquet (.parquet) file.",
        code="unsupported_format",
    )


def upload_check(upload: UploadedFile | None) -> CheckedUpload:
    """The upload's name, format, size and digest, once its content matches its name."""
    if upload is None:
        raise ApplicationError("Attach the file in the 'file' field.", code="file_missing")
    name = upload.name or "upload"
    fmt = declared_format(name)
    if upload.size == 0:
        raise ApplicationError(f"{name!r} is empty.", code="empty_file")
    # A staged upload is in the bucket already: its checks read the bytes kept aside.
    source = upload.sample() if isinstance(upload, StagedUpload) else upload.temporary_file_path()
    content_check(source, name, fmt)
    return CheckedUpload(upload, name, fmt, upload.size, upload.sha256)


def content_check(path: str | BinaryIO, name: str, fmt: str) -> None:
    """400 unless the file at ``path`` (or a staged upload's :class:`Sample`) holds
    ``fmt`` alone, with a first line within the limit. Reads only its start and end."""
    try:
        found = sniff_format(path)
    except DataError as exc:
        raise ApplicationError(str(exc), code="unreadable_file") from None
    if found != fmt:
        raise ApplicationError(
            f"{name!r} is named as {FORMAT_NAMES[fmt]} but its content is {FORMAT_NAMES[found]}.",
            code="content_mismatch",
        )
    second = _second_format(path, fmt)
    if second:
        raise ApplicationError(
            f"{name!r} is {FORMAT_NAMES[fmt]} but also {second}; upload the data file alone.",
            code="unreadable_file",
        )
    if fmt != "parquet":
        # The header line is checked while the request waits: reading it costs at most
        # the line limit, and a file without line breaks is refused before it is stored.
        try:
            check_first_line(path, fmt == "csv.gz", settings.UPLOAD_MAX_LINE_BYTES)
        except LimitExceeded as exc:
            raise ApplicationError(str(exc), code="line_too_long") from None
        except DataError as exc:
            raise ApplicationError(str(exc), code="unreadable_file") from None


def _second_format(path: str | BinaryIO, fmt: str) -> str | None:
    """What else the file is besides ``fmt``, judged from its end, or None.

    The format is sniffed from the head; a file may carry another one after it (a ZIP
    archive or a Parquet file appended to CSV text), which other programs would open as
    that. Anything after a gzip file's data makes it read as damaged, so only plain CSV
    and Parquet are looked at here."""
    if fmt == "csv.gz":
        return None
    with opened(path) as handle:
        utf16 = handle.read(2) in (b"\xff\xfe", b"\xfe\xff")
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read()
        if any(record in tail for record in _ZIP_RECORDS) and zipfile.is_zipfile(handle):
            return "a ZIP archive"
    # CSV is text to its last byte; UTF-16 text aside, a NUL there is binary content.
    if fmt == "csv" and not utf16 and b"\x00" in tail:
        return "binary content at its end (another file appended?)"
    return None


@contextlib.contextmanager
def stored(path: str, upload: UploadedFile) -> Iterator[str]:
    """Save the upload at ``path``; remove it again if the block fails, so a refused or
    failed write leaves no file behind."""
    # An unreachable object store answers 503 here, before any row is written.
    with storage_errors(path):
        if isinstance(upload, StagedUpload):
            name = upload.keep_as(path)
        else:
            name = default_storage.save(path, upload)
    # Storing moved the temporary file (or copied it, to object storage); closing it now
    # keeps its finalizer from trying to delete it again.
    upload.close()
    try:
        yield name
    except BaseException:
        discard(name)
        raise


def discard(*names: str) -> None:
    """Delete stored files. One the storage cannot delete now is logged and left: an
    orphan costs space, and the error that led here matters more."""
    for name in names:
        if not name:
            continue
        try:
            with storage_errors(name):
                default_storage.delete(name)
        except StorageUnavailable:
            pass  # storage_errors logged it


def upload_from_bytes(name: str, content: bytes) -> CheckedUpload:
    """An upload made on the server side (demo data, tests), checked like a posted one."""
    upload = TemporaryUploadedFile(name, "application/octet-stream", len(content), None)
    upload.write(content)
    upload.flush()
    upload.seek(0)
    upload.sha256 = hashlib.sha256(content).hexdigest()
    return upload_check(upload)
