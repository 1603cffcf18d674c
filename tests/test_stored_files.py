"""Stored files on the local disk: a file gone from under the portal is named, not a 500."""

from __future__ import annotations

import os

from projects.models import DatasetVersion, Role
from projects.services import datasets
from projects.services.uploads import upload_from_bytes
from tests.data import sample_csv


def test_a_file_removed_from_the_disk_fails_the_job_with_its_name(world):
    a = world["a"]
    upload = upload_from_bytes("loans.csv", sample_csv(seed=21))
    version, _ = datasets.version_upload(
        actor=a.people[Role.ML_ENGINEER], dataset=a.dataset, upload=upload
    )
    os.unlink(version.file.path)

    datasets.version_ingest(version_id=version.pk)
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == "failed"
    assert f"The stored file {version.file.name!r} is missing" in version.error


def test_a_download_whose_file_went_answers_404(client, world):
    a = world["a"]
    os.unlink(a.measurement.attachment.path)
    client.force_login(a.people[Role.BUSINESS_OWNER])
    response = client.get(f"/measurements/{a.measurement.pk}/attachment/")
    assert response.status_code == 404
    assert b"is missing from the file storage" in response.content
