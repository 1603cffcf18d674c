"""Uploads stream in chunks, hashed on the way, never held in memory.

A file goes to a temporary file on the web host's disk; with object storage, a data
file (the ``file`` field of dataset and predictions uploads) streams instead straight
to the bucket (:class:`StagedUpload`), so the web host holds no more of it than one
part. The handler refuses a file over ``UPLOAD_MAX_BYTES`` as soon as it passes the
limit, and marks the request when the file is refused or the storage fails, so the view
answers 413 or 503 with a clear message instead of finding the file missing.
"""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import (
    FileUploadHandler,
    StopUpload,
    TemporaryFileUploadHandler,
)

from portal.exceptions import ApplicationError, PayloadTooLarge
from portal.storage import IncomingObject, StorageUnavailable, streams_to_bucket

#: The form and API field of data files (dataset versions, predictions): the ones checked
#: from their first and last bytes, which may therefore stream to the bucket.
STREAMED_FIELDS = frozenset({"file"})
#: What the checks read of a file's end: a ZIP archive's end record lies within 64 KiB.
TAIL_BYTES = 128 * 1024


def head_bytes() -> int:
    """What the checks read of a file's start: the sniffed head and, for gzip, enough
    compressed bytes to expand to the longest first line allowed (deflate adds well under
    1% to incompressible data)."""
    limit = settings.UPLOAD_MAX_LINE_BYTES
    return limit + limit // 100 + 128 * 1024


class StagedUpload(UploadedFile):
    """A data file streamed to the bucket as it arrived, kept under ``incoming/`` until
    :meth:`keep_as` gives it its name. Its first and last bytes are kept aside for the
    checks (:meth:`sample`). Closing it before then deletes what was sent."""

    def __init__(self, name: str, content_type: str, charset: str | None, extra: dict | None):
        super().__init__(None, name, content_type, 0, charset, extra)
        self.incoming = IncomingObject()
        self.head = bytearray()
        self.tail = bytearray()
        self._head_limit = head_bytes()
        self.kept = False

    def write(self, data: bytes) -> None:
        if len(self.head) < self._head_limit:
            self.head += data[: self._head_limit - len(self.head)]
        self.tail += data
        del self.tail[:-TAIL_BYTES]  # cheap: a bytearray drops its front without copying
        self.incoming.write(data)

    def finish(self, size: int) -> None:
        self.incoming.finish()
        self.size = size

    def sample(self) -> Sample:
        return Sample(bytes(self.head), bytes(self.tail), self.size)

    def keep_as(self, name: str) -> str:
        """Store the file under ``name`` (in the bucket, without moving its bytes through
        the portal); the name it got."""
        name = self.incoming.keep_as(name)
        self.kept = True
        return name

    def close(self) -> None:
        if not self.kept:
            self.incoming.discard()

    def chunks(self, chunk_size: int | None = None):
        raise ValueError("A staged upload is read from the bucket, not from the request.")


class Sample(io.RawIOBase):
    """A file as the upload checks see it: its first and last bytes at their offsets.
    A read between them fails loudly; the checks never need the middle."""

    def __init__(self, head: bytes, tail: bytes, size: int) -> None:
        self.head, self.tail, self.size = head, tail, size
        self.tail_start = size - len(tail)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        start = self.position
        if start >= self.size:
            return 0
        if start < len(self.head):
            data = self.head[start : start + len(buffer)]
        elif start >= self.tail_start:
            data = self.tail[start - self.tail_start : start - self.tail_start + len(buffer)]
        else:
            raise OSError(f"byte {start} of the upload is not kept for its checks")
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


class HashingUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, field_name: str, *args, **kwargs) -> None:
        if field_name in STREAMED_FIELDS and streams_to_bucket():
            FileUploadHandler.new_file(self, field_name, *args, **kwargs)
            self.file = StagedUpload(
                self.file_name, self.content_type, self.charset, self.content_type_extra
            )
        else:
            super().new_file(field_name, *args, **kwargs)
        self._sha256 = hashlib.sha256()
        self._size = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._size += len(raw_data)
        if self._size > settings.UPLOAD_MAX_BYTES:
            self.request.upload_too_large = True
            self.file.close()  # a temporary file or a staged object: closing removes it
            raise StopUpload(connection_reset=True)
        self._sha256.update(raw_data)
        try:
            return super().receive_data_chunk(raw_data, start)
        except StorageUnavailable as error:
            self._failed(error)
            # Read the rest of the body, so the client gets the answer, not a reset.
            raise StopUpload(connection_reset=False) from None

    def file_complete(self, file_size: int):
        if isinstance(self.file, StagedUpload):
            try:
                self.file.finish(file_size)
            except StorageUnavailable as error:
                self._failed(error)
                return None
            uploaded = self.file
        else:
            uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._sha256.hexdigest()
        return uploaded

    def upload_interrupted(self) -> None:
        if isinstance(getattr(self, "file", None), StagedUpload):
            self.file.close()
        else:
            super().upload_interrupted()

    def _failed(self, error: StorageUnavailable) -> None:
        self.request.upload_failure = error
        self.file.close()


def upload_too_large(request) -> bool:
    """True when the request body announces, or turned out, larger than the limit allows."""
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    # Form fields and multipart framing add a little to the file's own size.
    return announced > settings.UPLOAD_MAX_BYTES + (1 << 20) or getattr(
        request, "upload_too_large", False
    )


def refuse_bad_upload(request) -> None:
    """413 when :func:`upload_too_large`; call it before reading the body and again after.

    After, also 503 when the file storage failed while the file streamed to it. And 400 for
    a chunked body without a Content-Length: Django reads a body up to its Content-Length,
    so it would see an empty form and answer that no file was sent.
    """
    failure = getattr(getattr(request, "_request", request), "upload_failure", None)
    if failure is not None:
        raise failure
    meta = getattr(request, "_request", request).META
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get(
        "CONTENT_LENGTH"
    ):
        raise ApplicationError(
            "Send the file with a Content-Length header; chunked uploads are not read.",
            code="length_required",
        )
    if upload_too_large(request):
        limit = settings.UPLOAD_MAX_BYTES / 2**20
        raise PayloadTooLarge(f"The file is larger than the {limit:,.0f} MiB this portal accepts.")
