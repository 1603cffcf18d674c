"""Writers that meet on the database: separate chains, lock order, lost deliveries,
and an unreachable cache. The lock tests need PostgreSQL: SQLite runs one writer at
a time, so it can neither deadlock nor show who waits for whom."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from portal.jobs import Job, job_claim, jobs_sweep, runner_is_gone
from projects.models import DatasetVersion, EventExport, Role
from projects.services import datasets
from projects.services.events import event_record
from tests.factories import UserFactory, build_team, make_dataset

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks, lock waits and deadlocks exist only on PostgreSQL here",
)


def _in_thread(fn):
    """Run ``fn`` in a thread with its own connection; return (thread, outcome dict)."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until_blocked(pid: int) -> None:
    """Poll until backend ``pid`` waits on a lock (bounded: 10 s)."""
    deadline = time.monotonic() + 10
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_it_lets_writers_to_different_projects_pass_each_other():
    a = build_team("a", UserFactory(username="a_external"))
    b = build_team("b", UserFactory(username="b_external"))
    holding, release = threading.Event(), threading.Event()

    def hold_a():
        from django.db import transaction

        with transaction.atomic():
            event_record(actor=None, verb="test.hold", target=a.project, project=a.project)
            holding.set()
            release.wait(10)

    thread, outcome = _in_thread(hold_a)
    assert holding.wait(10)
    try:
        with connection.cursor() as cursor:
            # Waiting on project A's chain would fail here instead of hanging the test.
            cursor.execute("SET lock_timeout = '3s'")
        event_record(actor=None, verb="test.pass", target=b.project, project=b.project)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        release.set()
        thread.join(10)
    assert "error" not in outcome


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_finishing_change_and_an_upload_to_one_dataset_do_not_deadlock():
    """An upload holds the chain's head and has a new row pointing at the dataset (its
    foreign key is checked at commit); meanwhile a change locks that dataset and waits
    for the head. With the dataset locked FOR UPDATE the commit's key-share check waits
    on it: a deadlock. Locked FOR NO KEY UPDATE, both finish."""
    from django.db import transaction

    world = build_team("d", UserFactory(username="d_external"))
    engineer = world.people[Role.ML_ENGINEER]
    dataset = make_dataset(world.project, engineer, name="raced")
    upload_holds_head, pid = threading.Event(), {}

    def upload():
        with transaction.atomic():
            event_record(actor=None, verb="test.upload", target=dataset, project=world.project)
            DatasetVersion.objects.create(
                dataset=dataset,
                number=99,
                file="x",
                size_bytes=1,
                sha256="0" * 64,
                uploaded_by=engineer,
            )
            upload_holds_head.set()
            _wait_until_blocked(pid["change"])
        return "committed"

    def change():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid["change"] = cursor.fetchone()[0]
        upload_holds_head.wait(10)
        return datasets.dataset_update(actor=engineer, dataset=dataset, description="new")

    change_thread, change_outcome = _in_thread(change)
    while "change" not in pid:
        time.sleep(0.01)
    upload_thread, upload_outcome = _in_thread(upload)
    upload_thread.join(20)
    change_thread.join(20)
    assert upload_outcome == {"value": "committed"}
    assert "error" not in change_outcome, change_outcome.get("error")
    from django.core.management import call_command

    call_command("verify_events")


def _running_job(**fields) -> EventExport:
    world = build_team("j", UserFactory(username="j_external"))
    owner = world.people[Role.BUSINESS_OWNER]
    now = timezone.now()
    fields = {"started_at": now, "heartbeat_at": now, **fields}
    return EventExport.objects.create(
        project=world.project, requested_by=owner, status=Job.Status.RUNNING, deliveries=1, **fields
    )


@pytest.mark.django_db
def test_a_stale_heartbeat_is_a_lost_delivery_even_with_its_process_alive():
    """The runner is this very process, so it is alive; but a heartbeat 14 minutes old
    is past any live delivery's time limit: the job must be taken over, not left."""
    stale = timezone.now() - timedelta(minutes=14)
    job = _running_job(runner=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=stale)
    assert runner_is_gone(job)
    assert jobs_sweep() >= 1
    claimed = job_claim(EventExport, job.pk)
    assert claimed is not None and claimed.deliveries == 2


@pytest.mark.django_db
def test_a_fresh_heartbeat_of_a_live_runner_keeps_its_job():
    job = _running_job(runner=f"{socket.gethostname()}:{os.getpid()}")
    assert not runner_is_gone(job)
    assert job_claim(EventExport, job.pk) is None


UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 9 (discard) on loopback: the connection is refused.
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
    }
}


@pytest.mark.django_db
def test_the_api_keeps_answering_when_the_cache_is_down(api, world):
    engineer = world["a"].people[Role.ML_ENGINEER]
    api.force_authenticate(engineer)
    with override_settings(CACHES=UNREACHABLE_CACHE):
        assert api.get("/api/v1/projects/").status_code == 200
        assert api.get("/api/v1/projects/a-project/gates/").status_code == 200
        created = api.post("/api/v1/projects/a-project/event-exports/")
        assert created.status_code in (201, 202), created.content
    api.force_authenticate(None)
    with override_settings(CACHES=UNREACHABLE_CACHE):
        assert api.get("/api/v1/projects/").status_code == 401
