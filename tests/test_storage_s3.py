"""Stored files in S3-compatible object storage, against a real SeaweedFS server."""

from __future__ import annotations

import hashlib
import io
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from storages.backends.s3 import S3Storage

from audits.services.baselines import baseline_run
from deployments.analysis.drift import dataset_drift
from deployments.services.drift import drift_check_request, drift_check_run
from deployments.services.production import production_metrics_run
from portal.settings import storage_from_url
from portal.storage import StoredFileMissing, incoming_sweep, parquet_source
from projects.models import DatasetVersion, Evaluation, Event, Role
from projects.services import datasets, evaluations
from projects.services.exports import event_export_request, event_export_run
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import (
    TeamWorld,
    UserFactory,
    build_team,
    make_audit,
    make_dataset,
    make_deployment,
    make_pack,
    make_production_period,
    make_version,
    production_frame,
)
from tests.s3 import S3Server, needs_weed, weed_s3
from tests.servers import free_port

# Starts SeaweedFS and moves files of megabytes: make test leaves it to CI's PostgreSQL stage.
pytestmark = [needs_weed, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS for the module: it starts in a few seconds."""
    with weed_s3(tmp_path_factory.mktemp("weed")) as server:
        yield server


def test_the_server_keeps_objects_and_checks_signatures(s3_server: S3Server) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="probe/a.bin", Body=b"\x00stagegate")
    body = client.get_object(Bucket=s3_server.bucket, Key="probe/a.bin")["Body"].read()
    assert body == b"\x00stagegate"

    stranger = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=s3_server.region,
    )
    with pytest.raises(ClientError) as refused:
        stranger.get_object(Bucket=s3_server.bucket, Key="probe/a.bin")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


# --- The portal on object storage --------------------------------------------------------
@pytest.fixture
def s3_storage(settings, s3_server: S3Server) -> S3Server:
    """The portal's default storage is the server's bucket, as STORAGE_URL sets it."""
    settings.STORAGES = {**settings.STORAGES, "default": storage_from_url(s3_server.storage_url())}
    assert isinstance(default_storage._setup() or default_storage._wrapped, S3Storage)
    return s3_server


@pytest.fixture
def team(s3_storage, db) -> TeamWorld:
    """A team whose every file (data, predictions, export, attachment) is in the bucket."""
    return build_team("s3", UserFactory(username="s3_auditor"))


def _object(server: S3Server, name: str) -> bytes:
    return server.client().get_object(Bucket=server.bucket, Key=name)["Body"].read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _upload(api, team: TeamWorld, content: bytes, name: str = "loans.csv"):
    api.force_authenticate(team.people[Role.ML_ENGINEER])
    data = {"file": SimpleUploadedFile(name, content)}
    return api.post(f"/api/v1/datasets/{team.dataset.pk}/versions/", data, format="multipart")


def test_a_project_keeps_every_file_in_the_bucket(api, client, team, s3_storage, settings):
    engineer = team.people[Role.ML_ENGINEER]
    content = sample_csv(seed=11)
    response = _upload(api, team, content)
    assert response.status_code == 202, response.json()
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    # The bytes are in the bucket, with the digest the database records; not on the disk.
    assert _sha256(_object(s3_storage, version.file.name)) == version.sha256 == _sha256(content)
    assert not (Path(settings.MEDIA_ROOT) / version.file.name).exists()

    datasets.version_ingest(version_id=version.pk)
    version.refresh_from_db()
    assert (version.status, version.error, version.rows) == ("succeeded", "", 120)
    parquet = pq.read_table(io.BytesIO(_object(s3_storage, version.parquet.name)))
    assert parquet.num_rows == 120

    predictions = predictions_csv(sample_frame(seed=11))
    mapping = {"y_true": "label", "y_pred": "prediction", "y_score": "score"}
    data = {"file": SimpleUploadedFile("p.csv", predictions), "dataset_version": version.pk}
    response = api.post(
        f"/api/v1/models/{team.model.pk}/evaluations/", {**data, **mapping}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    evaluations.evaluation_run(evaluation_id=response.json()["id"])
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert (evaluation.status, evaluation.error) == ("succeeded", "")
    assert _object(s3_storage, evaluation.file.name) == predictions
    assert 0.5 < evaluation.metrics["accuracy"] <= 1

    audit = make_audit(evaluation, engineer)
    assert (audit.status, audit.error) == ("succeeded", "")
    assert [f["feature"] for f in audit.result["features"]] == ["sex"]

    team.evaluation = evaluation
    pack = make_pack(team)
    assert (pack.status, pack.error) == ("succeeded", "")
    in_bucket = _object(s3_storage, pack.pdf.name)
    assert _sha256(in_bucket) == pack.pdf_sha256

    api.force_authenticate(team.people[Role.BUSINESS_OWNER])
    download = api.get(f"/api/v1/approval-packs/{pack.pk}/pdf/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == in_bucket
    assert download["Content-Length"] == str(len(in_bucket))

    # The export and the attachment the team was built with stream from the bucket too.
    download = api.get(f"/api/v1/event-exports/{team.export.pk}/download/")
    assert b"".join(download.streaming_content) == _object(s3_storage, team.export.file.name)
    client.force_login(team.people[Role.BUSINESS_OWNER])
    download = client.get(f"/measurements/{team.measurement.pk}/attachment/")
    assert b"".join(download.streaming_content) == b"week,reviewed\n1,0.18\n"


def test_an_unreachable_store_answers_503_and_keeps_no_row(api, team, settings):
    queued = evaluations.evaluation_upload(
        actor=team.people[Role.ML_ENGINEER],
        model=team.model,
        dataset_version=team.version,
        upload=upload_from_bytes("p.csv", predictions_csv(sample_frame())),
        mapping={"y_true": "label", "y_pred": "prediction", "y_score": "score"},
    )
    _unreachable(settings)
    versions, events = DatasetVersion.objects.count(), Event.objects.count()
    started = time.monotonic()
    response = _upload(api, team, sample_csv(seed=12))
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert "could not be reached" in response.json()["detail"]
    assert time.monotonic() - started < 20
    assert (DatasetVersion.objects.count(), Event.objects.count()) == (versions, events)

    # A job that cannot read its file fails with the reason, not as an internal error.
    started = time.monotonic()
    evaluations.evaluation_run(evaluation_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == "failed"
    assert queued.error == "The file storage could not be reached; try again shortly."
    assert time.monotonic() - started < 20


def test_a_file_removed_behind_the_portals_back_fails_the_job_with_its_name(api, team, s3_storage):
    response = _upload(api, team, sample_csv(seed=13))
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    s3_storage.client().delete_object(Bucket=s3_storage.bucket, Key=version.file.name)

    datasets.version_ingest(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "failed"
    assert f"The stored file {version.file.name!r} is missing" in version.error

    # A profiled version whose Parquet copy went: the evaluation job says so.
    s3_storage.client().delete_object(Bucket=s3_storage.bucket, Key=team.version.parquet.name)
    evaluation = evaluations.evaluation_upload(
        actor=team.people[Role.ML_ENGINEER],
        model=team.model,
        dataset_version=team.version,
        upload=upload_from_bytes("p.csv", predictions_csv(sample_frame())),
        mapping={"y_true": "label", "y_pred": "prediction", "y_score": "score"},
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert "missing from the file storage" in evaluation.error


def test_a_download_whose_object_went_answers_404(api, team, s3_storage):
    s3_storage.client().delete_object(Bucket=s3_storage.bucket, Key=team.export.file.name)
    api.force_authenticate(team.people[Role.BUSINESS_OWNER])
    response = api.get(f"/api/v1/event-exports/{team.export.pk}/download/")
    assert response.status_code == 404
    assert response.json()["code"] == "file_missing"


def test_baselines_drift_and_production_read_their_parquet_from_the_bucket(team, s3_storage):
    engineer = team.people[Role.ML_ENGINEER]
    baseline_run(run_id=team.run.pk)
    team.run.refresh_from_db()
    assert (team.run.status, team.run.error) == ("succeeded", "")
    assert team.run.rows_used == 120

    deployment, _ = make_deployment(team, stage=False)
    dataset = make_dataset(team.project, engineer, name="production", purpose="production_sample")
    frame = production_frame(seed=3)
    frame["income"] = frame["income"] * 1.3  # incomes moved up
    current = make_version(dataset, engineer, frame.to_csv(index=False).encode(), "prod.csv")
    check = drift_check_request(
        actor=engineer, deployment=deployment, reference=team.version, current=current
    )
    drift_check_run(check_id=check.pk)
    check.refresh_from_db()
    assert (check.status, check.error) == ("succeeded", "")
    # The same comparison of the bytes in the bucket, read here with boto3.
    names = [c["name"] for c in check.columns]
    tables = [
        pq.read_table(io.BytesIO(_object(s3_storage, v.parquet.name)), columns=names)
        for v in (team.version, current)
    ]
    expected = dataset_drift(
        {n: tables[0].column(n) for n in names},
        {n: tables[1].column(n) for n in names},
        kinds={c["name"]: c["kind"] for c in check.columns},
    )
    got = {c["column"]: c["drifted"] for c in check.result["columns"]}
    assert got == {c.column: c.drifted for c in expected.columns}
    assert got["income"]

    end = timezone.now() - timedelta(days=1)
    period = make_production_period(
        deployment, current, start=end - timedelta(days=7), end=end, score_column="score"
    )
    production_metrics_run(period_id=period.pk)
    period.refresh_from_db()
    assert (period.status, period.error) == ("succeeded", "")
    assert period.points > 0


def test_parquet_is_read_in_place_from_the_bucket(team, s3_storage):
    parquet = team.version.parquet
    with parquet_source(parquet) as source:
        # A ranged reader of the object, not a path to a copy of it.
        assert isinstance(source, pa.NativeFile)
        read = pq.read_table(source, columns=["income"])
    assert read == pq.read_table(io.BytesIO(_object(s3_storage, parquet.name)), columns=["income"])

    s3_storage.client().delete_object(Bucket=s3_storage.bucket, Key=parquet.name)
    with pytest.raises(StoredFileMissing, match="is missing"), parquet_source(parquet):
        pass


def test_a_redirected_download_is_a_link_that_expires(api, team, s3_storage, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_from_url(s3_storage.storage_url() + "&expire=2"),
    }
    settings.STORAGE_DOWNLOADS = "redirect"
    export = team.export
    api.force_authenticate(team.people[Role.BUSINESS_OWNER])
    response = api.get(f"/api/v1/event-exports/{export.pk}/download/")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert link.startswith(f"{s3_storage.endpoint}/{s3_storage.bucket}/")
    with urllib.request.urlopen(link, timeout=10) as answer:
        assert answer.read() == _object(s3_storage, export.file.name)
        assert (
            f"{export.project.slug}-events-{export.pk}.csv" in answer.headers["Content-Disposition"]
        )
    time.sleep(3)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(link, timeout=10)
    assert refused.value.code == 403

    # The permission check still comes first: an outsider gets no link.
    api.force_authenticate(UserFactory(username="s3_stranger"))
    assert api.get(f"/api/v1/event-exports/{export.pk}/download/").status_code == 404


def _refuse_inserts(table: str) -> None:
    """Make the database itself refuse rows of ``table`` for the rest of the test (its
    transaction takes the trigger away again)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TEMP TRIGGER refuse BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_an_upload_whose_row_cannot_be_written_leaves_no_object(api, team, s3_storage):
    prefix = f"predictions/{team.model.pk}/"
    client = s3_storage.client()
    before = client.list_objects_v2(Bucket=s3_storage.bucket, Prefix=prefix).get("Contents", [])
    _refuse_inserts(Evaluation._meta.db_table)
    api.force_authenticate(team.people[Role.ML_ENGINEER])
    data = {
        "file": SimpleUploadedFile("p.csv", predictions_csv(sample_frame(seed=14))),
        "dataset_version": team.version.pk,
        "y_true": "label",
        "y_pred": "prediction",
    }
    response = api.post(f"/api/v1/models/{team.model.pk}/evaluations/", data, format="multipart")
    assert response.status_code == 500
    after = client.list_objects_v2(Bucket=s3_storage.bucket, Prefix=prefix).get("Contents", [])
    assert [o["Key"] for o in after] == [o["Key"] for o in before]
    assert _incoming(s3_storage) == ([], [])


# --- Uploads stream to the bucket -------------------------------------------------------
def _incoming(server: S3Server) -> tuple[list[str], list[str]]:
    """What uploads left under incoming/: objects, and multipart uploads not finished."""
    client = server.client()
    listed = client.list_objects_v2(Bucket=server.bucket, Prefix="incoming/")
    unfinished = client.list_multipart_uploads(Bucket=server.bucket, Prefix="incoming/")
    return (
        [item["Key"] for item in listed.get("Contents", [])],
        [item["Key"] for item in unfinished.get("Uploads", [])],
    )


PART = 5 << 20


def _big_csv(megabytes: float, seed: int = 0) -> bytes:
    """A CSV of random numbers a little over ``megabytes`` MiB."""
    rng = np.random.default_rng(seed)
    rows = int(megabytes * 2**20 / 22) + 1000
    ids = rng.integers(0, 10**9, rows)
    table = pa.table({"id": ids, "x": rng.integers(0, 10**9, rows), "label": ids % 2})
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="none"))
    return sink.getvalue()


@pytest.fixture
def no_web_disk(settings, tmp_path: Path) -> None:
    """Uploads may not touch the web host's disk: its upload folder does not exist, so a
    temporary file there would fail the request. Parts of 5 MiB, the least S3 takes."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "no-such-folder")
    settings.STORAGE_UPLOAD_PART_BYTES = PART


def test_a_data_file_streams_to_the_bucket_in_parts(api, team, s3_storage, no_web_disk):
    content = _big_csv(11)  # three parts
    response = _upload(api, team, content)
    assert response.status_code == 202, response.json()
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.file.name == f"datasets/{team.dataset.pk}/{_sha256(content)}/upload.csv"
    assert _sha256(_object(s3_storage, version.file.name)) == version.sha256 == _sha256(content)
    assert version.size_bytes == len(content)
    assert _incoming(s3_storage) == ([], [])

    # The same bytes again: the version there is the answer, and the copy sent is gone.
    again = _upload(api, team, content)
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == version.pk
    assert _incoming(s3_storage) == ([], [])


def test_a_parquet_file_streams_and_is_checked_from_its_ends(api, team, s3_storage, no_web_disk):
    rng = np.random.default_rng(5)
    rows = 850_000
    table = pa.table(
        {"id": np.arange(rows), "x": rng.random(rows), "label": rng.integers(0, 2, rows)}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    content = sink.getvalue()
    assert len(content) > 2 * PART
    response = _upload(api, team, content, name="loans.parquet")
    assert response.status_code == 202, response.json()
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert _sha256(_object(s3_storage, version.file.name)) == _sha256(content)

    # Cut short, its footer is missing: refused, and nothing stays in the bucket.
    response = _upload(api, team, content[:-100], name="cut.parquet")
    assert response.status_code == 400
    assert response.json()["code"] == "unreadable_file"
    assert _incoming(s3_storage) == ([], [])


@pytest.mark.parametrize(
    ("name", "tail", "code"),
    [
        ("loans.parquet", b"", "content_mismatch"),  # CSV content under a Parquet name
        ("loans.csv", b"PK\x05\x06" + b"\x00" * 18, "unreadable_file"),  # a ZIP's end
        ("loans.csv", b"\x00\x01", "unreadable_file"),  # binary appended
    ],
)
def test_a_refused_streamed_file_leaves_nothing_in_the_bucket(
    api, team, s3_storage, no_web_disk, name, tail, code
):
    versions = DatasetVersion.objects.count()
    response = _upload(api, team, _big_csv(6, seed=1) + tail, name=name)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert DatasetVersion.objects.count() == versions
    assert _incoming(s3_storage) == ([], [])


def test_a_streamed_file_over_the_limit_has_its_parts_aborted(
    api, team, s3_storage, no_web_disk, settings
):
    content = _big_csv(7, seed=2)
    # Announced within the limit and its framing allowance, so the body is read: the handler
    # stops it once the limit is passed, after a first part has gone to the bucket.
    settings.UPLOAD_MAX_BYTES = len(content) - 1000
    versions = DatasetVersion.objects.count()
    response = _upload(api, team, content)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert DatasetVersion.objects.count() == versions
    assert _incoming(s3_storage) == ([], [])


def test_a_store_lost_midway_through_a_streamed_file_answers_503(api, team, settings, no_web_disk):
    _unreachable(settings)
    versions, events = DatasetVersion.objects.count(), Event.objects.count()
    response = _upload(api, team, _big_csv(6, seed=3))  # fails at its first part
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert (DatasetVersion.objects.count(), Event.objects.count()) == (versions, events)


def test_the_sweep_removes_what_dead_uploads_left(s3_storage, settings):
    client = s3_storage.client()
    client.put_object(Bucket=s3_storage.bucket, Key="incoming/left-behind", Body=b"x")
    client.create_multipart_upload(Bucket=s3_storage.bucket, Key="incoming/unfinished")
    client.put_object(Bucket=s3_storage.bucket, Key="datasets/kept", Body=b"y")
    assert incoming_sweep() == 0  # younger than a day: an upload may be under way
    assert incoming_sweep(older_than=timedelta(0)) == 2
    assert _incoming(s3_storage) == ([], [])
    assert _object(s3_storage, "datasets/kept") == b"y"


def _unreachable(settings) -> None:
    """The portal's storage is an endpoint where nothing listens."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_from_url(f"s3://k:s@127.0.0.1:{free_port()}/nowhere?secure=false"),
    }


def test_an_export_that_cannot_be_saved_fails_with_the_storages_message(team, settings):
    export = event_export_request(actor=team.people[Role.BUSINESS_OWNER], project=team.project)
    _unreachable(settings)
    event_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert (export.status, export.file.name) == ("failed", "")
    assert export.error == "The file storage could not be reached; try again shortly."


def test_a_pack_that_cannot_be_saved_fails_with_the_storages_message(team, settings):
    _unreachable(settings)
    pack = make_pack(team)
    assert (pack.status, pack.pdf.name, pack.pdf_sha256) == ("failed", "", "")
    assert pack.error == "The file storage could not be reached; try again shortly."
