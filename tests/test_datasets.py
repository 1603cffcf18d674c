"""The dataset registry through HTTP: datasets, uploads, profiles, bad input, lineage."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.utils import DatabaseError

from projects.models import Dataset, DatasetLineage, DatasetVersion, Event, Role
from projects.services import datasets
from tests.data import sample_csv, sample_frame
from tests.factories import make_dataset, make_version


@pytest.fixture
def engineer_api(api, world):
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    return api


def _upload(api, dataset, name: str, content: bytes, **fields):
    data = {"file": SimpleUploadedFile(name, content), **fields}
    return api.post(f"/api/v1/datasets/{dataset.pk}/versions/", data, format="multipart")


def _profile_now(response) -> DatasetVersion:
    """Run the profile job here, as the worker would, and return the version."""
    datasets.version_ingest(version_id=response.json()["id"])
    return DatasetVersion.objects.get(pk=response.json()["id"])


def _media_files() -> set[str]:
    found = set()
    for root in ("datasets", "predictions"):
        if default_storage.exists(root):
            stack = [root]
            while stack:
                folder = stack.pop()
                dirs, files = default_storage.listdir(folder)
                stack += [f"{folder}/{d}" for d in dirs]
                found |= {f"{folder}/{f}" for f in files}
    return found


# --- The registry ------------------------------------------------------------------------
def test_it_registers_a_dataset_that_is_not_yet_obtained(engineer_api, world):
    project = world["a"].project
    body = {
        "name": "complaints",
        "purpose": "production_sample",
        "status": "needed",
        "labeling_strategy": "outsourced",
        "labeling_notes": "Vendor X, guideline v3, 5% double-labelled.",
        "label_column": "is_complaint",
        "sensitive_columns": ["age_band"],
        "personal_data_columns": ["email", "phone"],
        "source": "CRM export",
        "licence": "internal",
        "owner": "Customer care",
        "metadata": {"region": "EU", "refresh_days": 30},
    }
    response = engineer_api.post(f"/api/v1/projects/{project.slug}/datasets/", body, format="json")
    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert dataset.personal_data_columns == ["email", "phone"]
    assert dataset.metadata == {"region": "EU", "refresh_days": 30}
    event = Event.objects.filter(verb="dataset.created").latest("seq")
    assert event.payload["labeling_strategy"] == "outsourced"


def test_it_answers_409_for_a_second_dataset_of_the_same_name(engineer_api, world):
    project = world["a"].project
    response = engineer_api.post(
        f"/api/v1/projects/{project.slug}/datasets/", {"name": "loans"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "name_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "sensitive_columns": "sex"},
        {"name": "x", "metadata": ["a"]},
        {"name": "x", "purpose": "fun"},
        {"name": ""},
    ],
)
def test_it_refuses_malformed_dataset_fields(engineer_api, world, body):
    project = world["a"].project
    before = Event.objects.count()
    response = engineer_api.post(f"/api/v1/projects/{project.slug}/datasets/", body, format="json")
    assert response.status_code == 400
    assert Event.objects.count() == before


def test_it_records_what_an_edit_changed(engineer_api, world):
    dataset = world["a"].dataset
    response = engineer_api.patch(
        f"/api/v1/datasets/{dataset.pk}/", {"licence": "CC BY 4.0"}, format="json"
    )
    assert response.status_code == 200
    event = Event.objects.filter(verb="dataset.updated").latest("seq")
    assert event.payload == {"before": {"licence": ""}, "after": {"licence": "CC BY 4.0"}}


# --- Uploads --------------------------------------------------------------------------------
def test_it_stores_hashes_and_profiles_an_upload(engineer_api, world, client):
    dataset = world["a"].dataset
    content = sample_csv(rows=300, seed=9)
    response = _upload(engineer_api, dataset, "more.csv", content, source_uri="s3://bucket/x.csv")
    assert response.status_code == 202, response.json()
    assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert response.json()["status"] == "queued"
    assert response.json()["number"] == 2

    version = _profile_now(response)
    assert version.status == "succeeded", version.error
    assert version.rows == 300
    frame = sample_frame(rows=300, seed=9)
    income = next(c for c in version.profile["columns"] if c["name"] == "income")
    assert income["missing"] == int(frame["income"].isna().sum())
    assert income["mean"] == pytest.approx(frame["income"].mean(), rel=1e-9)
    detail = engineer_api.get(f"/api/v1/dataset-versions/{version.pk}/").json()
    assert detail["profile"]["rows"] == 300
    assert [c["name"] for c in detail["schema"]] == list(frame.columns)
    assert pq.read_table(version.parquet.path).num_rows == 300
    # Values of personal-data columns are counted, never shown.
    email = next(c for c in detail["profile"]["columns"] if c["name"] == "email")
    assert email["top"] is None and email["distinct"] == 300
    assert "person1@example.org" not in str(version.profile)
    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(f"/versions/{version.pk}/")
    assert page.status_code == 200 and "income" in page.content.decode()
    assert "@example.org" not in page.content.decode()


def test_it_gives_back_the_existing_version_for_the_same_bytes(engineer_api, world):
    dataset = world["a"].dataset
    response = _upload(engineer_api, dataset, "again.csv", sample_csv())
    assert response.status_code == 200
    assert response.json()["id"] == world["a"].version.pk
    assert dataset.versions.count() == 1


def test_it_reads_gzip_and_parquet(engineer_api, world):
    dataset = world["a"].dataset
    frame = sample_frame(rows=200, seed=3)
    gz = _upload(
        engineer_api, dataset, "x.csv.gz", gzip.compress(frame.to_csv(index=False).encode())
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = _upload(engineer_api, dataset, "x.parquet", buffer.getvalue())
    for response in (gz, parquet):
        assert response.status_code == 202, response.json()
        version = _profile_now(response)
        assert version.status == "succeeded", version.error
        assert version.rows == 200


def test_it_detects_a_semicolon_delimiter(engineer_api, world):
    content = sample_frame(rows=50).to_csv(index=False, sep=";").encode()
    version = _profile_now(_upload(engineer_api, world["a"].dataset, "semi.csv", content))
    assert version.status == "succeeded", version.error
    assert len(version.schema) == 7


def test_it_reads_a_declared_encoding(engineer_api, world):
    content = "name,city,defaulted,sex,email\nJosé,Málaga,1,M,a\nAnn,Köln,0,F,b\n".encode("latin-1")
    bad = _profile_now(_upload(engineer_api, world["a"].dataset, "latin.csv", content))
    assert bad.status == "failed"
    assert "UTF-8" in bad.error and "line 2" in bad.error.lower()
    good = _upload(engineer_api, world["a"].dataset, "latin.csv", content, encoding="latin-1")
    assert good.status_code == 202  # a failed try does not block the same bytes
    assert _profile_now(good).status == "succeeded"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.csv", b"", "invalid"),
        ("data.xlsx", b"a,b\n1,2\n", "unsupported_format"),
        ("data.parquet", b"a,b\n1,2\n", "content_mismatch"),
        ("data.csv", b"PAR1" + b"\x00" * 64 + b"PAR1", "content_mismatch"),
        ("data.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "unreadable_file"),
    ],
)
def test_it_refuses_files_it_cannot_take_with_400(engineer_api, world, name, content, code):
    before, files = Event.objects.count(), _media_files()
    response = _upload(engineer_api, world["a"].dataset, name, content)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert Event.objects.count() == before
    assert world["a"].dataset.versions.count() == 1
    assert _media_files() == files


def test_it_refuses_a_file_over_the_limit_with_413(engineer_api, world, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    files = _media_files()
    response = _upload(engineer_api, world["a"].dataset, "big.csv", sample_csv(rows=2000))
    assert response.status_code == 413
    assert "MiB" in response.json()["detail"]
    assert world["a"].dataset.versions.count() == 1
    assert _media_files() == files


def _parquet_with_nested() -> bytes:
    table = pa.table({"id": [1, 2], "tags": pa.array([["a"], ["b", "c"]])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("header.csv", b"income,sex,defaulted\n", ["no data rows"]),
        ("noheader.csv", b"1,2,3\n4,5,6\n7,8,9\n", ["header"]),
        ("ragged.csv", b"a,sex,defaulted\n1,F,0\n3,M,1,9\n", ["line 3"]),
        ("dupes.csv", b"a,a,defaulted\n1,2,0\n3,4,1\n", ["'a'", "twice"]),
        ("blank.csv", b"a,,defaulted\n1,2,0\n3,4,1\n", ["column 2", "no name"]),
        ("nolabel.csv", b"a,sex,c\n1,F,0\n3,M,1\n", ["defaulted"]),
        ("nested.parquet", _parquet_with_nested(), ["tags"]),
    ],
)
def test_it_fails_the_profile_of_bad_data_with_a_message(engineer_api, world, name, content, words):
    response = _upload(engineer_api, world["a"].dataset, name, content)
    assert response.status_code == 202, response.json()
    version = _profile_now(response)
    assert version.status == "failed"
    for word in words:
        assert word.lower() in version.error.lower(), version.error
    assert not version.parquet
    assert not default_storage.exists(version.file.name), "the bad file was kept"
    failed = Event.objects.get(verb="dataset_version.failed", target_id=str(version.pk))
    assert failed.payload == {"error": version.error}
    assert failed.actor == world["a"].people[Role.ML_ENGINEER]
    assert world["a"].dataset.versions.exclude(status="failed").count() == 1


def test_it_profiles_a_single_class_label_and_flags_it(engineer_api, world):
    frame = sample_frame(rows=60)
    frame["defaulted"] = 0
    version = _profile_now(
        _upload(engineer_api, world["a"].dataset, "one.csv", frame.to_csv(index=False).encode())
    )
    assert version.status == "succeeded"
    assert version.profile["label"]["single_class"] is True


def test_it_counts_missing_labels(engineer_api, world):
    frame = sample_frame(rows=60)
    frame["defaulted"] = frame["defaulted"].astype("Int64")
    frame.loc[:4, "defaulted"] = pd.NA
    version = _profile_now(
        _upload(engineer_api, world["a"].dataset, "gaps.csv", frame.to_csv(index=False).encode())
    )
    assert version.status == "succeeded", version.error
    assert version.profile["label"]["missing"] == 5


# --- Lineage --------------------------------------------------------------------------------
@pytest.fixture
def three_versions(world):
    """raw v1 -> cleaned v1 -> features v1, each made from the one before."""
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    raw = a.version
    cleaned = make_version(
        make_dataset(a.project, engineer, "loans-clean"),
        engineer,
        sample_csv(seed=21),
        parents=[raw],
        transformation="Dropped duplicate customers",
        code_reference="git:1a2b3c4",
        command="python clean.py",
    )
    features = make_version(
        make_dataset(a.project, engineer, "loans-features"),
        engineer,
        sample_csv(seed=22),
        parents=[cleaned],
        transformation="Added ratios",
    )
    return raw, cleaned, features


def test_it_shows_lineage_across_three_versions_in_the_api(api, world, three_versions):
    raw, cleaned, features = three_versions
    api.force_authenticate(world["a"].people[Role.VIEWER])
    lineage = api.get(f"/api/v1/dataset-versions/{cleaned.pk}/").json()["lineage"]
    assert {n["id"] for n in lineage["nodes"]} == {raw.pk, cleaned.pk, features.pk}
    assert lineage["edges"] == sorted([[raw.pk, cleaned.pk], [cleaned.pk, features.pk]])
    current = [n for n in lineage["nodes"] if n["current"]]
    assert [n["id"] for n in current] == [cleaned.pk]
    assert current[0]["code_reference"] == "git:1a2b3c4"
    # From either end the whole chain is visible.
    tail = api.get(f"/api/v1/dataset-versions/{features.pk}/").json()["lineage"]
    assert len(tail["nodes"]) == 3 and len(tail["edges"]) == 2


def test_it_draws_lineage_on_the_version_page(client, world, three_versions):
    cleaned = three_versions[1]
    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(f"/versions/{cleaned.pk}/").content.decode()
    svg = page[page.index("<svg") : page.index("</svg>")]
    for version in three_versions:
        assert f"/versions/{version.pk}/" in svg
    assert "Dropped duplicate customers" in page


def test_it_refuses_a_parent_from_another_project(engineer_api, world):
    other = world["b"].version
    response = _upload(
        engineer_api, world["a"].dataset, "x.csv", sample_csv(seed=4), parents=[other.pk]
    )
    assert response.status_code == 404
    assert world["a"].dataset.versions.count() == 1


def test_it_keeps_lineage_immutable(world, three_versions):
    edge = DatasetLineage.objects.first()
    with pytest.raises(ValueError):
        edge.save()
    with pytest.raises(ValueError):
        edge.delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE projects_datasetlineage SET parent_id = child_id")


def test_it_shows_no_values_of_columns_declared_personal_later(engineer_api, world):
    a = world["a"]
    url = f"/api/v1/dataset-versions/{a.version.pk}/"
    age = next(c for c in engineer_api.get(url).json()["profile"]["columns"] if c["name"] == "age")
    assert age["min"] is not None and age["histogram"]
    engineer_api.patch(
        f"/api/v1/datasets/{a.dataset.pk}/",
        {"personal_data_columns": ["email", "age"]},
        format="json",
    )
    age = next(c for c in engineer_api.get(url).json()["profile"]["columns"] if c["name"] == "age")
    assert [age[k] for k in ("min", "max", "mean", "quantiles", "histogram", "top")] == [None] * 6
    assert age["count"] == 120 and age["missing"] == 0


def test_it_records_a_parent_named_twice_once(engineer_api, world):
    parent = world["a"].version.pk
    response = _upload(
        engineer_api, world["a"].dataset, "x.csv", sample_csv(seed=41), parents=[parent, parent]
    )
    assert response.status_code == 202, response.json()
    assert response.json()["parents"] == [parent]


def test_it_keeps_odd_file_names_out_of_storage_paths(engineer_api, world):
    name = "é" * 200 + ".csv"
    response = _upload(engineer_api, world["a"].dataset, name, sample_csv(seed=42))
    assert response.status_code == 202, response.json()
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.original_name.startswith("é")
    assert version.file.name.endswith("/upload.csv")


@pytest.mark.parametrize("encoding", ["rot13", "zlib", "no-such-codec"])
def test_it_refuses_an_encoding_that_is_not_one_for_text(engineer_api, world, encoding):
    response = _upload(
        engineer_api, world["a"].dataset, "x.csv", sample_csv(seed=43), encoding=encoding
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_encoding"
    assert world["a"].dataset.versions.count() == 1


def test_it_refuses_a_sensitive_feature_with_too_many_groups(engineer_api, world):
    frame = sample_frame(rows=1500)
    frame["sex"] = [f"s{i}" for i in range(1500)]
    version = _profile_now(
        _upload(engineer_api, world["a"].dataset, "ids.csv", frame.to_csv(index=False).encode())
    )
    assert version.status == "failed"
    assert "sex" in version.error and "1000" in version.error


def test_it_hides_the_groups_of_a_sensitive_column_declared_personal(engineer_api, world):
    a = world["a"]
    engineer_api.patch(
        f"/api/v1/datasets/{a.dataset.pk}/", {"personal_data_columns": ["sex"]}, format="json"
    )
    profile = engineer_api.get(f"/api/v1/dataset-versions/{a.version.pk}/").json()["profile"]
    assert [g["value"] for g in profile["groups"]["sex"]] == ["group 1", "group 2"]
    assert sum(g["count"] for g in profile["groups"]["sex"]) == 120


# --- Hostile files ----------------------------------------------------------------------------
def _gzip_of_repeats(head: bytes, line: bytes, expanded: int) -> bytes:
    """``head`` then ``line`` repeated to about ``expanded`` bytes, gzipped while streaming:
    a few KB that expand to as much as asked, without holding the expanded text."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = line * max(1, (64 << 10) // len(line))
    out = [packer.compress(head)]
    for _ in range(max(1, expanded // len(block))):
        out.append(packer.compress(block))
    out.append(packer.flush())
    return b"".join(out)


_HEADER = sample_csv(rows=1).split(b"\n")[0] + b"\n"
_ROW = b"c00001,person1@example.org,50000.0,30,north,F,0\n"


def _failed_once(version: DatasetVersion) -> None:
    """Failed with its message on the first delivery; a redelivery changes nothing."""
    assert version.status == "failed"
    assert version.deliveries == 1
    assert not version.parquet
    assert not default_storage.exists(version.file.name), "the bad file was kept"
    datasets.version_ingest(version_id=version.pk)  # the broker delivers the task again
    version.refresh_from_db()
    assert version.status == "failed" and version.deliveries == 1
    failed = Event.objects.filter(verb="dataset_version.failed", target_id=str(version.pk))
    assert [e.payload for e in failed] == [{"error": version.error}]


def test_it_fails_a_gzip_bomb_at_the_expansion_limit(engineer_api, world, settings):
    settings.UPLOAD_MAX_EXPANDED_BYTES = 256 << 10
    bomb = _gzip_of_repeats(_HEADER, _ROW, 16 << 20)
    assert len(bomb) < 64 << 10
    response = _upload(engineer_api, world["a"].dataset, "bomb.csv.gz", bomb)
    assert response.status_code == 202, response.json()
    version = _profile_now(response)
    assert version.error == (
        "The file expands to more than 256 KiB when decompressed; the limit is 256 KiB. "
        "Split it into smaller files."
    )
    _failed_once(version)


def test_it_fails_a_file_with_more_rows_than_the_limit(engineer_api, world, settings):
    settings.UPLOAD_MAX_ROWS = 100
    response = _upload(engineer_api, world["a"].dataset, "many.csv", sample_csv(rows=300, seed=5))
    version = _profile_now(response)
    assert "more than 100 rows" in version.error and "limit" in version.error
    _failed_once(version)


def test_it_fails_a_line_longer_than_the_limit_naming_it(engineer_api, world, settings):
    settings.UPLOAD_MAX_LINE_BYTES = 1024
    frame = sample_frame(rows=100, seed=6)
    frame.loc[38, "email"] = "x" * 5000  # line 40: the header is line 1
    content = frame.to_csv(index=False).encode()
    version = _profile_now(_upload(engineer_api, world["a"].dataset, "long.csv", content))
    assert version.error.startswith("Line 40 is longer than 1 KiB"), version.error
    _failed_once(version)


def test_it_fails_one_endless_line_without_reading_it_whole(engineer_api, world, settings):
    settings.UPLOAD_MAX_LINE_BYTES = 4096
    # Valid header, then one line of 16 MiB: no record ends, so nothing may be parsed.
    endless = _gzip_of_repeats(_HEADER, b"0,", 16 << 20)
    version = _profile_now(_upload(engineer_api, world["a"].dataset, "line.csv.gz", endless))
    assert version.error.startswith("Line 2 is longer than 4 KiB"), version.error
    _failed_once(version)


@pytest.mark.parametrize("name", ["header.csv", "header.csv.gz"])
def test_it_refuses_a_header_line_over_the_limit_with_400(engineer_api, world, settings, name):
    settings.UPLOAD_MAX_LINE_BYTES = 1024
    content = b"a," * 4000 + b"defaulted\n1,0\n"
    if name.endswith(".gz"):
        content = _gzip_of_repeats(b"", b"a,", 8 << 20)
    before, files = Event.objects.count(), _media_files()
    response = _upload(engineer_api, world["a"].dataset, name, content)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "line_too_long"
    assert response.json()["detail"].startswith("Line 1 is longer than 1 KiB")
    assert Event.objects.count() == before
    assert _media_files() == files
    assert world["a"].dataset.versions.count() == 1


def test_it_fails_a_job_out_of_time_once_and_never_runs_it_again(engineer_api, world, monkeypatch):
    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(datasets, "ingest", too_slow)
    response = _upload(engineer_api, world["a"].dataset, "slow.csv", sample_csv(seed=44))
    version = _profile_now(response)
    assert version.error == "The job took longer than its time limit."
    assert version.status == "failed" and version.deliveries == 1
    datasets.version_ingest(version_id=version.pk)
    failed = Event.objects.filter(verb="dataset_version.failed", target_id=str(version.pk))
    assert failed.count() == 1
