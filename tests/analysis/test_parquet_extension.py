"""Parquet extension-type metadata is never loaded: no pickle from an upload is unpickled.

Before pyarrow 14.0.1 (CVE-2023-47248) a field tagged ``arrow.py_extension_type`` had its
``ARROW:extension:metadata`` unpickled on read. The files here carry such a pickle that
creates a canary folder when unpickled; reading, converting and profiling them must leave
the canary absent and read the column as its plain storage type.
"""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.analysis.profile import ProfileOptions
from projects.analysis.tabular import (
    column_names,
    ingest,
    read_columns,
    read_frame,
    read_groups,
    sniff_format,
)
from projects.models import DatasetVersion, Role
from projects.services import datasets
from tests.factories import make_dataset

ROWS = 200


class _Canary:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def hostile_parquet(path: Path, canary: Path) -> Path:
    """A Parquet file whose ``score`` column is tagged as a pickled Python extension type."""
    metadata = {
        b"ARROW:extension:name": b"arrow.py_extension_type",
        b"ARROW:extension:metadata": pickle.dumps(_Canary(canary)),
    }
    schema = pa.schema([pa.field("score", pa.float64(), metadata=metadata), ("label", pa.int64())])
    table = pa.table(
        {"score": [i / ROWS for i in range(ROWS)], "label": [i % 2 for i in range(ROWS)]},
        schema=schema,
    )
    pq.write_table(table, path)
    return path


def test_the_payload_creates_the_canary_when_unpickled(tmp_path):
    """The check below can fail: this metadata, unpickled, does create the canary."""
    canary = tmp_path / "canary"
    source = hostile_parquet(tmp_path / "up.parquet", canary)
    field = pq.ParquetFile(source).schema_arrow.field("score")
    pickle.loads(field.metadata[b"ARROW:extension:metadata"])  # on purpose: the canary works
    assert canary.exists()


def test_the_reader_reads_the_plain_column_and_unpickles_nothing(tmp_path):
    canary = tmp_path / "canary"
    source = str(hostile_parquet(tmp_path / "up.parquet", canary))
    converted = str(tmp_path / "converted.parquet")

    assert sniff_format(source) == "parquet"
    assert column_names(source) == ["score", "label"]
    profile = ingest(source, converted, fmt="parquet", options=ProfileOptions(label_column="label"))
    scores = read_columns(source, ["score"], fmt="parquet")["score"]
    groups = read_groups(source, ["label"], fmt="parquet")["label"]
    frame = read_frame(converted)

    assert not canary.exists()
    assert profile.rows == ROWS
    assert {c["name"]: c["dtype"] for c in profile.schema}["score"] == "double"
    assert scores.dtype.kind == "f" and len(scores) == ROWS
    assert list(groups.categories) == [0, 1]
    assert str(frame["score"].dtype) == "float64"
    # The uploader's metadata is not carried into the file the portal keeps.
    stored = pq.ParquetFile(converted).schema_arrow
    assert stored.field("score").metadata is None
    assert b"py_extension_type" not in Path(converted).read_bytes()


@pytest.mark.parametrize(
    ("extension", "storage"),
    [
        (pa.array(['{"a": 1}'] * ROWS, pa.json_()), "string"),
        (pa.array([1, 0] * (ROWS // 2), pa.bool8()), "int8"),
        (pa.array([uuid.UUID(int=i).bytes for i in range(ROWS)], pa.uuid()), "fixed_size_binary"),
    ],
    ids=["json", "bool8", "uuid"],
)
def test_pyarrow_extension_types_are_read_as_their_storage(tmp_path, extension, storage):
    """pyarrow loads its own extension types, which have no compute kernels: reading them
    as their storage profiles them instead of failing with an internal error."""
    source = str(tmp_path / "up.parquet")
    pq.write_table(pa.table({"x": extension, "label": [i % 2 for i in range(ROWS)]}), source)
    converted = str(tmp_path / "converted.parquet")

    profile = ingest(source, converted, fmt="parquet", options=ProfileOptions(label_column="label"))
    values = read_columns(source, ["x"], fmt="parquet")["x"]

    assert {c["name"]: c["dtype"] for c in profile.schema}["x"].startswith(storage)
    assert len(values) == ROWS
    assert not isinstance(pq.ParquetFile(converted).schema_arrow.field("x").type, pa.ExtensionType)


def test_an_upload_with_a_pickled_extension_type_is_read_as_plain_data(api, world, tmp_path):
    canary = tmp_path / "canary"
    content = hostile_parquet(tmp_path / "up.parquet", canary).read_bytes()
    engineer = world["a"].people[Role.ML_ENGINEER]
    dataset = make_dataset(
        world["a"].project, engineer, "scores", label_column="label", sensitive_columns=[]
    )
    api.force_authenticate(engineer)

    response = api.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": SimpleUploadedFile("scores.parquet", content)},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    datasets.version_ingest(version_id=response.json()["id"])  # as the worker would

    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert not canary.exists()
    assert version.status == "succeeded", version.error
    assert {c["name"]: c["dtype"] for c in version.schema}["score"] == "double"
    assert b"py_extension_type" not in Path(version.parquet.path).read_bytes()
