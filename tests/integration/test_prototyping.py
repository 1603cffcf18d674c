"""The prototyping path on a real worker: upload, profile, train baselines, evaluate."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from projects.models import DatasetVersion, Event, Role
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import UserFactory, build_team
from tests.harness import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def team(transactional_db):
    return build_team("p", UserFactory(username="p_external"))


SIGNED = "Success criteria signed off by a business owner and an ML engineer"
PACK = "Approval pack rendered for exactly this state"


def _finished(api, url: str):
    def check():
        body = api.get(url).json()
        return body if body["status"] in ("succeeded", "failed") else None

    return check


def test_the_worker_profiles_trains_and_evaluates(worker, team, api):
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    dataset = team.dataset
    upload = api.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": SimpleUploadedFile("big.csv", sample_csv(rows=5000, seed=11))},
        format="multipart",
    )
    assert upload.status_code == 202, upload.json()
    version = wait_for(_finished(api, upload["Location"]), 90, "the profile")
    assert version["status"] == "succeeded", version["error"]
    assert version["rows"] == 5000
    assert version["progress"] == 100

    run = api.post(f"/api/v1/dataset-versions/{version['id']}/baseline-runs/", {}, format="json")
    assert run.status_code == 202, run.json()
    done = wait_for(_finished(api, run["Location"]), 180, "the baseline run")
    assert done["status"] == "succeeded", done["error"]
    assert {m["model"] for m in done["result"]["models"]} == {
        "dummy",
        "linear",
        "gradient_boosting",
    }

    evaluation = api.post(
        f"/api/v1/models/{team.model.pk}/evaluations/",
        {
            "file": SimpleUploadedFile("p.csv", predictions_csv(sample_frame(rows=5000, seed=11))),
            "dataset_version": version["id"],
            "y_true": "label",
            "y_pred": "prediction",
            "y_score": "score",
        },
        format="multipart",
    )
    assert evaluation.status_code == 202, evaluation.json()
    scored = wait_for(_finished(api, evaluation["Location"]), 90, "the evaluation")
    assert scored["status"] == "succeeded", scored["error"]
    kinds = {e["kind"] for row in scored["comparison"] for e in row["entries"]}
    # The world's recorded baseline ("Rules") stands beside the trained ones.
    assert kinds == {"model", "trained", "baseline"}
    # Profiled exactly once by the worker, however its task was delivered.
    profiled = Event.objects.filter(verb="dataset_version.profiled", target_id=str(version["id"]))
    assert profiled.count() == 1

    audit = api.post(f"/api/v1/evaluations/{scored['id']}/audits/")
    assert audit.status_code == 202, audit.json()
    audited = wait_for(_finished(api, audit["Location"]), 90, "the audit")
    assert audited["status"] == "succeeded", audited["error"]
    assert audited["progress"] == 100
    gates = f"/api/v1/projects/{team.project.slug}/gates/"
    check = next(c for c in api.get(gates).json()["checks"] if "Fairness" in c["name"])
    assert not check["passed"] and "waits for an auditor" in check["detail"]
    auditor = APIClient()
    auditor.force_authenticate(team.people[Role.AUDITOR])
    review = auditor.post(
        f"{audit['Location']}reviews/",
        {"decision": "approve", "rationale": "Within limits on 5000 rows."},
        format="json",
    )
    assert review.status_code == 201, review.json()
    failing = {c["name"] for c in api.get(gates).json()["checks"] if not c["passed"]}
    # The new evaluation and audit replaced the evidence the criteria were signed on, and
    # the project's state is no longer the one its pack (none yet) was rendered from.
    assert failing == {SIGNED, PACK}, failing
    for role in (Role.BUSINESS_OWNER, Role.ML_ENGINEER):
        person = APIClient()
        person.force_authenticate(team.people[role])
        signed = person.post(
            f"/api/v1/criteria-versions/{team.criteria.pk}/signoffs/",
            {"role": role, "decision": "approve"},
            format="json",
        )
        assert signed.status_code == 201, signed.json()
    pack = api.post(f"/api/v1/projects/{team.project.slug}/approval-packs/")
    assert pack.status_code == 202, pack.json()
    rendered = wait_for(_finished(api, pack["Location"]), 180, "the approval pack")
    assert rendered["status"] == "succeeded", rendered["error"]
    assert rendered["pages"] > 1 and len(rendered["pdf_sha256"]) == 64
    assert api.get(gates).json()["passed"] is True


def _files(folder) -> list[str]:
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file())


def test_an_upload_cut_off_halfway_leaves_nothing(live_server, team, settings):
    """The client announces a body, sends half of it and hangs up."""
    media_before, scratch_before = (
        _files(settings.MEDIA_ROOT),
        _files(settings.FILE_UPLOAD_TEMP_DIR),
    )
    versions_before = DatasetVersion.objects.count()
    boundary = "stagegateboundary"
    content = sample_csv(rows=20_000, seed=12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + content + tail
    url = urlsplit(live_server.url)
    request = (
        f"POST /api/v1/datasets/{team.dataset.pk}/versions/ HTTP/1.1\r\n"
        f"Host: {url.hostname}:{url.port}\r\n"
        f"Authorization: Token {team.token_key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(request + body[: len(body) // 2])
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status = reply.split(b" ", 2)[1] if reply else b"(closed)"
    assert status in (b"400", b"(closed)"), reply[:300]
    assert DatasetVersion.objects.count() == versions_before
    assert _files(settings.MEDIA_ROOT) == media_before
    assert _files(settings.FILE_UPLOAD_TEMP_DIR) == scratch_before
