"""Stored files, wherever the default storage keeps them (docs/storage.md).

Jobs read them through :func:`local_file` (a path: the file itself on the local disk, a
temporary copy of an object) or, for Parquet, :func:`parquet_source` (on S3, ranged reads
of the columns asked for); views serve them through :func:`stored_file_response`. What a
storage raises becomes a domain error with a message: a missing object, or a store that
cannot be reached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header

from portal.exceptions import ApplicationError

log = logging.getLogger(__name__)


class StoredFileMissing(ApplicationError):
    """A row names a stored file that the storage no longer holds."""

    status = 404
    code = "file_missing"


class StorageUnavailable(ApplicationError):
    """The storage did not answer, or refused the portal's credentials."""

    status = 503
    code = "storage_unavailable"


def _missing(name: str) -> StoredFileMissing:
    return StoredFileMissing(
        f"The stored file {name!r} is missing from the file storage; it was removed outside "
        "the portal. Upload it again."
    )


def _not_found(error: BaseException) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


@contextlib.contextmanager
def storage_errors(name: str = "") -> Iterator[None]:
    """Turn what a storage raises into StoredFileMissing (no such object) or
    StorageUnavailable (anything else on the way: refused, timed out, denied)."""
    try:
        yield
    except ApplicationError:
        raise
    except FileNotFoundError:
        raise _missing(name) from None
    except Exception as error:
        if not _is_storage_error(error):
            raise
        if _not_found(error):
            raise _missing(name) from None
        log.warning("file storage unavailable (%s): %s", name, error)
        raise StorageUnavailable(
            "The file storage could not be reached; try again shortly."
        ) from error


def _is_storage_error(error: Exception) -> bool:
    # botocore's errors (connection refused, timeouts, access denied) and plain OS errors;
    # botocore is only imported where an S3 storage is configured.
    if isinstance(error, OSError):
        return True
    return type(error).__module__.startswith(("botocore.", "boto3.", "s3transfer."))


def _local_path(field: FieldFile) -> str | None:
    try:
        return field.storage.path(field.name)
    except NotImplementedError:  # object storage has no paths
        return None


@contextlib.contextmanager
def local_file(field: FieldFile) -> Iterator[str]:
    """A local path holding the stored file's bytes for the duration of the block: the file
    itself on the local disk, else a temporary copy (deleted afterwards).

    StoredFileMissing when the storage no longer holds it."""
    if not field.name:
        raise StoredFileMissing("No file was stored for this record.")
    path = _local_path(field)
    if path is not None:
        if not os.path.isfile(path):
            raise _missing(field.name)
        yield path
        return
    # Keep the name's suffixes: readers that sniff by name see what they would on disk.
    suffix = "".join(PurePosixPath(field.name).suffixes[-2:])
    handle, scratch = tempfile.mkstemp(suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        with (
            os.fdopen(handle, "wb") as copy,
            storage_errors(field.name),
            field.storage.open(field.name, "rb") as source,
        ):
            # An S3 object: boto3 fetches its parts in parallel, with no spooled copy.
            remote = getattr(source, "obj", None)
            if remote is not None:
                copy.close()
                remote.download_file(scratch)
            else:
                for chunk in source.chunks():
                    copy.write(chunk)
        yield scratch
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)


def _is_s3(storage) -> bool:
    return bool(getattr(storage, "bucket_name", None)) and hasattr(storage, "endpoint_url")


def streams_to_bucket() -> bool:
    """Whether stored files go to object storage, so uploads can stream straight there."""
    return _is_s3(default_storage)


#: Where uploads stream to in the bucket before they are checked and kept under their name.
INCOMING = "incoming"


class IncomingObject:
    """An object written to the bucket part by part as it arrives (an S3 multipart
    upload). A part is sent by a thread of its own while the next one fills, so reading
    the request and writing to the store overlap; no more than two parts
    (``STORAGE_UPLOAD_PART_BYTES``) are held at a time.

    ``keep_as`` copies it, inside the bucket, to the name it is stored under; ``discard``
    deletes it, or aborts the parts sent so far. Any call may raise StorageUnavailable."""

    def __init__(self) -> None:
        self.storage = default_storage
        self.client = self.storage.connection.meta.client
        self.bucket = self.storage.bucket_name
        self.name = f"{INCOMING}/{uuid.uuid4().hex}"
        self.part_bytes = settings.STORAGE_UPLOAD_PART_BYTES
        self.buffer = bytearray()
        self.parts: list[dict] = []
        self.upload_id: str | None = None
        self.complete = False
        self._sender: ThreadPoolExecutor | None = None
        self._sending: Future | None = None

    def _key(self, name: str) -> str:
        return self.storage._normalize_name(name)  # the storage's prefix, if any

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= self.part_bytes:
            self._send_part()

    def _send_part(self) -> None:
        if self.upload_id is None:
            with storage_errors(self.name):
                started = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self._key(self.name)
                )
            self.upload_id = started["UploadId"]
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="upload-part")
        self._sent()  # the previous part first: one in flight at a time
        body, number = bytes(self.buffer), len(self.parts) + 1
        self.buffer.clear()
        self.parts.append({"PartNumber": number})
        self._sending = self._sender.submit(self._upload_part, number, body)

    def _upload_part(self, number: int, body: bytes) -> None:
        with storage_errors(self.name):
            sent = self.client.upload_part(
                Bucket=self.bucket,
                Key=self._key(self.name),
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            )
        self.parts[number - 1]["ETag"] = sent["ETag"]

    def _sent(self) -> None:
        """Wait for the part in flight; what its sending raised is raised here."""
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.result()

    def finish(self) -> None:
        """Make the object whole: one PUT for a file smaller than a part."""
        key = self._key(self.name)
        if self.upload_id is None:
            with storage_errors(self.name):
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(self.buffer))
        else:
            if self.buffer:
                self._send_part()
            self._sent()
            self._stop_sender()
            with storage_errors(self.name):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )
        self.buffer = bytearray()
        self.complete = True

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.shutdown()
            self._sender = None

    def keep_as(self, name: str) -> str:
        """Copy the finished object to ``name`` (or the free name the storage gives for it)
        within the bucket, then delete it here; the stored name."""
        name = self.storage.get_available_name(name)
        with storage_errors(name):
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._key(self.name)}, self.bucket, self._key(name)
            )
        self.discard()
        return name

    def discard(self) -> None:
        """Delete what was sent. A store that cannot be reached now is logged and the rest
        left to :func:`incoming_sweep`: the error that led here matters more."""
        key = self._key(self.name)
        try:
            with contextlib.suppress(StorageUnavailable):
                self._sent()
            self._stop_sender()
            with storage_errors(self.name):
                if self.complete:
                    self.client.delete_object(Bucket=self.bucket, Key=key)
                elif self.upload_id is not None:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=self.upload_id
                    )
        except StorageUnavailable:
            pass
        self.buffer = bytearray()
        self.complete, self.upload_id = False, None


def incoming_sweep(older_than: timedelta = timedelta(days=1)) -> int:
    """Remove what uploads left under ``incoming/`` when their web process died midway:
    objects and unfinished multipart uploads older than ``older_than``. Their number."""
    if not streams_to_bucket():
        return 0
    storage = default_storage
    client = storage.connection.meta.client
    prefix = storage._normalize_name(f"{INCOMING}/")
    cutoff = datetime.now(tz=UTC) - older_than
    removed = 0
    with storage_errors(INCOMING):
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=storage.bucket_name, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    client.delete_object(Bucket=storage.bucket_name, Key=item["Key"])
                    removed += 1
        unfinished = client.list_multipart_uploads(Bucket=storage.bucket_name, Prefix=prefix)
        for upload in unfinished.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                client.abort_multipart_upload(
                    Bucket=storage.bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                removed += 1
    return removed


def _arrow_filesystem(storage) -> tuple[object, str] | None:
    """pyarrow's S3 file system for an S3 storage, and the bucket's key prefix; None for
    storages it cannot read (the local disk has paths)."""
    if not _is_s3(storage):
        return None
    bucket = storage.bucket_name
    from pyarrow import fs

    options: dict = {"region": storage.region_name or "us-east-1"}
    if storage.endpoint_url:
        scheme, _, host = storage.endpoint_url.partition("://")
        options.update(endpoint_override=host, scheme=scheme)
    if storage.access_key:
        options.update(access_key=storage.access_key, secret_key=storage.secret_key)
    key = tuple(sorted(options.items()))
    if key not in _filesystems:
        _filesystems[key] = fs.S3FileSystem(
            **options, connect_timeout=5, request_timeout=60, force_virtual_addressing=False
        )
    prefix = f"{bucket}/{storage.location}/" if storage.location else f"{bucket}/"
    return _filesystems[key], prefix


#: One pyarrow S3 file system per endpoint and key, made on first use.
_filesystems: dict[tuple, object] = {}


@contextlib.contextmanager
def parquet_source(field: FieldFile) -> Iterator[object]:
    """What pyarrow opens a stored Parquet file from: its path on the local disk, or on S3
    a random-access file that fetches only the byte ranges read (the footer, then the
    column chunks asked for) instead of copying the whole file first.

    StoredFileMissing when the storage no longer holds it; storages pyarrow cannot read
    get the temporary copy of :func:`local_file`."""
    if not field.name:
        raise StoredFileMissing("No file was stored for this record.")
    arrow = _arrow_filesystem(field.storage)
    if arrow is None:
        with local_file(field) as path:
            yield path
        return
    filesystem, prefix = arrow
    with storage_errors(field.name):
        try:
            source = filesystem.open_input_file(prefix + field.name)
        except OSError as error:
            # pyarrow reports a missing key as "Path does not exist".
            if "does not exist" in str(error) or "NoSuchKey" in str(error):
                raise _missing(field.name) from None
            raise
    try:
        # A connection lost while reading ranges says so, rather than "Internal error".
        with storage_errors(field.name):
            yield source
    finally:
        source.close()


def stored_file_response(
    field: FieldFile, *, filename: str, content_type: str | None = None
) -> HttpResponse:
    """A stored file as a download, for a view that has checked the caller may have it.

    The bytes stream through the portal from either storage, so the bucket stays private
    and need not be reachable from browsers; with STORAGE_DOWNLOADS=redirect, object
    storage answers a redirect to a presigned URL that expires shortly instead. 404
    (StoredFileMissing) when the file is gone."""
    if settings.STORAGE_DOWNLOADS == "redirect" and _is_s3(field.storage):
        with storage_errors(field.name):
            if not field.storage.exists(field.name):
                raise _missing(field.name)
            parameters = {"ResponseContentDisposition": content_disposition_header(True, filename)}
            if content_type:
                parameters["ResponseContentType"] = content_type
            url = field.storage.url(field.name, parameters=parameters)
        response = HttpResponseRedirect(url)
        # A shared cache must not keep a link made for one person.
        response["Cache-Control"] = "private, no-store"
        return response
    size = None
    with storage_errors(field.name):
        handle = field.storage.open(field.name, "rb")
        remote = getattr(handle, "obj", None)
        if remote is not None:
            # An S3 object: send its body as it arrives, not after spooling all of it.
            size = remote.content_length
            handle = remote.get()["Body"]
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type=content_type
    )
    if size is not None:
        response["Content-Length"] = str(size)
    return response
