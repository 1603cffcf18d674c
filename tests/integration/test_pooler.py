"""The portal behind a real PgBouncer in transaction mode, with kept connections
(``conn_max_age``): concurrent appends to one trail, reads that walk the trail in chunks
while other threads hold the pooler's few server connections, and the trail's check.

Without a ``pgbouncer`` binary the test skips, except where ``REQUIRE_PGBOUNCER`` is set
(CI, which installs Debian's package), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from tests.harness import missing_part
from tests.load.stack import manage
from tests.servers import PrivatePgBouncer

pytestmark = pytest.mark.integration

PGBOUNCER = (
    os.environ.get("PGBOUNCER_PATH")
    or shutil.which("pgbouncer")
    or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
)
ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"

WORKLOAD = """
import threading
from django.core.management import call_command
from django.db import connection
from projects.models import Event
from projects.services.events import event_record
from tests.factories import make_project, make_team

project = make_project(make_team("pool-team"), "pool-project")
errors = []

def append(n):
    try:
        for i in range(40):
            event_record(actor=None, verb="bench.append", target=project, project=project,
                         payload={"writer": n, "i": i})
            if i % 10 == 0:
                # A walk in chunks while the other threads hold the server connections.
                seen = sum(1 for _ in Event.objects.filter(chain=f"project-{project.pk}")
                           .order_by("seq").iterator(chunk_size=7))
                assert seen >= i + 1
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("ERRORS", errors)
print("EVENTS", Event.objects.filter(chain=f"project-{project.pk}").count())
call_command("verify_events")
"""


@pytest.fixture
def pgbouncer_binary() -> str:
    if not PGBOUNCER:
        missing_part(
            "no pgbouncer on the PATH: apt-get install pgbouncer, or set PGBOUNCER_PATH",
            "REQUIRE_PGBOUNCER",
        )
    return PGBOUNCER


def test_the_portal_works_behind_a_transaction_pooler(pgbouncer_binary, tmp_path):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("runs with the PostgreSQL integration stage (DATABASE_URL)")
    name = f"stagegate_pool_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        with PrivatePgBouncer(binary=pgbouncer_binary) as pooler:
            env = {
                **os.environ,
                "DATABASE_URL": pooler.url(name) + "?pooler=transaction&conn_max_age=60",
                "VAR_DIR": str(tmp_path / "var"),
                "CACHE_URL": "",
                "CELERY_BROKER_URL": "filesystem://localhost/",
                "LOG_LEVEL": "WARNING",
            }
            manage(env, "migrate", "--no-input")
            out = manage(env, "shell", "-c", WORKLOAD)
    finally:
        subprocess.run(["psql", ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)
    assert "ERRORS []" in out, out
    # The project's creation, then six writers' forty appends each.
    assert "EVENTS 241" in out, out
    assert "intact" in out, out
