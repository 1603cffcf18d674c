"""Audit-trail appends per second on PostgreSQL: one writer, against 16 concurrent
writers on 16 projects (separate chains) and 16 on one project (one chain, as every
write in the portal used to share).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python \\
        benchmarks/event_appends.py --appends 300

Each append is its own transaction, as a request's is; each writer is a process. The
script makes and drops a throwaway test database. Peak memory is the maximum resident
set size of this process and of the largest writer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.db import connection, connections, transaction  # noqa: E402


def _write(project_pk: int, per_writer: int) -> None:
    from projects.models import Project
    from projects.services.events import event_record

    project = Project.objects.select_related("team").get(pk=project_pk)
    for n in range(per_writer):
        with transaction.atomic():
            event_record(
                actor=None,
                verb="bench.append",
                target=project,
                project=project,
                payload={"n": n},
            )


def appends(projects, per_writer: int) -> tuple[float, int]:
    """Each project gets one writer process appending ``per_writer`` events, each in
    its own transaction (processes, so Python's GIL does not serialize the writers)."""
    connections.close_all()  # each forked writer opens its own connection
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write, args=(p.pk, per_writer)) for p in projects]
    started = time.perf_counter()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    seconds = time.perf_counter() - started
    failed = [w.exitcode for w in writers if w.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} writers failed")
    return len(projects) * per_writer / seconds, len(projects) * per_writer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=300, help="appends per writer")
    parser.add_argument("--writers", type=int, default=16)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server: SQLite has one writer.")

    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from tests.factories import make_project, make_team

        team = make_team("bench-team")
        projects = [make_project(team, f"bench-{n}") for n in range(args.writers)]
        connections.close_all()
        single, n1 = appends(projects[:1], args.appends)
        spread, n16 = appends(projects, args.appends)
        shared, n16s = appends([projects[0]] * args.writers, args.appends)
        from django.core.management import call_command

        call_command("verify_events", stdout=open(os.devnull, "w"))  # noqa: SIM115
        result = {
            "one_writer_per_second": round(single),
            f"{args.writers}_writers_{args.writers}_projects_per_second": round(spread),
            f"{args.writers}_writers_one_project_per_second": round(shared),
            "ratio_spread_to_one_writer": round(spread / single, 2),
            "ratio_one_project_to_one_writer": round(shared / single, 2),
            "appends": n1 + n16 + n16s,
            "peak_rss_mb_parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_rss_mb_largest_writer": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            ),
            "verify_events": "intact",
        }
        print(json.dumps(result, indent=2))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
