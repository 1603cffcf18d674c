"""Uploads stream to a temporary file in chunks, hashed on the way, never held in memory.

The handler refuses a file over ``UPLOAD_MAX_BYTES`` as soon as it passes the limit and
marks the request, so the view can answer 413 with a clear message instead of finding
the file missing.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from portal.exceptions import ApplicationError, PayloadTooLarge


class HashingUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._sha256 = hashlib.sha256()
        self._size = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._size += len(raw_data)
        if self._size > settings.UPLOAD_MAX_BYTES:
            self.request.upload_too_large = True
            self.file.close()  # a temporary file: closing removes it
            raise StopUpload(connection_reset=True)
        self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._sha256.hexdigest()
        return uploaded


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


def refuse_too_large(request) -> None:
    """413 when :func:`upload_too_large`; call it before reading the body and again after.

    Also 400 for a chunked body without a Content-Length: Django reads a body up to its
    Content-Length, so it would see an empty form and answer that no file was sent.
    """
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
