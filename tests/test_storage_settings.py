"""STORAGE_URL: the local disk by default, S3-compatible object storage when set."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.settings import storage_from_url


def test_it_keeps_the_local_disk_without_a_url():
    assert storage_from_url("") == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_it_reads_a_custom_endpoint_with_path_style_addressing():
    entry = storage_from_url("s3://AK:s%2Fcret@minio.internal:9000/files?region=eu-west-1")
    options = entry["OPTIONS"]
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    assert options["endpoint_url"] == "https://minio.internal:9000"
    assert (options["access_key"], options["secret_key"]) == ("AK", "s/cret")
    assert (options["bucket_name"], options["region_name"]) == ("files", "eu-west-1")
    assert options["addressing_style"] == "path"
    assert options["client_config"].s3 == {"addressing_style": "path"}
    # A stored name is never silently replaced, as on the local disk.
    assert options["file_overwrite"] is False


def test_it_speaks_plain_http_only_when_told():
    options = storage_from_url("s3://AK:SK@127.0.0.1:8333/b?secure=false&prefix=/media/")["OPTIONS"]
    assert options["endpoint_url"] == "http://127.0.0.1:8333"
    assert options["location"] == "media"


def test_it_fills_in_from_the_aws_variables(monkeypatch):
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "from-env")
    monkeypatch.setenv("AWS_S3_REGION_NAME", "ca-central-1")
    options = storage_from_url("s3://")["OPTIONS"]
    assert (options["bucket_name"], options["region_name"]) == ("from-env", "ca-central-1")
    # No host and no keys: AWS itself, with boto3 finding the credentials.
    assert "endpoint_url" not in options and "access_key" not in options


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("gs://bucket", "scheme"),
        ("s3://host/", "one bucket"),
        ("s3://host/a/b", "one bucket"),
        ("s3://host/b?secure=yes", "secure"),
        ("s3://host/b?expire=0", "expire"),
        ("s3://host/b?regoin=x", "unknown options: regoin"),
    ],
)
def test_it_refuses_what_it_cannot_read(monkeypatch, url, complaint):
    monkeypatch.delenv("AWS_STORAGE_BUCKET_NAME", raising=False)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        storage_from_url(url)
