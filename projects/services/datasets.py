"""The dataset registry: datasets, uploaded versions, their lineage and profiles."""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from portal.exceptions import ApplicationError, Conflict, unique_or_conflict
from portal.jobs import Job, Progress, job_enqueue, job_run
from portal.storage import local_file, storage_errors
from portal.transactions import retry_atomic
from projects.analysis.tabular import DataError, ProfileOptions, ingest
from projects.models import Dataset, DatasetLineage, DatasetVersion, Project
from projects.selectors import (
    latest_profiled_version,
    profile_without_personal_values,
    version_column_names,
)
from projects.services.events import changes_record, event_record, job_failed_record
from projects.services.uploads import (
    CheckedUpload,
    discard,
    read_limits,
    stored,
    text_encoding,
)

if TYPE_CHECKING:
    from projects.models import ApiToken

DATASET_FIELDS = (
    "name",
    "purpose",
    "description",
    "status",
    "labeling_strategy",
    "labeling_notes",
    "label_column",
    "sensitive_columns",
    "personal_data_columns",
    "source",
    "licence",
    "owner",
    "metadata",
)
PROVENANCE_FIELDS = (
    "source_uri",
    "collected_at",
    "collected_by",
    "labeling_batch",
    "transformation",
    "code_reference",
    "command",
)


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - set(DATASET_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    for key in ("sensitive_columns", "personal_data_columns"):
        columns = fields.get(key, [])
        if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
            raise ApplicationError(f"{key} must be a list of column names.", code="invalid")
    metadata = fields.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str | int | float | bool) for v in metadata.values()
    ):
        raise ApplicationError("metadata must map names to plain values.", code="invalid")


#: The dataset's fields that name columns of its data, and what each column is to it.
COLUMN_FIELDS = {
    "label_column": "label column",
    "sensitive_columns": "sensitive column",
    "personal_data_columns": "personal-data column",
}


def _check_known_columns(dataset: Dataset, changes: dict) -> None:
    """Columns named anew must be columns of the latest profiled version, once there is
    one. Names the dataset held before are let through: an edit of its licence must not
    fail over a column a later file dropped."""
    version = latest_profiled_version(dataset)
    if version is None:
        return  # typed while no file exists; the first file's profile checks them
    known = version_column_names(version)
    for field, role in COLUMN_FIELDS.items():
        if field not in changes:
            continue
        before = getattr(dataset, field)
        before = {before} if isinstance(before, str) else set(before)
        value = changes[field]
        for name in [value] if isinstance(value, str) else value:
            if not name or name in known or name in before:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            listed = ", ".join(f"'{n}'" for n in known[:12]) + (", …" if len(known) > 12 else "")
            raise ApplicationError(
                f"The {role} '{name}' is not a column of {version}.{hint} Its columns are "
                f"{listed}.",
                code="unknown_column",
            )


def dataset_create(
    *, actor, project: Project, name: str, token: ApiToken | None = None, **fields
) -> Dataset:
    _check_fields({"name": name, **fields})
    with unique_or_conflict(f"The project has a dataset named {name!r} already.", "name_taken"):
        dataset = Dataset.objects.create(project=project, name=name, created_by=actor, **fields)
        event_record(
            actor=actor,
            verb="dataset.created",
            target=dataset,
            project=project,
            token=token,
            payload={"name": name, **fields},
        )
        return dataset


def dataset_update(*, actor, dataset: Dataset, token: ApiToken | None = None, **changes) -> Dataset:
    _check_fields(changes)
    with unique_or_conflict(
        f"The project has a dataset named {changes.get('name')!r} already.", "name_taken"
    ):
        dataset = (
            Dataset.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .get(pk=dataset.pk)
        )
        _check_known_columns(dataset, changes)
        changes_record(
            actor=actor,
            target=dataset,
            changes=changes,
            verb="dataset.updated",
            project=dataset.project,
            token=token,
        )
        return dataset


def version_upload(
    *,
    actor,
    dataset: Dataset,
    upload: CheckedUpload,
    parents: list[DatasetVersion] = (),
    encoding: str = "utf-8",
    delimiter: str = "",
    token: ApiToken | None = None,
    **provenance,
) -> tuple[DatasetVersion, bool]:
    """Store an uploaded file as the dataset's next version and queue its profile.

    The same bytes uploaded again give back the existing version (and ``False``).
    """
    unknown = set(provenance) - set(PROVENANCE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    for parent in parents:
        if parent.dataset.project_id != dataset.project_id:
            raise ApplicationError(
                f"Parent version {parent.pk} belongs to another project.", code="invalid_parent"
            )
        if parent.status == Job.Status.FAILED:
            raise ApplicationError(
                f"Parent version {parent} failed to load; it cannot be a parent.",
                code="invalid_parent",
            )
    parents = list({parent.pk: parent for parent in parents}.values())
    encoding = text_encoding(encoding or "utf-8")
    existing = _same_bytes(dataset, upload.sha256)
    if existing is not None:
        return existing, False
    # The person's file name is kept on the row, not in the path: it may be long or odd.
    path = f"datasets/{dataset.pk}/{upload.sha256}/upload.{upload.format}"
    with stored(path, upload.file) as name:

        def record() -> tuple[DatasetVersion, bool]:
            Dataset.objects.select_for_update(no_key=True).filter(pk=dataset.pk).first()
            existing = _same_bytes(dataset, upload.sha256)
            if existing is not None:
                # The same bytes arrived in a concurrent request: keep that one.
                transaction.on_commit(lambda: discard(name))
                return existing, False
            number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = DatasetVersion.objects.create(
                dataset=dataset,
                number=number,
                file=name,
                original_name=upload.name[:255],
                format=upload.format,
                encoding=encoding,
                delimiter=delimiter,
                size_bytes=upload.size,
                sha256=upload.sha256,
                uploaded_by=actor,
                **provenance,
            )
            for parent in parents:
                DatasetLineage.objects.create(child=version, parent=parent)
            event_record(
                actor=actor,
                verb="dataset_version.uploaded",
                target=version,
                project=dataset.project,
                token=token,
                payload={
                    "dataset": dataset.name,
                    "number": number,
                    "file": upload.name,
                    "size_bytes": upload.size,
                    "sha256": upload.sha256,
                    "parents": [p.pk for p in parents],
                    **provenance,
                },
            )
            job_enqueue(version)
            return version, True

        return retry_atomic(record)


def _same_bytes(dataset: Dataset, sha256: str) -> DatasetVersion | None:
    return dataset.versions.filter(sha256=sha256).exclude(status=Job.Status.FAILED).first()


def _ingest_work(version: DatasetVersion, progress: Progress):
    dataset = version.dataset
    options = ProfileOptions(
        label_column=dataset.label_column or None,
        sensitive_columns=tuple(dataset.sensitive_columns),
        encoding=version.encoding or "utf-8",
        delimiter=version.delimiter or None,
        rare_class_share=settings.PROFILE_RARE_CLASS_SHARE,
        small_group_size=settings.PROFILE_SMALL_GROUP_SIZE,
        limits=read_limits(),
    )
    handle, scratch = tempfile.mkstemp(suffix=".parquet", dir=settings.FILE_UPLOAD_TEMP_DIR)
    os.close(handle)
    try:
        with local_file(version.file) as source:
            profile = ingest(
                source,
                scratch,
                fmt=version.format,
                options=options,
                progress=lambda fraction, message: progress(int(fraction * 100), message),
            )
        target = f"datasets/{dataset.pk}/{version.sha256}/data.parquet"
        # A delivery that died after saving left this file; the new one replaces it.
        discard(target)
        with open(scratch, "rb") as converted, storage_errors(target):
            parquet = default_storage.save(target, File(converted))
    except DataError as exc:
        # The file cannot become a version; keep the row and its message, not the bytes.
        # A file over a read limit too (LimitExceeded): failed once with its message, as
        # an ApplicationError, never retried; the same bytes would fail the same way.
        discard(version.file.name)
        raise ApplicationError(str(exc), code="bad_data") from None
    finally:
        with contextlib.suppress(FileNotFoundError):  # ingest removes it on bad data
            os.unlink(scratch)

    body = profile_without_personal_values(profile.to_dict(), dataset.personal_data_columns)

    def store() -> None:
        DatasetVersion.objects.filter(pk=version.pk).update(
            parquet=parquet, rows=profile.rows, schema=profile.schema, profile=body
        )
        Dataset.objects.filter(pk=dataset.pk).exclude(status=Dataset.Status.AVAILABLE).update(
            status=Dataset.Status.AVAILABLE, updated_at=timezone.now()
        )
        event_record(
            actor=version.uploaded_by,
            verb="dataset_version.profiled",
            target=version,
            project=dataset.project,
            payload={"rows": profile.rows, "columns": len(profile.schema)},
        )

    return store


def version_ingest(*, version_id: int) -> None:
    job_run(
        DatasetVersion,
        version_id,
        _ingest_work,
        on_failure=job_failed_record("dataset_version.failed"),
    )


def version_require_ready(version: DatasetVersion) -> None:
    if version.status != Job.Status.SUCCEEDED:
        raise Conflict(
            f"{version} is {version.get_status_display().lower()}; wait until it is profiled.",
            code="not_ready",
        )
