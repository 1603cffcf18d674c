"""A worker whose PostgreSQL connection is killed in the middle of a job."""

from __future__ import annotations

import psutil
import pytest
from django.core.management import call_command
from django.db import connection

from portal.celery import app
from projects.models import Event, EventExport, Role
from tests.factories import UserFactory, build_team
from tests.harness import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="pg_terminate_backend ends a server connection; SQLite has none to end",
    ),
]


@pytest.fixture
def team(transactional_db):
    return build_team("f", UserFactory(username="f_external"))


def _backend_of(pid: int) -> tuple[int, str] | None:
    """The server process (and its state) serving the database connection of client
    process ``pid``, found by the client's TCP port."""
    port = int(connection.settings_dict["PORT"] or 5432)
    ports = [
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port
    ]
    if not ports:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports]
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def _terminate(backend: int) -> None:
    with connection.cursor() as cursor:
        # Wait (up to 5 s) until the server process has really gone.
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [backend])
        assert cursor.fetchone()[0], f"backend {backend} did not end"


@pytest.mark.parametrize(
    ("where", "message", "state"),
    [("work", "paused", "idle"), ("store", "storing", "idle in transaction")],
    ids=["while-working", "while-storing"],
)
def test_a_job_whose_database_connection_is_killed_finishes_once(
    worker, team, where, message, state
):
    """The first delivery holds still, its connection idle or in the middle of storing the
    result; the test ends that connection on the server. The delivery must start over on
    a new connection and the job succeed once, with nothing of the first try stored."""
    owner = team.people[Role.BUSINESS_OWNER]
    export = EventExport.objects.create(project=team.project, requested_by=owner)
    app.send_task("tests.db_fault_job", args=[export.pk, where])

    def paused():
        export.refresh_from_db()
        if export.status != "running" or export.message != message:
            return None
        runner = int(export.runner.rpartition(":")[2])
        backend = _backend_of(runner)
        return backend if backend and backend[1] == state else None

    backend, _ = wait_for(paused, 30, f"the job's connection to be {state}", interval=0.05)
    _terminate(backend)

    def finished():
        export.refresh_from_db()
        return export.is_finished

    wait_for(finished, 60, "the job to finish")
    assert export.status == "succeeded", export.error
    # The cut delivery took the job again on a new connection: the second delivery.
    assert export.deliveries == 2
    assert export.rows == 2, "the result stored is the second delivery's, whole"
    finished_events = Event.objects.filter(verb="test.workload.finished", target_id=str(export.pk))
    assert finished_events.count() == 1
    call_command("verify_events")
