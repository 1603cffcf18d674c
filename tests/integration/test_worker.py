"""Jobs through a real broker and a real worker process, including workers that die."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import call_command

from portal.celery import app
from portal.jobs import jobs_sweep
from projects.models import Event, EventExport, Role
from tests.factories import UserFactory, build_team
from tests.harness import ROOT, child_env, wait_for

pytestmark = pytest.mark.integration


def status_of(export: EventExport) -> EventExport:
    export.refresh_from_db()
    return export


@pytest.fixture
def team(transactional_db):
    return build_team("w", UserFactory(username="w_external"))


def test_an_export_runs_on_the_worker_and_reports_progress(worker, team, api):
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    response = api.post(f"/api/v1/projects/{team.project.slug}/event-exports/")
    assert response.status_code == 202
    url = response["Location"]

    def finished():
        body = api.get(url).json()
        return body if body["status"] in ("succeeded", "failed") else None

    body = wait_for(finished, 60, "the export to finish")
    assert body["status"] == "succeeded", body
    assert body["progress"] == 100
    csv = api.get(body["download"])
    assert csv.status_code == 200
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0].startswith("chain,seq,created_at,actor,verb")
    assert len(lines) - 1 == body["rows"] == Event.objects.filter(project=team.project).count() - 1


def test_a_job_whose_worker_is_killed_is_redelivered_and_finishes_once(worker, team):
    owner = team.people[Role.BUSINESS_OWNER]
    export = EventExport.objects.create(project=team.project, requested_by=owner)
    app.send_task("tests.slow_job", args=[export.pk])

    running = wait_for(
        lambda: (e := status_of(export)).status == "running" and e.progress >= 9 and e,
        60,
        "the job to be running",
    )
    first_runner = int(running.runner.rpartition(":")[2])
    assert first_runner in worker.pool_children()
    os.kill(first_runner, signal.SIGKILL)

    done = wait_for(lambda: status_of(export).is_finished and export, 90, "the job to finish")
    assert done.status == "succeeded", done.error
    assert done.deliveries == 2
    assert int(done.runner.rpartition(":")[2]) != first_runner
    assert (
        Event.objects.filter(verb="test.workload.finished", target_id=str(export.pk)).count() == 1
    )
    call_command("verify_events")


def test_a_job_that_kills_its_worker_every_time_is_failed(worker, team):
    owner = team.people[Role.BUSINESS_OWNER]
    export = EventExport.objects.create(project=team.project, requested_by=owner)
    app.send_task("tests.fatal_job", args=[export.pk])

    done = wait_for(lambda: status_of(export).is_finished and export, 120, "the job to be failed")
    assert done.status == "failed"
    assert done.deliveries == 3
    assert "Stopped after 3 deliveries" in done.error
    assert worker.proc.poll() is None, "the worker itself stays up"


def test_a_redelivered_finished_job_does_nothing(worker, team):
    owner = team.people[Role.BUSINESS_OWNER]
    export = EventExport.objects.create(project=team.project, requested_by=owner)
    app.send_task("tests.slow_job", args=[export.pk])
    wait_for(lambda: status_of(export).status == "succeeded", 60, "the job to succeed")
    app.send_task("tests.slow_job", args=[export.pk])
    app.send_task("tests.slow_job", args=[export.pk])
    # Wait until the worker has run all three deliveries, then look at the outcome.
    wait_for(lambda: worker.log.read_text().count("tests.slow_job[") >= 6, 60, "three deliveries")
    assert status_of(export).deliveries == 1
    assert Event.objects.filter(verb="test.workload.finished").count() == 1


def test_a_request_answers_quickly_when_the_broker_is_down_and_the_sweeper_catches_up(
    worker, team, tmp_path
):
    """The web process talks to a broker that is not there; the row waits for the sweeper."""
    port = "8765"
    with open(tmp_path / "web.log", "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=child_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0", DEBUG="true"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/accounts/login/"), 30, "the web server")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/projects/{team.project.slug}/event-exports/",
            method="POST",
            headers={"Authorization": f"Token {team.token_key}"},
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
            status = response.status
        elapsed = time.monotonic() - started
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=10)
    assert status == 202
    assert elapsed < 5, f"the request took {elapsed:.1f}s with the broker down"
    export = EventExport.objects.get(pk=body["id"])
    assert export.status == "queued" and export.published_at is None

    # The sweeper (run by beat in production) publishes it once the broker is reachable.
    EventExport.objects.filter(pk=export.pk).update(
        created_at=export.created_at.replace(year=export.created_at.year - 1)
    )
    assert jobs_sweep() >= 1
    wait_for(lambda: status_of(export).status == "succeeded", 60, "the swept job to finish")


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
