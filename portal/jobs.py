"""Background jobs whose state lives on a database row, not in the broker.

A job model inherits :class:`Job` and names the Celery task that runs it. The
request writes the row and publishes on commit; the task claims the row with a
conditional update, reports progress (which is also its heartbeat) and finishes
with another conditional update, so a redelivered or duplicated task is a no-op
and a killed one is taken over. The sweeper republishes what the broker lost.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from portal.exceptions import ApplicationError
from portal.transactions import retry_atomic

log = logging.getLogger(__name__)


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    #: Name of the Celery task that runs this kind of job; it takes the row's id.
    task_name: str = ""

    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    runner = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class JobLost(Exception):
    """This delivery no longer owns the job (another delivery took it over)."""


Progress = Callable[[int, str], None]
#: The work of a job: computes, reporting progress, and returns the step that
#: stores its result. That step runs in the same transaction that marks the job
#: succeeded, so a result is stored exactly once.
Work = Callable[[Job, Progress], Callable[[], None] | None]


def current_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def silence_limit() -> timedelta:
    """How long a live delivery can go without a heartbeat: past Celery's hard time
    limit it would have been killed, so a quieter job has no delivery working on it."""
    return timedelta(seconds=max(settings.JOB_STALE_SECONDS, settings.CELERY_TASK_TIME_LIMIT + 60))


def runner_is_gone(job: Job, *, now=None) -> bool:
    """True when no delivery is working on ``job`` any more.

    A heartbeat older than :func:`silence_limit` says so whatever else is known: the
    runner's process may well live on, running other tasks. Sooner than that, a
    runner on this host that has exited says so too.
    """
    now = now or timezone.now()
    beat = job.heartbeat_at or job.started_at
    if beat is None or now - beat > silence_limit():
        return True
    host, _, pid = job.runner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def job_models() -> list[type[Job]]:
    return [m for m in apps.get_models() if issubclass(m, Job)]


def job_enqueue(job: Job) -> None:
    """Publish ``job`` once the surrounding transaction commits."""
    model, pk = type(job), job.pk
    transaction.on_commit(lambda: job_publish(model, pk))


def job_publish(model: type[Job], pk: int) -> bool:
    """Send the task; a broker that is down leaves the row queued for the sweeper."""
    from portal.celery import app

    try:
        app.send_task(model.task_name, args=[pk], retry=True)
    except Exception as exc:  # the broker's errors vary by transport
        log.warning("could not publish %s %s: %s", model.__name__, pk, exc)
        return False
    model.objects.filter(pk=pk).update(published_at=timezone.now())
    return True


#: Called, in the transaction that marks the job failed, with the job and its error.
OnFailure = Callable[[Job, str], None]


def _fail(
    model: type[Job], pk: int, deliveries: int, error: str, on_failure: OnFailure | None
) -> None:
    def fail() -> None:
        failed = model.objects.filter(
            pk=pk, status=Job.Status.RUNNING, deliveries=deliveries
        ).update(status=Job.Status.FAILED, error=error[:2000], finished_at=timezone.now())
        if failed and on_failure is not None:
            on_failure(model.objects.get(pk=pk), error[:2000])

    try:
        retry_atomic(fail)
    except Exception:
        # The row stays running; once its heartbeat is stale the sweeper hands it on.
        log.exception("could not record the failure of %s %s", model.__name__, pk)


def job_claim(model: type[Job], pk: int) -> Job | None:
    """Take the job for this delivery, or return None when there is nothing to do."""
    return retry_atomic(lambda: _claim(model, pk))


def _claim(model: type[Job], pk: int) -> Job | None:
    job = model.objects.select_for_update(no_key=True).filter(pk=pk).first()
    if job is None or job.is_finished:
        return None
    if job.status == Job.Status.RUNNING and not runner_is_gone(job):
        return None
    now = timezone.now()
    if job.deliveries >= settings.JOB_MAX_DELIVERIES:
        job.status = Job.Status.FAILED
        job.error = (
            f"Stopped after {job.deliveries} deliveries: each one ended without finishing "
            "(the worker was killed or ran out of time)."
        )
        job.finished_at = now
        job.save(update_fields=["status", "error", "finished_at"])
        return None
    job.status = Job.Status.RUNNING
    job.deliveries += 1
    job.runner = current_runner()
    job.started_at = job.heartbeat_at = now
    job.progress = 0
    job.save(
        update_fields=["status", "deliveries", "runner", "started_at", "heartbeat_at", "progress"]
    )
    return job


def job_run(model: type[Job], pk: int, work: Work, on_failure: OnFailure | None = None) -> None:
    """Claim the job, run ``work`` and record the outcome on the row."""
    job = job_claim(model, pk)
    if job is None:
        return
    owned = model.objects.filter(pk=pk, status=Job.Status.RUNNING, deliveries=job.deliveries)

    def progress(percent: int, message: str = "") -> None:
        if not owned.update(
            progress=max(0, min(99, int(percent))),
            message=message[:200],
            heartbeat_at=timezone.now(),
        ):
            raise JobLost

    def finish(store: Callable[[], None] | None) -> None:
        done = owned.update(
            status=Job.Status.SUCCEEDED, progress=100, message="Done", finished_at=timezone.now()
        )
        if not done:
            raise JobLost
        if store is not None:
            store()

    try:
        store = work(job, progress)
        # A deadlock or serialization failure while storing is tried again, not failed.
        retry_atomic(lambda: finish(store))
    except JobLost:
        log.info("%s %s was taken over by another delivery", model.__name__, pk)
    except SoftTimeLimitExceeded:
        _fail(model, pk, job.deliveries, "The job took longer than its time limit.", on_failure)
    except ApplicationError as exc:
        _fail(model, pk, job.deliveries, exc.detail, on_failure)
    except Exception as exc:
        log.exception("%s %s failed", model.__name__, pk)
        _fail(model, pk, job.deliveries, f"Internal error ({type(exc).__name__}).", on_failure)


def jobs_sweep() -> int:
    """Republish jobs the broker lost: queued too long, or running with no live delivery
    (a dead runner, or a heartbeat older than any live delivery leaves)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    republished = 0
    for model in job_models():
        # A row never published (the broker was down) goes out at once; one published
        # but not picked up in time is assumed lost by the broker.
        never = models.Q(published_at__isnull=True, created_at__lt=now - timedelta(seconds=5))
        lost = model.objects.filter(status=Job.Status.QUEUED).filter(
            never | models.Q(published_at__lt=stale)
        )
        candidates = list(lost.values_list("pk", flat=True))
        for job in model.objects.filter(status=Job.Status.RUNNING):
            recently_published = job.published_at and job.published_at > stale
            if runner_is_gone(job, now=now) and not recently_published:
                candidates.append(job.pk)
        for pk in candidates:
            republished += job_publish(model, pk)
    return republished
