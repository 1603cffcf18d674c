"""The canary of docs/deployments.md, walked as written: its scripts run with bash and curl
against gunicorn, the test database, the broker and a real worker.

The scripts and plans are read from the doc between its ``<!-- begin NAME -->`` and
``<!-- end NAME -->`` markers, so the doc and this test cannot drift. One function changes:
``wait_for_window``, which sleeps for a step's analysis window, becomes a command that
makes that much time pass at once. It moves the rollout's ``step_started_at`` and the
deployment's pushed points back by the window's minutes in the database, as if the step
had served its traffic that long, so a walk through 1, 5, 25, 50 and 100 % takes seconds.
The two sign-offs are people's: each signs in through the login page and signs with the
API on their session (a token cannot sign).

The Prometheus variant reads a real Prometheus that scrapes a canary exporter every
second. Without a ``prometheus`` binary that test skips, except where
``REQUIRE_PROMETHEUS`` is set (CI), where it fails. The file takes about a minute and a
half: gunicorn starts once for the file; each test builds its team, renders its approval
pack and starts a worker.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.test.utils import override_settings

from deployments.models import Analysis, Deployment, MetricBatch, Rollout
from deployments.prometheus import PrometheusError, query_range, step_for
from portal.celery import app
from projects.models import Project, Role
from projects.services import tokens
from projects.services.lifecycle import project_transition
from tests.factories import UserFactory, build_team, make_pack
from tests.harness import ROOT, WebServer, child_env, missing_part, wait_for
from tests.servers import NO_PROMETHEUS, PROMETHEUS, CanaryExporter, PrivatePrometheus

pytestmark = pytest.mark.integration

DOC = ROOT / "docs" / "deployments.md"
PASSWORD = "canary-walk-signer"
#: The Prometheus address the doc's plan names; the test's own server takes its place.
DOC_PROMETHEUS = "http://prometheus.monitoring:9090"

#: ``wait_for_window MINUTES``, as the test runs it: the window passes at once.
WAIT_FOR_WINDOW = 'wait_for_window() {\n  "$CLOSE_WINDOW" "$DEPLOYMENT" "$1"\n}\n'

CLOSE_WINDOW = '''\
"""Make MINUTES pass for DEPLOYMENT: its active rollout's step began that much earlier,
and the points pushed so far were measured that much earlier."""
import os
import sys

deployment, minutes = int(sys.argv[1]), int(sys.argv[2])
url = os.environ["DATABASE_URL"]
if url.startswith("sqlite:"):
    import sqlite3

    shift = f"strftime('%Y-%m-%d %H:%M:%f', {{}}, '-{minutes} minutes')"
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    with connection:
        connection.execute(
            "UPDATE deployments_rollout SET step_started_at = "
            + shift.format("step_started_at")
            + " WHERE deployment_id = ? AND status = 'active'",
            (deployment,),
        )
        connection.execute(
            "UPDATE deployments_metricpoint SET timestamp = "
            + shift.format("timestamp")
            + " WHERE deployment_id = ?",
            (deployment,),
        )
    connection.close()
else:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE deployments_rollout SET step_started_at = step_started_at "
            "- make_interval(mins => %s) WHERE deployment_id = %s AND status = 'active'",
            (minutes, deployment),
        )
        connection.execute(
            "UPDATE deployments_metricpoint SET timestamp = timestamp "
            "- make_interval(mins => %s) WHERE deployment_id = %s",
            (minutes, deployment),
        )
'''

METRICS = '''\
"""The canary's points over the last MINUTES minutes at TRAFFIC %, as the service's
metrics export prints them: a request every half second over the last minute (about
45 ms; about 400 ms at the step whose share is SLOW_AT), and every two seconds the
throughput at 120 % of the plan's qps for the share, no errors and no null outputs."""
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta

minutes, traffic = int(sys.argv[1]), float(sys.argv[2])
slow = os.environ.get("SLOW_AT") == f"{traffic:g}"
qps = float(os.environ["PLAN_QPS"]) * traffic / 100 * 1.2
now = datetime.now(UTC)
draw = random.Random(int(traffic))
points = []
for i in range(120):
    at = (now - timedelta(seconds=60 - i / 2)).isoformat()
    latency = draw.gauss(400 if slow else 45, 5)
    points.append({"name": "latency_ms", "value": round(latency, 2), "timestamp": at})
for i in range(30):
    at = (now - timedelta(seconds=60 - 2 * i)).isoformat()
    points += [
        {"name": "throughput_qps", "value": qps, "timestamp": at},
        {"name": "error_rate", "value": 0.0, "timestamp": at},
        {"name": "null_output_rate", "value": 0.0, "timestamp": at},
    ]
print(json.dumps(points))
'''


def doc_block(name: str) -> str:
    """The fenced block between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``."""
    found = re.findall(
        rf"<!-- begin {re.escape(name)} -->\n```[a-z]*\n(.*?)```\n<!-- end {re.escape(name)} -->",
        DOC.read_text(),
        flags=re.DOTALL,
    )
    assert len(found) == 1, f"docs/deployments.md has {len(found)} blocks named {name}"
    return found[0]


def _program(path: Path, source: str) -> str:
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755)
    return str(path)


@dataclass
class Pipeline:
    """The CI pipeline of a project in deployment: its token, the portal it talks to, and
    the two people who sign its plans."""

    web: WebServer
    project: Project
    key: str
    owner: object
    engineer: object
    folder: Path

    def script(self, name: str) -> Path:
        """The doc's script, with the window passing at once in ``wait_for_window``."""
        text, count = re.subn(
            r"^wait_for_window\(\) \{\n.*?^\}\n",
            WAIT_FOR_WINDOW,
            doc_block(name),
            flags=re.DOTALL | re.MULTILINE,
        )
        assert count == (1 if name == "canary-rollout.sh" else 0), f"{name}: {count}"
        path = self.folder / name
        path.write_text(text)
        return path

    def run(self, name: str, **env: str) -> subprocess.CompletedProcess:
        """Run the doc's script ``name`` with bash, as a CI job would."""
        environment = child_env(
            STAGEGATE=self.web.url,
            KEY=self.key,
            PROJECT=self.project.slug,
            CLOSE_WINDOW=_program(self.folder / "close_window", CLOSE_WINDOW),
            **env,
        )
        return subprocess.run(
            ["bash", str(self.script(name))],
            env=environment,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def deployment(self, plan: str) -> Deployment:
        """The doc's first job with ``plan`` (a plan's JSON); then both roles sign it."""
        path = self.folder / "plan.json"
        path.write_text(plan)
        job = self.run("canary-plan.sh", PLAN=str(path))
        assert job.returncode == 0, job.stderr
        last = job.stdout.strip().splitlines()[-1]
        assert last.startswith("DEPLOYMENT="), job.stdout
        deployment = Deployment.objects.get(pk=int(last.removeprefix("DEPLOYMENT=")))
        saved = deployment.plans.get()
        assert f"{self.web.url}/deployment-plans/{saved.pk}/" in job.stdout
        for person, role in ((self.owner, "business_owner"), (self.engineer, "ml_engineer")):
            self.sign(person, role, saved.pk)
        return deployment

    def sign(self, person, role: str, plan: int) -> None:
        """``person`` signs in on the login page and approves ``plan`` on their session."""
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def csrf() -> str:
            return next(cookie.value for cookie in jar if cookie.name == "csrftoken")

        login = f"{self.web.url}/accounts/login/"
        browser.open(login, timeout=10).read()
        form = {"username": person.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf()}
        with browser.open(login, urllib.parse.urlencode(form).encode(), timeout=10) as page:
            assert urllib.parse.urlsplit(page.url).path == "/", f"{person} could not sign in"
        request = urllib.request.Request(
            f"{self.web.url}/api/v1/deployment-plans/{plan}/signoffs/",
            data=json.dumps({"role": role, "decision": "approve"}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": csrf()},
        )
        with browser.open(request, timeout=10) as answer:
            assert answer.status == 201

    def get(self, path: str) -> dict:
        request = urllib.request.Request(
            f"{self.web.url}/api/v1/{path}", headers={"Authorization": f"Token {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


@dataclass
class Canary:
    """A service's canary exporting its metrics, and a Prometheus scraping it."""

    exporter: CanaryExporter
    prometheus: PrivatePrometheus


@pytest.fixture(scope="module")
def canary(tmp_path_factory) -> Iterator[Canary | None]:
    """Started first, so that Prometheus holds a minute of the canary's history when the
    Prometheus walk reads it; None without a ``prometheus`` binary."""
    if not PROMETHEUS:
        yield None
        return
    # Prometheus's rate() over [1m] counts a younger series as if it had run the whole
    # minute: the canary answers enough requests for its throughput to read high early.
    with (
        CanaryExporter(per_second=1000, seed=3) as exporter,
        PrivatePrometheus(
            tmp_path_factory.mktemp("prometheus"), [exporter.target], binary=PROMETHEUS
        ) as prometheus,
    ):
        yield Canary(exporter, prometheus)


@pytest.fixture(scope="module")
def web(django_db_setup, canary, tmp_path_factory) -> Iterator[WebServer]:
    """gunicorn, allowed to query the canary's Prometheus: started once for the module (it
    takes seconds to start), against the test database, which each test fills and
    empties."""
    allowed = {"PROMETHEUS_ALLOWED_URLS": canary.prometheus.url} if canary else {}
    server = WebServer(tmp_path_factory.mktemp("web"), **allowed)
    yield server
    server.stop()


@pytest.fixture
def pipeline(
    transactional_db, django_db_serialized_rollback, web, worker_factory, tmp_path
) -> Pipeline:
    """A team whose project passed its gate into deployment, the signers' passwords as the
    web server checks them, a CI token bound to the project, and a worker.

    The web server outlives the test's data: the tables are emptied after each test and
    the rows migrations made (content types, permissions) put back as they were, so the
    ids it holds in memory stay true."""
    world = build_team("cw", UserFactory(username="cw_outsider"))
    make_pack(world)
    owner, engineer = world.people[Role.BUSINESS_OWNER], world.people[Role.ML_ENGINEER]
    project_transition(
        actor=owner, project=world.project, target=Project.Stage.DEPLOYMENT, reason="Ready."
    )
    # The web server checks passwords with its own (production) hashers.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        for person in (owner, engineer):
            person.set_password(PASSWORD)
            person.save()
    _, key = tokens.token_create(
        user=engineer, name="ci", scopes=["read", "write", "transition"], project=world.project
    )
    world.project.refresh_from_db()
    # The world's data is profiled and scored here, in this process; its queued jobs (a
    # baseline run) are not this test's, and a worker started earlier would have raced
    # the profiling for the same row.
    app.control.purge()
    worker_factory(JOB_MAX_DELIVERIES="3")
    return Pipeline(web, world.project, key, owner, engineer, tmp_path)


def pushed_plan() -> tuple[str, str]:
    """The doc's plan, and its qps for the metrics export."""
    plan = doc_block("plan.json")
    return plan, str(json.loads(plan)["serving"]["throughput"]["qps"])


def test_a_healthy_canary_walks_to_100_percent_and_the_gate_into_monitoring_opens(pipeline):
    plan, qps = pushed_plan()
    deployment = pipeline.deployment(plan)
    metrics = _program(pipeline.folder / "metrics", METRICS)

    started = time.monotonic()
    walk = pipeline.run(
        "canary-rollout.sh", DEPLOYMENT=str(deployment.pk), METRICS_CMD=metrics, PLAN_QPS=qps
    )
    took = time.monotonic() - started
    assert walk.returncode == 0, walk.stdout + walk.stderr
    rollout = Rollout.objects.get(deployment=deployment)
    assert (rollout.status, rollout.traffic) == (Rollout.Status.FINISHED, 100.0)
    out = walk.stdout
    for number, share in enumerate((1, 5, 25, 50, 100), start=1):
        assert f"Step {number} of 5: {share} % for " in out
        assert f"Route {share} % of the traffic to the candidate." in out
    assert out.count("Pushed 210 points as rollout-") == 5
    assert out.count(": All 6 checks passed.") == 5
    assert re.search(r"pass +p95 latency [\d.]+ ms ≤ 150 ms over 120 points\.", out), out
    assert f"Rollout {rollout.pk} is finished at 100 %." in out
    analyses = Analysis.objects.filter(rollout=rollout).order_by("step")
    assert [(a.step, a.traffic, a.outcome) for a in analyses] == [
        (0, 1.0, "pass"),
        (1, 5.0, "pass"),
        (2, 25.0, "pass"),
        (3, 50.0, "pass"),
        (4, 100.0, "pass"),
    ]
    keys = MetricBatch.objects.filter(deployment=deployment).values_list(
        "idempotency_key", flat=True
    )
    batch = re.compile(rf"rollout-{rollout.pk}-step-(\d)-\d{{8}}T\d{{6}}Z-1")
    assert sorted(int(batch.fullmatch(key)[1]) for key in keys) == [0, 1, 2, 3, 4]
    assert took < 60, f"the walk took {took:.1f} s"

    # Run again, the job finds the rollout finished and starts nothing.
    again = pipeline.run("canary-rollout.sh", DEPLOYMENT=str(deployment.pk))
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Rollout {rollout.pk} finished already.\n"
    assert Rollout.objects.filter(deployment=deployment).count() == 1

    gate = pipeline.get(f"projects/{pipeline.project.slug}/gates/?to=monitoring")
    checks = {check["name"]: check for check in gate["checks"]}
    assert gate["target"] == "monitoring"
    finished = checks["Rollout finished"]
    assert (finished["passed"], finished["detail"]) == (
        True,
        f"Rollout {rollout.pk}: 100 % of traffic.",
    )
    assert checks["Deployment plan signed by a business owner and an ML engineer"]["passed"]
    assert checks["Monitoring spec watches software, input and output metrics"]["passed"]
    software = checks["Software criteria met during the rollout"]
    assert software["passed"], software
    assert software["detail"].startswith(f"Analysis {analyses.last().pk}: error_rate ≤ 0.01: ")


def test_a_latency_breach_stops_the_walk_with_the_failing_p95_check(pipeline):
    plan, qps = pushed_plan()
    deployment = pipeline.deployment(plan)
    walk = pipeline.run(
        "canary-rollout.sh",
        DEPLOYMENT=str(deployment.pk),
        METRICS_CMD=_program(pipeline.folder / "metrics", METRICS),
        PLAN_QPS=qps,
        SLOW_AT="25",
    )
    assert walk.returncode == 1, walk.stdout + walk.stderr
    out = walk.stdout
    assert out.count(": All 6 checks passed.") == 2  # 1 % and 5 %
    assert "Step 3 of 5: 25 % for 60 minutes." in out
    assert "Refused (analysis_failed): Not promoted: 3 of 6 checks failed: p50 latency, " in out
    assert re.search(r"\n  fail +p95 latency 4\d\d\.\d+ ms misses ≤ 150 ms over 120 points\.", out)
    assert "Step 4" not in out
    assert "Promotion of step 3 refused (409); the rollout stays at 25 %." in walk.stderr

    rollout = Rollout.objects.get(deployment=deployment)
    assert (rollout.status, rollout.step, rollout.traffic) == ("active", 2, 25.0)
    refused = Analysis.objects.filter(rollout=rollout).order_by("step").last()
    assert (refused.step, refused.outcome) == (2, "fail")
    p95 = next(c for c in refused.checks["checks"] if c["name"] == "p95 latency")
    assert p95["status"] == "fail" and p95["count"] == 120, p95
    assert 380 < p95["observed"] < 420
    # The 1 % and 5 % steps' points had left the window: only the slow minute was judged.
    windows = {w["metric"]: w for w in refused.inputs["metrics"]}
    assert windows["latency_ms"]["stats"]["count"] == 120


@pytest.fixture
def prometheus(canary) -> Canary:
    if canary is None:
        missing_part(NO_PROMETHEUS, "REQUIRE_PROMETHEUS")
    return canary


def test_a_prometheus_canary_walks_when_healthy_and_is_refused_when_slow(pipeline, prometheus):
    plan = doc_block("plan-prometheus.json")
    assert DOC_PROMETHEUS in plan
    plan = plan.replace(DOC_PROMETHEUS, prometheus.prometheus.url)
    content = json.loads(plan)
    queries, qps = content["prometheus"]["queries"], content["serving"]["throughput"]["qps"]

    def read(metric: str, seconds: float) -> np.ndarray | None:
        """The metric's query over the last ``seconds``, at the step the analysis of so
        long a window reads it (None: no data yet)."""
        end = datetime.now(UTC)
        try:
            return query_range(
                prometheus.prometheus.url,
                queries[metric],
                start=end - timedelta(seconds=seconds),
                end=end,
                step_seconds=step_for(seconds),
            ).values
        except PrometheusError:
            return None

    prometheus.exporter.heal()
    wait_for(
        lambda: (rate := read("throughput_qps", 2)) is not None and rate.min() > 2 * qps,
        30,
        "the canary's throughput in Prometheus",
        0.25,
    )
    healthy = pipeline.deployment(plan)
    walk = pipeline.run("canary-rollout.sh", DEPLOYMENT=str(healthy.pk))
    assert walk.returncode == 0, walk.stdout + walk.stderr
    assert "Pushed" not in walk.stdout
    assert walk.stdout.count(": All 5 checks passed.") == 5, walk.stdout
    rollout = Rollout.objects.get(deployment=healthy)
    assert (rollout.status, rollout.traffic) == ("finished", 100.0)
    for analysis in rollout.analyses.all():
        # Each latency percentile is read from its own query.
        sources = {(c["metric"], c["statistic"]): c["source"] for c in analysis.checks["checks"]}
        for stat in ("p50", "p95", "p99"):
            assert sources[("latency_ms", stat)] == f"prometheus: {queries[f'latency_ms:{stat}']}"

    # The canary slows down. Its first step's window still holds the healthy minutes
    # before; the walk starts once the window's mean p95 is well past the target.
    prometheus.exporter.degrade()
    window = content["pattern"]["steps"][0]["window_minutes"] * 60
    target = content["serving"]["latency_ms"]["p95"]
    try:
        wait_for(
            lambda: (
                (p95 := read("latency_ms:p95", window)) is not None and p95.mean() > 1.5 * target
            ),
            150,
            "the first step's window to hold enough slow answers",
            0.5,
        )
        slow = pipeline.deployment(plan)
        walk = pipeline.run("canary-rollout.sh", DEPLOYMENT=str(slow.pk))
    finally:
        prometheus.exporter.heal()
    assert walk.returncode == 1, walk.stdout + walk.stderr
    assert "Step 1 of 5: 1 % for 30 minutes." in walk.stdout
    assert "Refused (analysis_failed): " in walk.stdout
    assert re.search(
        r"\n  fail +p95 latency \d{3}(\.\d+)? ms misses ≤ 150 ms averaged over \d+ points "
        r"of the p95 at each moment\.",
        walk.stdout,
    ), walk.stdout
    rollout = Rollout.objects.get(deployment=slow)
    assert (rollout.status, rollout.step, rollout.traffic) == ("active", 0, 1.0)
    refused = rollout.analyses.get()
    p95 = next(c for c in refused.checks["checks"] if c["name"] == "p95 latency")
    assert p95["status"] == "fail" and p95["observed"] > target, p95
