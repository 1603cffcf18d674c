"""The job lifecycle as a state machine: deliveries claim a job, beat, finish, fail and
die in any order, time passes, the sweeper runs and finished jobs are delivered again.
After every step the row, its stored result and the audit trail must agree with a
model of what that step may do.

Each delivery is a thread running the real ``portal.jobs.job_run`` on its own database
connection; its work waits for the machine's next command, so the steps of different
deliveries interleave as the rules choose while only one of them runs at a time. A
delivery's runner is a real process (``sleep``) that the machine kills when the
delivery's process dies, and time is a clock that only the rules move.
"""

from __future__ import annotations

import functools
import queue
import socket
import subprocess
import threading
import time
from datetime import timedelta

import hypothesis
import pytest
from django.db import connection, connections
from django.utils import timezone
from hypothesis import HealthCheck, event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from portal import jobs
from portal.exceptions import ApplicationError
from projects.models import Event, EventExport
from projects.selectors import events_verify
from projects.services.events import chain_key, event_record
from tests.factories import UserFactory, make_project, make_team

Status = jobs.Job.Status
FINISHED_VERB = "test.job.finished"
FAILED_VERB = "test.job.failed"
LEGAL = {
    (Status.QUEUED, Status.QUEUED),
    (Status.QUEUED, Status.RUNNING),
    (Status.RUNNING, Status.RUNNING),
    (Status.RUNNING, Status.SUCCEEDED),
    (Status.RUNNING, Status.FAILED),
    (Status.SUCCEEDED, Status.SUCCEEDED),
    (Status.FAILED, Status.FAILED),
}


class Clock:
    """What ``timezone.now()`` returns: it moves only when a rule moves it, so what is
    stale is decided by the rules, not by how fast the machine runs."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self):
        return self.now


class Killed(BaseException):
    """The delivery's process died here: nothing after this point runs or is recorded.
    A BaseException, so the job wrapper's handlers do not see it, as with SIGKILL."""


_runner = threading.local()


def _store(job: EventExport, *, die: bool) -> None:
    """The result: two writes, then (when the process dies mid-store) no commit."""
    EventExport.objects.filter(pk=job.pk).update(rows=job.deliveries, sha256="f" * 64)
    event_record(actor=job.requested_by, verb=FINISHED_VERB, target=job, project=job.project)
    if die:
        raise Killed


def _record_failure(job: EventExport, error: str) -> None:
    event_record(
        actor=job.requested_by,
        verb=FAILED_VERB,
        target=job,
        project=job.project,
        payload={"error": error},
    )


class Delivery:
    """One delivery of the job's task: a thread in ``job_run`` whose work waits for commands."""

    def __init__(self, ident: int, pk: int) -> None:
        self.ident = ident
        self.process = subprocess.Popen(["sleep", "3600"])
        self.runner = f"{socket.gethostname()}:{self.process.pid}"
        self.number: int | None = None
        self.backend: int | None = None
        # The model's side: its connection was killed; its attempt in job_run.
        self.cut = False
        self.attempt = 1
        self.ended = False
        self.outcome: object = None
        self._commands: queue.Queue[str] = queue.Queue()
        self._replies: queue.Queue[tuple[str, object]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(pk,), daemon=True)
        self._thread.start()
        self._await()

    def __repr__(self) -> str:
        return f"<delivery {self.ident} claim {self.number}>"

    def _run(self, pk: int) -> None:
        _runner.name = self.runner
        outcome: object = "returned"
        try:
            jobs.job_run(EventExport, pk, self._work, on_failure=_record_failure)
        except Killed:
            outcome = "killed"
        except BaseException as exc:
            outcome = exc
        finally:
            connections.close_all()
            self._replies.put(("ended", outcome))

    def _work(self, job: EventExport, progress: jobs.Progress):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend = cursor.fetchone()[0]
        while True:
            self._replies.put(("paused", job.deliveries))
            command = self._commands.get()
            if command == "beat":
                progress(50, "beat")
            elif command in ("finish", "finish and die"):
                return functools.partial(_store, job, die=command == "finish and die")
            elif command == "refuse":
                raise ApplicationError("The data cannot be used.")
            elif command == "crash":
                raise RuntimeError("a bug in the work")
            elif command == "die":
                raise Killed

    def _await(self) -> None:
        kind, value = self._replies.get()
        if kind == "ended":
            self._thread.join()
            self.ended, self.outcome = True, value
        else:
            self.number = value

    def send(self, command: str) -> None:
        self._commands.put(command)
        self._await()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


#: What can happen next, and how often, relative to the others. The delivery's actions
#: apply to one of the deliveries at work (with none at work, a delivery arrives
#: instead). One rule draws them all: as separate rules, hypothesis switched whole rules
#: off in each example and favoured those with fewer arguments, so the deliveries'
#: actions were seldom drawn. Arrivals and time past the silence limit are drawn more
#: often than the actions that end a delivery, so that one delivery is often taken over
#: by another while it still works.
WEIGHTS = {
    "a delivery arrives": 3,
    "beat": 2,
    "finish": 1,
    "die while storing": 1,
    "refuse": 1,
    "crash": 1,
    "die": 1,
    "a moment passes": 1,
    "the republish wait passes": 1,
    "the silence limit passes": 3,
    "the sweeper runs": 2,
    "the next job is requested": 1,
}
if connection.vendor == "postgresql":
    WEIGHTS["lose the connection"] = 2
ACTIONS = [action for action, weight in WEIGHTS.items() for _ in range(weight)]


class JobLifecycle(RuleBasedStateMachine):
    """The model of the current job: its status, claims (the row's ``deliveries``), owner
    (the delivery holding the latest claim), heartbeat and publication; which
    deliveries are at work; what the trail must hold."""

    clock: Clock
    project = None
    owner_user = None
    max_deliveries = 3
    stale_seconds = 120

    def __init__(self) -> None:
        super().__init__()
        # False from the start of a step until the invariants have passed after it.
        self.settled = True
        self.deliveries_made: list[Delivery] = []
        self.waiting: list[Delivery] = []

    @initialize(published=st.booleans())
    def first_job(self, published: bool) -> None:
        # Each example starts from no jobs: one a failed example left running would be swept.
        EventExport.objects.all().delete()
        self._new_job(published)

    @rule(action=st.sampled_from(ACTIONS), index=st.integers(0, 3))
    def step(self, action: str, index: int) -> None:
        """One thing happens; ``index`` picks the delivery at work it happens to."""
        self.settled = False
        if action == "the next job is requested":
            # Only once this one is over; the index says whether the broker took it.
            if self._over() and not self.waiting:
                self._new_job(published=index % 2 == 0)
        elif action.endswith(" passes"):
            self._time_passes(action)
        elif action == "the sweeper runs":
            self._sweep()
        elif action == "a delivery arrives" or not self.waiting:
            self._arrive()
        else:
            delivery = self.waiting[index % len(self.waiting)]
            {
                "beat": self._beat,
                "finish": self._finish,
                "die while storing": functools.partial(self._finish, dies_while_storing=True),
                "refuse": functools.partial(self._fail, how="refuse"),
                "crash": functools.partial(self._fail, how="crash"),
                "die": self._die,
                "lose the connection": self._lose_connection,
            }[action](delivery)

    # --- the job and the world around it --------------------------------------------

    def _new_job(self, published: bool) -> None:
        """A job is requested: its row is written, and published unless the broker was down."""
        now = self.clock.now
        job = EventExport.objects.create(
            project=self.project, requested_by=self.owner_user, created_at=now
        )
        self.pk, self.created, self.seen = job.pk, now, Status.QUEUED
        self.status, self.claims, self.error = Status.QUEUED, 0, ""
        self.owner: Delivery | None = None
        self.beat = self.published = None
        self.trail: list[str] = []
        if published:
            assert jobs.job_publish(EventExport, self.pk)
            self.published = now

    def _time_passes(self, span: str) -> None:
        self.clock.now += {
            "a moment passes": timedelta(seconds=1),
            "the republish wait passes": timedelta(seconds=self.stale_seconds + 1),
            "the silence limit passes": jobs.silence_limit() + timedelta(seconds=1),
        }[span]

    def _sweep(self) -> None:
        expected = self._sweep_expected()
        assert jobs.jobs_sweep() == int(expected)
        if expected:
            event("swept")
            self.published = self.clock.now

    # --- deliveries ------------------------------------------------------------------

    def _arrive(self) -> None:
        """A delivery arrives: the first, a redelivery, a duplicate, or one of a finished job."""
        expected = self._claim_outcome()
        delivery = Delivery(len(self.deliveries_made) + 1, self.pk)
        self.deliveries_made.append(delivery)
        self._claimed(delivery, expected)

    def _beat(self, delivery: Delivery) -> None:
        owns = self._owns(delivery)
        if not self._send(delivery, "beat"):
            return
        if owns:
            assert not delivery.ended, delivery.outcome
            self.beat = self.clock.now
        else:
            # Taken over (JobLost): it stops without touching the row.
            event("superseded delivery stopped at its heartbeat")
            self._ended(delivery, "returned")

    def _finish(self, delivery: Delivery, dies_while_storing: bool = False) -> None:
        owns = self._owns(delivery)
        if delivery.cut:
            # Its first query fails: it never gets as far as storing.
            self._send(delivery, "finish")
            return
        if dies_while_storing:
            delivery.kill()
            delivery.send("finish and die")
        else:
            delivery.send("finish")
        if owns and dies_while_storing:
            # The store's transaction never commits: the row stays running, its runner dead.
            event("died while storing")
            self._ended(delivery, "killed")
        elif owns:
            event("succeeded")
            self._ended(delivery, "returned")
            self.status = Status.SUCCEEDED
        else:
            # A superseded or stale delivery: its finish is refused before it stores.
            event("superseded delivery refused at its finish")
            self._ended(delivery, "returned")

    def _fail(self, delivery: Delivery, how: str) -> None:
        owns = self._owns(delivery)
        if not self._send(delivery, how):
            return
        self._ended(delivery, "returned")
        if owns:
            event("failed by its work")
            self.status = Status.FAILED
            self.error = (
                "The data cannot be used." if how == "refuse" else "Internal error (RuntimeError)."
            )
        else:
            event("superseded delivery's failure not recorded")

    def _die(self, delivery: Delivery) -> None:
        delivery.kill()
        delivery.send("die")
        self._ended(delivery, "killed")

    def _lose_connection(self, delivery: Delivery) -> None:
        """The server ends the delivery's connection (pg_terminate_backend) while it works."""
        if delivery.cut:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [delivery.backend])
            # Until the server process has gone, the delivery's next query might still run.
            while True:
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [delivery.backend])
                if cursor.fetchone() is None:
                    break
                time.sleep(0.001)
        delivery.cut = True

    def _send(self, delivery: Delivery, command: str) -> bool:
        """Send ``command``; False when the delivery's connection had been killed, so that
        the command's first query failed and the delivery started over on a new
        connection, claiming the job again (or gave up after its last attempt)."""
        if not delivery.cut:
            delivery.send(command)
            return True
        if delivery.attempt == jobs.RECONNECT_ATTEMPTS:
            expected = "gives up"
        else:
            expected = self._claim_outcome(held=delivery.number)
        delivery.send(command)
        delivery.cut = False
        delivery.attempt += 1
        if expected == "gives up":
            # The row stays running under a live runner: the silence limit hands it on.
            event("gave up after losing its connection")
            self._ended(delivery, "returned")
        else:
            event(f"lost its connection, then: {expected}")
            self._claimed(delivery, expected)
        return False

    # --- what the model says ---------------------------------------------------------

    def _over(self) -> bool:
        return self.status in (Status.SUCCEEDED, Status.FAILED)

    def _runner_gone(self) -> bool:
        return not self.owner.alive or self.clock.now - self.beat > jobs.silence_limit()

    def _claim_outcome(self, held: int | None = None) -> str:
        """What a claim does now; ``held`` is the claim of a delivery that lost its connection."""
        if self._over():
            return "nothing"
        ours = self.status == Status.RUNNING and self.claims == held
        if self.status == Status.RUNNING and not ours and not self._runner_gone():
            return "nothing"
        if self.claims >= self.max_deliveries:
            return "fail"
        if self.status == Status.RUNNING and not ours and self.owner.alive:
            event("taken over from a live runner past the silence limit")
        return "claim"

    def _claimed(self, delivery: Delivery, expected: str) -> None:
        """Check and record what a claim by ``delivery`` did."""
        if expected == "claim":
            assert not delivery.ended, f"{delivery} should have claimed: {delivery.outcome!r}"
            self.claims += 1
            assert delivery.number == self.claims
            self.status, self.owner, self.beat = Status.RUNNING, delivery, self.clock.now
            if delivery not in self.waiting:
                self.waiting.append(delivery)
            return
        self._ended(delivery, "returned")
        if expected == "fail":
            event("failed at the delivery limit")
            self.status = Status.FAILED
            self.error = f"Stopped after {self.claims} deliveries"

    def _owns(self, delivery: Delivery) -> bool:
        return self.status == Status.RUNNING and self.claims == delivery.number

    def _sweep_expected(self) -> bool:
        now = self.clock.now
        stale = now - timedelta(seconds=self.stale_seconds)
        if self.status == Status.QUEUED:
            if self.published is None:
                return self.created < now - timedelta(seconds=5)
            return self.published < stale
        if self.status == Status.RUNNING:
            recently = self.published is not None and self.published > stale
            return self._runner_gone() and not recently
        return False

    def _ended(self, delivery: Delivery, outcome: str) -> None:
        assert delivery.ended, f"{delivery} should have ended"
        assert delivery.outcome == outcome, f"{delivery} ended with {delivery.outcome!r}"
        if delivery in self.waiting:
            self.waiting.remove(delivery)

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def row_agrees_with_the_model(self) -> None:
        row = EventExport.objects.get(pk=self.pk)
        assert (self.seen, row.status) in LEGAL, f"{self.seen} -> {row.status}"
        self.seen = row.status
        assert row.status == self.status
        assert row.deliveries == self.claims <= self.max_deliveries
        if self.status == Status.RUNNING:
            assert row.runner == self.owner.runner
            assert row.heartbeat_at == self.beat
        assert row.published_at == self.published
        if self.status == Status.FAILED:
            assert row.error.startswith(self.error), row.error
        # The result is stored whole, once, by the delivery holding the latest claim.
        if self.status == Status.SUCCEEDED:
            assert (row.rows, row.sha256) == (row.deliveries, "f" * 64)
        else:
            assert (row.rows, row.sha256) == (None, "")

        # Claims and heartbeats are not on the trail; the end of the job is, once, in the
        # transaction that ends it.
        verbs = list(
            Event.objects.filter(target_type="projects.eventexport", target_id=str(self.pk))
            .order_by("id")
            .values_list("verb", flat=True)
        )
        expected = {Status.SUCCEEDED: [FINISHED_VERB], Status.FAILED: [FAILED_VERB]}
        assert verbs == expected.get(self.status, []), f"{self.status}: {verbs}"
        if verbs != self.trail:
            # The chain changed (only this test's jobs write to its project): walk it.
            report = events_verify([chain_key(self.project, None)])
            assert all(r.ok for r in report.values()), report
            self.trail = verbs
        self.settled = True

    def teardown(self) -> None:
        try:
            # After a failed step the model may be wrong: report that failure, not this.
            if self.settled and hasattr(self, "pk"):
                self._drain()
        finally:
            for delivery in self.deliveries_made:
                delivery.kill()
                if not delivery.ended:
                    delivery.send("die")

    def _drain(self) -> None:
        """Whatever happened, the job ends: once every delivery at work has died, time, the
        sweeper and fresh deliveries finish it within the delivery limit."""
        actions = [lambda: self._die(self.waiting[0]) for _ in self.waiting]
        for _ in range(self.max_deliveries + 1):
            actions += [
                lambda: self._time_passes("the silence limit passes"),
                self._sweep,
                self._arrive,
                lambda: self.waiting and self._finish(self.waiting[0]),
            ]
        for action in actions:
            if self._over():
                break
            action()
            self.row_agrees_with_the_model()
        assert self._over(), "the job never ended"


MACHINE_SETTINGS = hypothesis.settings(
    max_examples=70,
    stateful_step_count=15,
    # The same examples on every run, and none remembered between runs.
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow  # an exhaustive state machine: CI's PostgreSQL stage runs it
@pytest.mark.django_db(transaction=True)
def test_the_job_lifecycle_keeps_its_invariants(monkeypatch, settings):
    # Deliveries run on connections of their own: the test's rows must be committed.
    settings.JOB_MAX_DELIVERIES = JobLifecycle.max_deliveries
    settings.JOB_STALE_SECONDS = JobLifecycle.stale_seconds
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    # Each delivery thread claims as its own runner process.
    monkeypatch.setattr(jobs, "current_runner", lambda: _runner.name)
    # A delivery that lost its connection starts over at once: time is the rules' to move.
    monkeypatch.setattr(jobs, "RECONNECT_PAUSE", 0)
    owner = UserFactory(username="states_owner")
    project = make_project(make_team("states"), "states-project", actor=owner)

    class Machine(JobLifecycle):
        pass

    Machine.clock, Machine.project, Machine.owner_user = clock, project, owner
    run_state_machine_as_test(Machine, settings=MACHINE_SETTINGS)
