"""Stored files in S3-compatible object storage, against a real SeaweedFS server."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.s3 import S3Server, needs_weed, weed_s3

pytestmark = needs_weed


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
