"""Each job class goes to its own queue with its own limits; only one beat sends."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from portal import jobs
from portal.beat import BEAT_LEASE, SingleBeatScheduler, lease_release, lease_take
from portal.celery import app
from portal.models import Lease
from portal.queues import DEFAULT_QUEUE, QUEUES, worker_max_memory_kib
from portal.settings import queue_limits
from projects.models import EventExport
from tests.factories import UserFactory, build_team

#: What each task is for decides its queue; this is the table docs/operations.md sizes.
EXPECTED_QUEUES = {
    "projects.dataset_version_ingest": "ingest",
    "projects.evaluation_run": "ingest",
    "deployments.label_batch": "ingest",
    "audits.baseline_run": "train",
    "audits.mitigation_run": "train",
    "audits.audit_run": "audit",
    "audits.pack_render": "render",
    "audits.monitoring_report_render": "render",
    "projects.event_export_run": "render",
    "deployments.drift_check": "monitor",
    "deployments.production_metrics": "monitor",
    "deployments.drift_checks_schedule": "monitor",
    "deployments.alert_rules_evaluate": "monitor",
    "deployments.alert_deliver": "monitor",
    "deployments.alert_deliveries_sweep": "monitor",
    "deployments.rollups_refresh": "monitor",
    "deployments.rollups_sweep": "monitor",
    "deployments.metric_points_upkeep": "monitor",
    "portal.jobs_sweep": "monitor",
    "portal.incoming_sweep": "monitor",
    "projects.events_checkpoint": "monitor",
    "audits.exceptions_remind": "monitor",
}
OURS = ("projects.", "audits.", "deployments.", "portal.")


def routed_queue(task_name: str) -> str:
    """The queue Celery's own router sends ``task_name`` to."""
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.fixture(scope="module")
def registered() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(OURS)}


def test_it_routes_each_task_to_its_class_queue(registered):
    assert {name: routed_queue(name) for name in registered} == EXPECTED_QUEUES


def test_it_routes_every_job_to_a_class_queue():
    models = jobs.job_models()
    assert len(models) >= 11
    for model in models:
        assert routed_queue(model.task_name) in QUEUES, model.__name__


def test_it_sends_tasks_it_does_not_know_to_the_default_queue():
    assert routed_queue("tests.slow_job") == DEFAULT_QUEUE == app.conf.task_default_queue


def test_it_defines_every_queue_so_a_worker_without_q_serves_them_all():
    assert {queue.name for queue in app.conf.task_queues} == {*QUEUES, DEFAULT_QUEUE}
    # With no -Q, a worker consumes from every queue the app defines.
    assert set(app.amqp.queues.consume_from) == {*QUEUES, DEFAULT_QUEUE}


def test_it_gives_each_task_its_queue_limits(registered, settings):
    for name, task in registered.items():
        limits = settings.JOB_QUEUES[EXPECTED_QUEUES[name]]
        assert (task.soft_time_limit, task.time_limit) == (
            limits.soft_time_limit,
            limits.time_limit,
        ), name
    render, train = settings.JOB_QUEUES["render"], settings.JOB_QUEUES["train"]
    assert render.time_limit < train.time_limit


def test_it_reads_a_queues_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELERY_RENDER_SOFT_TIME_LIMIT", "100")
    monkeypatch.setenv("CELERY_RENDER_MAX_MEMORY_MB", "700")
    limits = queue_limits("render", 300, 1024)
    assert (limits.soft_time_limit, limits.time_limit, limits.max_memory_mb) == (100, 160, 700)
    monkeypatch.setenv("CELERY_RENDER_TIME_LIMIT", "100")
    with pytest.raises(ImproperlyConfigured, match="CELERY_RENDER_TIME_LIMIT"):
        queue_limits("render", 300, 1024)


def test_it_gives_a_worker_the_memory_limit_of_its_largest_queue(settings):
    limits = settings.JOB_QUEUES
    assert worker_max_memory_kib(limits, ["render"]) == limits["render"].max_memory_mb * 1024
    everything = max(limit.max_memory_mb for limit in limits.values()) * 1024
    assert worker_max_memory_kib(limits, None) == everything
    assert (
        worker_max_memory_kib(limits, ["render", "train"])
        == max(limits["render"].max_memory_mb, limits["train"].max_memory_mb) * 1024
    )


def test_a_jobs_silence_limit_is_four_missed_pulses_whatever_its_queue(settings):
    settings.JOB_STALE_SECONDS, settings.JOB_PULSE_SECONDS = 30, 15
    assert jobs.silence_limit() == timedelta(seconds=60)
    settings.JOB_STALE_SECONDS = 120
    assert jobs.silence_limit() == timedelta(seconds=120)


class Published:
    """The task name and routing key of every message this process publishes."""

    def __init__(self):
        self.messages: list[tuple[str, str]] = []

    def __call__(self, sender=None, routing_key=None, **kwargs):
        self.messages.append((sender, routing_key))


@pytest.fixture
def published():
    seen = Published()
    before_task_publish.connect(seen, weak=False)
    yield seen
    before_task_publish.disconnect(seen)
    # What the test sent stays out of the next worker's way.
    app.control.purge()


def test_the_sweeper_republishes_a_lost_job_to_its_queue(db, published):
    team = build_team("q", UserFactory(username="q_external"))
    export = EventExport.objects.create(
        project=team.project,
        requested_by=team.people["business_owner"],
        created_at=timezone.now() - timedelta(minutes=5),
    )
    assert jobs.jobs_sweep() == 1
    assert published.messages == [("projects.event_export_run", "render")]
    export.refresh_from_db()
    assert export.published_at is not None


# --- one beat -------------------------------------------------------------------------


def test_a_lease_is_renewed_by_its_holder_and_refused_to_another(db):
    now = timezone.now()
    assert lease_take(name="x", holder="a", seconds=30, now=now)
    assert not lease_take(name="x", holder="b", seconds=30, now=now + timedelta(seconds=29))
    assert lease_take(name="x", holder="a", seconds=30, now=now + timedelta(seconds=29))
    # Renewed at 29 s, it holds until 59 s.
    assert not lease_take(name="x", holder="b", seconds=30, now=now + timedelta(seconds=58))
    assert lease_take(name="x", holder="b", seconds=30, now=now + timedelta(seconds=60))
    assert Lease.objects.get(name="x").holder == "b"
    assert not lease_take(name="x", holder="a", seconds=30, now=now + timedelta(seconds=61))


def test_a_released_lease_is_free_at_once(db):
    assert lease_take(name="x", holder="a", seconds=30)
    lease_release(name="x", holder="b")  # not b's to release
    assert not lease_take(name="x", holder="b", seconds=30)
    lease_release(name="x", holder="a")
    assert lease_take(name="x", holder="b", seconds=30)


def _everything_due() -> None:
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(days=2))


def _ticks(scheduler: SingleBeatScheduler) -> None:
    """Ticks until nothing more is due: a tick sends one due task."""
    for _ in range(50):
        if scheduler.tick() > 0:
            return
    raise AssertionError("the scheduler kept finding tasks due")


@pytest.fixture
def schedulers(transactional_db, settings, published):
    """Two beats' schedulers against the same database, with a lease of a third of a
    second, so it expires within the test."""
    settings.BEAT_LEASE_SECONDS = 0.3
    made: list[SingleBeatScheduler] = []

    def make() -> SingleBeatScheduler:
        scheduler = SingleBeatScheduler(app=app)
        made.append(scheduler)
        return scheduler

    yield make
    # As beat does on its way out: what was sent is written down, the lease released.
    for scheduler in made:
        scheduler.close()


def test_of_two_beats_only_the_lease_holder_sends(schedulers, published, caplog, settings):
    first = schedulers()
    with caplog.at_level(logging.WARNING, logger="portal.beat"):
        second = schedulers()
    assert first.holds and not second.holds
    assert f"beat {second.holder} is standing by: beat {first.holder} holds" in caplog.text
    _everything_due()

    _ticks(second)
    assert published.messages == []
    _ticks(first)
    sent = dict(published.messages)
    ours = {name: queue for name, queue in sent.items() if name.startswith(OURS)}
    assert ours == {
        name: "monitor"
        for name in (entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values())
    }

    published.messages.clear()
    _everything_due()
    _ticks(second)
    assert published.messages == []


def test_a_standing_beat_takes_over_when_the_holder_stops(schedulers, published):
    first, second = schedulers(), schedulers()
    first.close()
    _everything_due()
    _ticks(second)
    assert second.holds
    assert "portal.jobs_sweep" in dict(published.messages)


def test_a_standing_beat_takes_over_once_a_dead_holders_lease_expires(schedulers, published):
    first, second = schedulers(), schedulers()
    # The first beat dies: it neither renews nor releases its lease.
    _ticks(second)
    assert not second.holds
    time.sleep(0.35)
    _everything_due()
    _ticks(second)
    assert second.holds
    assert Lease.objects.get(name=BEAT_LEASE).holder == second.holder
    assert "portal.jobs_sweep" in dict(published.messages)

    # A holder that was only stalled finds the lease taken and stands by, sending nothing.
    published.messages.clear()
    _everything_due()
    _ticks(first)
    assert not first.holds
    assert published.messages == []
