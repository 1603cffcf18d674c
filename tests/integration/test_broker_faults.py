"""Workers and Redis failing under real processes. The job tests run their own
redis-server on a free loopback port, so killing or losing it touches nothing else; the
outage test points a web process at a Redis address that refuses or never answers.

The sweeper runs as beat would run it: ``portal.jobs_sweep`` sent through the broker
every couple of seconds and executed by a worker.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from portal.celery import app
from portal.queues import queue_of
from projects.models import Event, EventExport, Role
from projects.services import teams, tokens
from tests.factories import PASSWORD, UserFactory, make_project, make_team
from tests.fault_workloads import FINISHED
from tests.harness import WebServer, Worker, wait_for
from tests.servers import PrivateRedis, free_port

pytestmark = pytest.mark.integration

SWEEP_EVERY = 2.0


def _queued(server: PrivateRedis) -> int:
    """Exports waiting on their queue (``render``) in ``server``."""
    queue = queue_of(EventExport.task_name)
    return redis.Redis(port=server.port, socket_timeout=2).llen(queue)


@pytest.fixture
def redis_servers(tmp_path):
    """Makes private Redis servers; stops them after the workers (ask for it first)."""
    made: list[PrivateRedis] = []

    def make(*, aof: bool) -> PrivateRedis:
        folder = tmp_path / f"redis-{len(made)}"
        folder.mkdir()
        server = PrivateRedis(folder, aof=aof)
        made.append(server)
        server.start()
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def broker(redis_servers):
    return redis_servers(aof=False)


@pytest.fixture
def workers(worker_factory):
    """Starts workers with the fault workloads on a given broker."""

    def start(broker_url: str, **env: str) -> Worker:
        include = ("tests.fault_workloads",)
        return worker_factory(include=include, CELERY_BROKER_URL=broker_url, **env)

    return start


@pytest.fixture
def project(transactional_db):
    owner = UserFactory(username="f_owner")
    team = make_team("f-team")
    teams.membership_add(actor=None, team=team, user=owner, role=Role.BUSINESS_OWNER)
    return make_project(team, "f-project", actor=owner)


def _owner(project):
    return project.team.memberships.get(role=Role.BUSINESS_OWNER).user


def publish(broker_url: str, task: str, *args) -> None:
    """Send a task through ``broker_url``, as the web process or beat would."""
    with app.connection_for_write(broker_url) as connection:
        app.send_task(task, args=list(args), connection=connection)


def exports(project, count: int) -> list[EventExport]:
    owner = _owner(project)
    return [EventExport.objects.create(project=project, requested_by=owner) for _ in range(count)]


def finished_events(export: EventExport, verb: str) -> int:
    return Event.objects.filter(verb=verb, target_id=str(export.pk)).count()


def sweeping_until(broker_url: str, done, timeout: float, what: str):
    """Wait for ``done()``, sending the sweep every SWEEP_EVERY seconds meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publish(broker_url, "portal.jobs_sweep")
        wait_until = time.monotonic() + SWEEP_EVERY
        while time.monotonic() < wait_until:
            if value := done():
                return value
            time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def reload(export: EventExport) -> EventExport:
    export.refresh_from_db()
    return export


# --- 32: the whole worker killed mid-task --------------------------------------------
def test_a_job_whose_whole_worker_is_killed_is_handed_on_by_the_sweeper(project, broker, workers):
    first = workers(broker.url(), JOB_STALE_SECONDS="3")
    (export,) = exports(project, 1)
    publish(broker.url(), "tests.slow_job", export.pk)
    EventExport.objects.filter(pk=export.pk).update(published_at=timezone.now())
    running = wait_for(
        lambda: (e := reload(export)).status == "running" and e.progress >= 9 and e,
        60,
        "the job to be running",
    )
    dead_runner = running.runner
    assert int(dead_runner.rpartition(":")[2]) in first.pool_children()

    first.kill()  # the main process and its pool child together
    killed_at = time.monotonic()
    workers(broker.url(), JOB_STALE_SECONDS="3")
    done = sweeping_until(
        broker.url(), lambda: reload(export).is_finished and export, 60, "the job to finish"
    )
    recovered_in = time.monotonic() - killed_at

    assert done.status == "succeeded", done.error
    assert done.deliveries == 2
    assert done.runner != dead_runner
    # The sweeper republishes the row's own task, the real export: it finished the job,
    # once, and the killed delivery stored nothing.
    assert finished_events(export, FINISHED) == 0
    assert finished_events(export, "export.finished") == 1
    assert done.rows is not None and done.file.name
    call_command("verify_events")
    # Starting a worker takes a few seconds; the sweeper hands the job on within two sweeps.
    assert recovered_in < 45, f"took {recovered_in:.0f}s from the kill to the finish"


# --- 34: a task that outlives the broker's visibility timeout ---------------------------
def test_a_second_delivery_past_the_visibility_timeout_leaves_the_running_job_alone(
    project, broker, workers
):
    visibility = 2
    first = workers(broker.url(), CELERY_VISIBILITY_TIMEOUT=str(visibility))
    (export,) = exports(project, 1)
    publish(broker.url(), "tests.long_job", export.pk, 20)
    running = wait_for(
        lambda: (e := reload(export)).status == "running" and e, 30, "the job to be running"
    )
    time.sleep(visibility + 1)
    # A worker that starts (or a running one, every 100 s) puts messages unacknowledged
    # for longer than the visibility timeout back on the queue: the second worker gets a
    # second delivery of the job while the first still runs it.
    second = workers(broker.url(), CELERY_VISIBILITY_TIMEOUT=str(visibility))
    wait_for(
        lambda: (
            "tests.long_job[" in second.log.read_text()
            and " succeeded in " in second.log.read_text()
        ),
        30,
        "the second worker to take and end the second delivery",
    )
    assert reload(export).status == "running", "the first delivery was still running"

    done = wait_for(lambda: reload(export).is_finished and export, 60, "the job to finish")
    assert done.status == "succeeded", done.error
    assert done.deliveries == 1, "the second delivery claimed the job"
    assert done.runner == running.runner
    assert int(done.runner.rpartition(":")[2]) in first.pool_children()
    assert finished_events(export, FINISHED) == 1
    call_command("verify_events")


# --- 36: Redis killed with a backlog ---------------------------------------------------
@pytest.mark.parametrize("aof", [True, False], ids=["aof-on", "aof-off"])
def test_a_backlog_survives_redis_being_killed(project, redis_servers, workers, aof):
    server = redis_servers(aof=aof)
    backlog = exports(project, 50)
    with app.connection_for_write(server.url()) as connection:
        for export in backlog:
            app.send_task(EventExport.task_name, args=[export.pk], connection=connection)
    EventExport.objects.filter(project=project).update(published_at=timezone.now())
    assert _queued(server) == 50

    server.stop(kill=True)  # whatever Redis held only in memory is gone, as after a crash
    server.start()  # the same port and folder
    # With the append-only file the queue comes back; without it the queue is lost and
    # only the rows remember the jobs.
    assert _queued(server) == (50 if aof else 0)

    workers(server.url(), JOB_STALE_SECONDS="5")
    pks = [e.pk for e in backlog]
    sweeping_until(
        server.url(),
        lambda: EventExport.objects.filter(pk__in=pks, status="succeeded").count() == 50,
        90,
        "all 50 jobs to succeed",
    )

    for export in EventExport.objects.filter(pk__in=pks):
        assert export.status == "succeeded" and export.deliveries == 1, export.pk
        assert finished_events(export, "export.finished") == 1, export.pk
    assert Event.objects.filter(verb="export.finished", project=project).count() == 50
    call_command("verify_events")


# --- 37: Redis down for logins and reads ------------------------------------------------
@contextlib.contextmanager
def dead_redis(kind: str):
    """A Redis address that refuses connections, or one that accepts and never answers."""
    if kind == "refused":
        yield free_port()
        return
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # never accepted, never read: the client waits for its timeout
        yield silent.getsockname()[1]


@pytest.fixture
def person(project):
    return _owner(project)


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects, over the standard
    library; each call is bounded by ``timeout`` and its time recorded under a name."""

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str, timeout: float, timings: dict[str, float]) -> None:
        self.base, self.timeout, self.timings = base, timeout, timings
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._Stay
        )

    @property
    def cookies(self) -> dict[str, str]:
        return {cookie.name: cookie.value for cookie in self.jar}

    def call(
        self, name: str, path: str, *, form: dict | None = None, headers: dict | None = None
    ) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                answer = response.status, response.read().decode()
        except urllib.error.HTTPError as refused:  # 3xx and 4xx come here
            answer = refused.code, refused.read().decode()
        self.timings[name] = time.monotonic() - started
        return answer


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_logins_and_reads_answer_within_5s_with_redis_down(project, person, tmp_path, kind):
    bound = 5.0
    _, key = tokens.token_create(user=person, name="ci", scopes=["read"])
    # The web process checks passwords with its own (production) hashers.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        person.set_password(PASSWORD)
        person.save()
    timings: dict[str, float] = {}
    with dead_redis(kind) as port:
        web = WebServer(
            tmp_path,
            CACHE_URL=f"redis://127.0.0.1:{port}/1",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0",
        )
        try:
            browser = Browser(web.url, bound, timings)
            sessions_before = Session.objects.count()
            status, _ = browser.call("login page", "/accounts/login/")
            assert status == 200
            form = {
                "username": person.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            }
            status, page = browser.call("login", "/accounts/login/", form=form)
            assert status == 302, page[:500]
            assert "sessionid" in browser.cookies
            assert Session.objects.count() == sessions_before + 1  # in the database
            status, page = browser.call("home", "/")
            assert status == 200 and project.name in page
            status, body = browser.call("API read with the session", "/api/v1/projects/")
            assert status == 200
            assert [p["slug"] for p in json.loads(body)["results"]] == [project.slug]

            client = Browser(web.url, bound, timings)
            headers = {"Authorization": f"Token {key}"}
            status, _ = client.call("API read with a token", "/api/v1/projects/", headers=headers)
            assert status == 200
            gate = f"/api/v1/projects/{project.slug}/gates/"
            assert client.call("gate", gate, headers=headers)[0] == 200
            # The throttles fail open: an anonymous call is refused for what it is.
            assert client.call("anonymous API read", "/api/v1/projects/")[0] == 401
        finally:
            web.stop()
    slow = {name: round(took, 2) for name, took in timings.items() if took >= bound}
    assert slow == {}, f"requests over {bound}s: {slow}"
    assert "throttle cache unavailable" in web.log.read_text()
