"""Workloads for the worker tests, loaded into the test worker with ``--include``.

They run through the real job wrapper on real job rows; only the work itself is
made slow (to be killed mid-way) or fatal (to kill its worker every time).
"""

from __future__ import annotations

import os
import time

from celery import shared_task

from portal.jobs import job_run
from projects.models import EventExport
from projects.services.events import event_record


def _slow(export, progress):
    for step in range(1, 31):
        time.sleep(0.1)
        progress(step * 3, f"step {step}")

    def store() -> None:
        event_record(
            actor=export.requested_by,
            verb="test.workload.finished",
            target=export,
            project=export.project,
        )

    return store


@shared_task(name="tests.slow_job")
def slow_job(export_id: int) -> None:
    job_run(EventExport, export_id, _slow)


@shared_task(name="tests.fatal_job")
def fatal_job(export_id: int) -> None:
    job_run(EventExport, export_id, lambda export, progress: os._exit(1))


#: How long the first delivery of a db_fault_job holds still for its connection to be cut.
PAUSE_SECONDS = 3.0


def _pausing(where: str):
    """Work that holds still once, on its first delivery: while working (the connection
    idle) or while storing (the connection in the middle of the result's transaction)."""

    def work(export, progress):
        first = export.deliveries == 1
        progress(10, "working")
        if first and where == "work":
            progress(20, "paused")
            time.sleep(PAUSE_SECONDS)
        progress(50, "storing")

        def store() -> None:
            event_record(
                actor=export.requested_by,
                verb="test.workload.finished",
                target=export,
                project=export.project,
            )
            if first and where == "store":
                time.sleep(PAUSE_SECONDS)
            EventExport.objects.filter(pk=export.pk).update(rows=export.deliveries, sha256="f" * 64)

        return store

    return work


@shared_task(name="tests.db_fault_job")
def db_fault_job(export_id: int, where: str) -> None:
    job_run(EventExport, export_id, _pausing(where))
