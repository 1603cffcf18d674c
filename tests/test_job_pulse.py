"""A delivery's pulse: its heartbeat kept from a thread of its own while the work runs, so
a dead worker host is noticed within four missed beats, not after the job's time limit."""

from __future__ import annotations

import time

import pytest

from portal import jobs
from projects.models import EventExport, Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pulsing(settings, monkeypatch):
    # As in a worker's pool process (portal/celery.py), with beats 50 ms apart.
    settings.JOB_PULSE_SECONDS = 0.05
    monkeypatch.setattr(jobs, "_pulsing", True)


def _export(world) -> EventExport:
    a = world["a"]
    return EventExport.objects.create(project=a.project, requested_by=a.people[Role.VIEWER])


def _beats_while(export: EventExport, seconds: float) -> list:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(EventExport.objects.values_list("heartbeat_at", flat=True).get(pk=export.pk))
        time.sleep(0.05)
    return seen


def test_a_delivery_beats_while_its_work_reports_nothing(pulsing, world):
    export = _export(world)
    seen = []

    def work(job, progress):
        seen.extend(_beats_while(export, 0.6))

    jobs.job_run(EventExport, export.pk, work)
    assert len(set(seen)) >= 4, seen  # the heartbeat moved on its own, several times
    assert EventExport.objects.get(pk=export.pk).status == EventExport.Status.SUCCEEDED


def test_a_delivery_taken_over_stops_beating(pulsing, world):
    export = _export(world)
    after = []

    def work(job, progress):
        # Another delivery claims the job: this one's claim no longer matches the row.
        EventExport.objects.filter(pk=export.pk).update(deliveries=job.deliveries + 1)
        time.sleep(0.2)
        after.extend(_beats_while(export, 0.4))

    jobs.job_run(EventExport, export.pk, work)
    assert len(set(after)) == 1, after


def test_outside_a_worker_process_a_job_runs_without_a_pulse(settings, world):
    settings.JOB_PULSE_SECONDS = 0.05
    export = _export(world)
    seen = []

    def work(job, progress):
        seen.extend(_beats_while(export, 0.3))

    jobs.job_run(EventExport, export.pk, work)
    assert len(set(seen)) == 1, seen
