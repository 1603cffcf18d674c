"""Workers serve the queues they are told, and all of them when told none."""

from __future__ import annotations

import time

import pytest

from portal.celery import app
from portal.jobs import job_publish
from projects.models import Event, EventExport, Role
from tests.factories import UserFactory, build_team
from tests.harness import Worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def team(transactional_db):
    return build_team("qw", UserFactory(username="qw_external"))


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    # Jobs left in the queues by an earlier run would run against this test database.
    app.control.purge()
    started: list[Worker] = []

    def start(*, queues: tuple[str, ...] = (), **env: str) -> Worker:
        folder = tmp_path / str(len(started))
        folder.mkdir()
        worker = Worker(folder, queues=queues, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _export(team) -> EventExport:
    export = EventExport.objects.create(
        project=team.project, requested_by=team.people[Role.BUSINESS_OWNER]
    )
    assert job_publish(EventExport, export.pk)
    return export


def _finished(export: EventExport) -> EventExport | None:
    export.refresh_from_db()
    return export if export.is_finished else None


def _pid(job: EventExport) -> str:
    return job.runner.rpartition(":")[2]


def _checkpoints() -> int:
    return Event.objects.filter(verb="trail.checkpoint").count()


def test_a_worker_serves_only_its_queues_and_one_without_q_serves_them_all(start_worker, team):
    start_worker(queues=("render",))
    before = _checkpoints()
    # A monitor task, sent first: the render worker must leave it in its queue.
    app.send_task("projects.events_checkpoint")
    export = _export(team)

    done = wait_for(lambda: _finished(export), 60, "the export to run on the render worker")
    assert done.status == "succeeded", done.error
    # Under the render queue's own memory limit, the same pool process takes the next one.
    again = _export(team)
    wait_for(lambda: _finished(again), 60, "the second export")
    assert _pid(again) == _pid(done)
    time.sleep(1)  # the filesystem broker's polling interval, twice over
    assert _checkpoints() == before, "the render worker took a monitor task"

    # A worker started as `make run` and the tests start it, without -Q, takes the rest.
    start_worker()
    wait_for(lambda: _checkpoints() > before, 60, "the checkpoint to run")


def test_a_queues_memory_limit_replaces_the_pool_process_after_a_task(start_worker, team):
    # Any pool process of the portal is larger than this; the limit is the queue's own.
    worker = start_worker(queues=("render",), CELERY_RENDER_MAX_MEMORY_MB="64")
    assert "above 64 MiB" in worker.log.read_text()
    first = _export(team)
    wait_for(lambda: _finished(first), 60, "the first export")
    second = _export(team)
    wait_for(lambda: _finished(second), 60, "the second export")
    assert first.status == second.status == "succeeded"
    assert _pid(first) != _pid(second)
