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
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, models, transaction
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


class ConnectionLost(Exception):
    """The delivery's database connection went away; ``claim`` is the claim it held."""

    def __init__(self, claim: int | None):
        super().__init__(claim)
        self.claim = claim


#: A delivery whose database connection is lost claims its job again on a new one, up to
#: this many attempts in all, pausing RECONNECT_PAUSE seconds, doubled each time, between.
RECONNECT_ATTEMPTS = 3
RECONNECT_PAUSE = 1.0


#: PostgreSQL's admin_shutdown, crash_shutdown and cannot_connect_now; class 08 is
#: connection_exception.
DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def connection_lost(exc: BaseException) -> bool:
    """True when ``exc`` says the database connection went away (the server ended it,
    or the network dropped it): a new connection may succeed. The error says so, not
    the connection, which Django may already have replaced when a transaction could
    not roll back. Inside an outer transaction nothing can start over, so never there.
    """
    if not isinstance(exc, (OperationalError, InterfaceError)) or connection.in_atomic_block:
        return False
    if connection.vendor != "postgresql":
        # SQLite has no connection to lose; its OperationalError is a lock or the disk.
        return False
    state = getattr(exc.__cause__, "sqlstate", None)
    # No SQLSTATE: the client itself found the connection closed or broken.
    return state is None or state.startswith("08") or state in DISCONNECT_SQLSTATES


Progress = Callable[[int, str], None]
#: The work of a job: computes, reporting progress, and returns the step that
#: stores its result. That step runs in the same transaction that marks the job
#: succeeded, so a result is stored exactly once.
Work = Callable[[Job, Progress], Callable[[], None] | None]


def current_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Set in a worker's pool processes (portal/celery.py): only there does a delivery keep a
#: pulse. Elsewhere (a shell, a test) a job runs inline, inside the caller's transaction.
_pulsing = False


def pulse_deliveries() -> None:
    """Make this process's deliveries keep their heartbeat from a thread of their own."""
    global _pulsing
    _pulsing = True


def silence_limit() -> timedelta:
    """How long a live delivery can go without a heartbeat. Its pulse beats every
    ``JOB_PULSE_SECONDS`` however long the work goes between progress reports, so four
    missed beats mean its process, or its host, is gone."""
    return timedelta(seconds=max(settings.JOB_STALE_SECONDS, 4 * settings.JOB_PULSE_SECONDS))


class _Pulse:
    """A running delivery's heartbeat, kept from a daemon thread with its own database
    connection. A worker host that dies stops it, so the sweeper hands the job on within
    :func:`silence_limit`, not after the job's whole time limit. A delivery that was
    taken over stops beating (its claim no longer matches the row)."""

    def __init__(self, owned: models.QuerySet) -> None:
        self.owned = owned
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="job-pulse", daemon=True)

    def __enter__(self) -> _Pulse:
        if _pulsing:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_PULSE_SECONDS):
                try:
                    if not self.owned.update(heartbeat_at=timezone.now()):
                        return
                except Exception as exc:  # the next beat tries again on a new connection
                    log.warning("job pulse missed a beat: %s", exc)
                    connection.close()
        finally:
            connection.close()


def runner_is_gone(job: Job, *, now=None) -> bool:
    """True when no delivery is working on ``job`` any more.

    A heartbeat older than its :func:`silence_limit` says so whatever else is known: the
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
    except Exception as exc:
        if connection_lost(exc):
            raise ConnectionLost(deliveries) from exc
        # The row stays running; once its heartbeat is stale the sweeper hands it on.
        log.exception("could not record the failure of %s %s", model.__name__, pk)


def job_claim(
    model: type[Job], pk: int, on_failure: OnFailure | None = None, held: int | None = None
) -> Job | None:
    """Take the job for this delivery, or return None when there is nothing to do.

    ``held`` is the claim this delivery held when it lost its database connection: if no
    other delivery has taken the job since, it is this delivery's to take again, though
    its runner is alive and its heartbeat fresh.
    """
    return retry_atomic(lambda: _claim(model, pk, on_failure, held))


def _claim(model: type[Job], pk: int, on_failure: OnFailure | None, held: int | None) -> Job | None:
    job = model.objects.select_for_update(no_key=True).filter(pk=pk).first()
    if job is None or job.is_finished:
        return None
    ours = job.status == Job.Status.RUNNING and job.deliveries == held
    if job.status == Job.Status.RUNNING and not ours and not runner_is_gone(job):
        return None
    now = timezone.now()
    if job.deliveries >= settings.JOB_MAX_DELIVERIES:
        job.status = Job.Status.FAILED
        job.error = (
            f"Stopped after {job.deliveries} deliveries: each one ended without finishing "
            "(the worker was killed, ran out of time or lost its database connection)."
        )
        job.finished_at = now
        job.save(update_fields=["status", "error", "finished_at"])
        # On the trail like any other failure, in the same transaction.
        if on_failure is not None:
            on_failure(job, job.error)
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
    """Claim the job, run ``work`` and record the outcome on the row.

    A lost database connection takes only its open transaction with it, so nothing of
    the attempt was stored: the delivery drops the connection, waits and claims the job
    again on a new one, as its next delivery (JOB_MAX_DELIVERIES still bounds them).
    """
    held = None
    for attempt in range(1, RECONNECT_ATTEMPTS + 1):
        try:
            _deliver(model, pk, work, on_failure, held)
            return
        except ConnectionLost as lost:
            # Django would go on using the dead connection; the next query opens a new one.
            connection.close()
            if lost.claim is not None:
                held = lost.claim
            if attempt == RECONNECT_ATTEMPTS:
                # The row stays running; once its heartbeat is stale the sweeper hands it on.
                log.error("%s %s lost its database connection; giving up", model.__name__, pk)
                return
            log.warning(
                "%s %s lost its database connection; attempt %d of %d",
                model.__name__,
                pk,
                attempt + 1,
                RECONNECT_ATTEMPTS,
            )
            time.sleep(RECONNECT_PAUSE * 2 ** (attempt - 1))


def _deliver(
    model: type[Job], pk: int, work: Work, on_failure: OnFailure | None, held: int | None
) -> None:
    try:
        job = job_claim(model, pk, on_failure, held)
    except Exception as exc:
        if connection_lost(exc):
            raise ConnectionLost(None) from exc
        raise
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
        with _Pulse(owned):
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
        if connection_lost(exc):
            raise ConnectionLost(job.deliveries) from exc
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
