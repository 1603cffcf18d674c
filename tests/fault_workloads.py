"""Workloads for the broker fault tests, loaded into their workers with ``--include``."""

from __future__ import annotations

import time

from celery import shared_task

from portal.jobs import job_run
from projects.models import EventExport
from projects.services.events import event_record

#: The verb of the event each workload appends when it finishes, once per job.
FINISHED = "test.workload.finished"


def _long(seconds: float):
    def work(export, progress):
        started = time.monotonic()
        # Heartbeats a few times a second, as a real job reports its progress.
        while (elapsed := time.monotonic() - started) < seconds:
            progress(int(elapsed / seconds * 90), "working")
            time.sleep(0.25)

        def store() -> None:
            event_record(
                actor=export.requested_by, verb=FINISHED, target=export, project=export.project
            )

        return store

    return work


@shared_task(name="tests.long_job")
def long_job(export_id: int, seconds: float) -> None:
    """Runs for ``seconds``, longer than a short broker visibility timeout."""
    job_run(EventExport, export_id, _long(seconds))
