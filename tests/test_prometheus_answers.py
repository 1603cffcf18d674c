"""What ``deployments.prometheus`` makes of answers a real Prometheus would not give: the
limits that keep a wrong or hostile server from hanging or flooding a worker, and the
arguments it refuses. Loopback servers only; tests/integration/test_prometheus.py asks a
real Prometheus."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from deployments import prometheus
from deployments.prometheus import PrometheusError, query_range, step_for
from tests.harness import ROOT
from tests.servers import canary

END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
START = END - timedelta(minutes=10)


def matrix(*series: list[list]) -> bytes:
    result = [{"metric": {"pod": str(i)}, "values": values} for i, values in enumerate(series)]
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}}
    ).encode()


def serving(body: bytes, status: int = 200, **headers: str):
    return canary(lambda path: (status, {"Content-Type": "application/json", **headers}, body))


def ask(url: str, query: str = "up", **options) -> prometheus.RangeResult:
    return query_range(url, query, start=START, end=END, step_seconds=15, **options)


def reason_from(url: str, **options) -> str:
    with pytest.raises(PrometheusError) as raised:
        ask(url, **options)
    return raised.value.reason


def test_it_asks_as_argo_rollouts_does_and_flattens_every_series():
    body = matrix([[1.0, "0.5"], [16.0, "NaN"]], [[1.0, "+Inf"], [16.0, "2"], [31.0, "3.5"]])
    with serving(body) as server:
        result = ask(server.url + "/prom/", 'sum(rate(x{a="b"}[1m]))')
    path = urlsplit(server.hits[0])
    assert path.path == "/prom/api/v1/query_range"
    assert parse_qs(path.query) == {
        "query": ['sum(rate(x{a="b"}[1m]))'],
        "start": [str(int(START.timestamp()))],
        "end": [str(int(END.timestamp()))],
        "step": ["15"],
    }
    np.testing.assert_array_equal(result.values, [0.5, 2.0, 3.5])
    assert (result.series, result.dropped, result.step_seconds) == (2, 2, 15)
    assert result.url == server.url + server.hits[0]


def test_it_says_when_every_sample_is_nan():
    with serving(matrix([[1.0, "NaN"], [16.0, "NaN"]])) as server:
        reason = reason_from(server.url)
    assert reason.startswith("the query returned only NaN or infinite values for the window")


def test_it_passes_prometheus_errors_on():
    error = {"status": "error", "errorType": "execution", "error": "query processing would load"}
    with serving(json.dumps(error).encode(), status=422) as server:
        reason = reason_from(server.url)
    assert reason == (
        "Prometheus refused the query (HTTP 422, execution): query processing would load"
    )


def test_it_refuses_a_result_that_is_not_a_matrix():
    vector = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with serving(json.dumps(vector).encode()) as server:
        reason = reason_from(server.url)
    assert reason.startswith("the query returned a 'vector' where a range query returns a matrix")


@pytest.mark.parametrize(
    "result",
    [
        [{"values": [[1.0, 2.0]]}],
        [{"values": [[1.0]]}],
        [{"values": [[1.0, "two"]]}],
        [{"values": "1,2,3"}],
        ["series"],
    ],
)
def test_it_refuses_json_that_is_not_a_range_answer(result):
    body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    with serving(json.dumps(body).encode()) as server:
        reason = reason_from(server.url)
    assert reason == f"the server at {server.url} sent JSON that is not a Prometheus range answer"


def test_it_refuses_more_points_per_series_than_prometheus_sends():
    points = [[float(i), "1"] for i in range(prometheus.MAX_POINTS_PER_SERIES + 1)]
    with serving(matrix(points)) as server:
        reason = reason_from(server.url)
    assert "sent 11001 points for one series" in reason


@pytest.mark.parametrize("declared", [True, False])
def test_it_stops_reading_an_answer_that_is_too_large(monkeypatch, declared):
    monkeypatch.setattr(prometheus, "MAX_RESPONSE_BYTES", 10_000)
    body = matrix([[float(i), "1"] for i in range(2_000)])
    headers = {"Content-Length": str(len(body))} if declared else {}
    with serving(body, **headers) as server:
        reason = reason_from(server.url)
    assert reason.startswith(f"the answer from {server.url} is larger than")


def test_it_gives_up_on_a_server_that_does_not_answer():
    # The kernel accepts the connection on the listening socket; nobody ever answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        began = time.monotonic()
        reason = reason_from(url, timeout=0.3)
    assert time.monotonic() - began < 1.5
    assert reason == f"Prometheus at {url} did not answer within 0.3 s"


def test_it_follows_no_redirect():
    with canary(lambda path: (302, {"Location": "http://169.254.169.254/latest/"}, b"")) as server:
        reason = reason_from(server.url)
    assert reason == (
        f"the server at {server.url} redirects to http://169.254.169.254/latest/; "
        "give that address as the Prometheus URL"
    )
    assert len(server.hits) == 1


def test_it_says_when_the_host_name_is_unknown():
    reason = reason_from("http://no-such-prometheus.invalid:9090")
    assert reason.startswith("could not find the Prometheus host 'no-such-prometheus.invalid'")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://prometheus/", "prometheus:9090", "http://", "gopher://x"],
)
def test_it_takes_only_http_and_https_urls(url):
    assert "give an http:// or https:// URL" in reason_from(url)


def test_it_refuses_credentials_and_queries_in_the_url():
    assert "without a user name or password" in reason_from("http://u:p@prometheus:9090")
    assert "without a query or fragment" in reason_from("http://prometheus:9090/?x=1")


def test_it_refuses_naive_times_and_windows_prometheus_would_refuse():
    with pytest.raises(ValueError, match="time zone"):
        query_range("http://p:9090", "up", start=datetime(2025, 1, 1), end=END, step_seconds=1)
    with pytest.raises(ValueError, match="before it starts"):
        query_range("http://p:9090", "up", start=END, end=START, step_seconds=1)
    with pytest.raises(ValueError, match="more than Prometheus answers"):
        query_range("http://p:9090", "up", start=END - timedelta(hours=4), end=END, step_seconds=1)


@pytest.mark.parametrize(
    ("window", "step"), [(1, 1), (60, 1), (1_000, 1), (1_001, 2), (3_600, 4), (86_400, 87)]
)
def test_it_steps_a_window_in_about_a_thousand_points(window, step):
    assert step_for(window) == step
    assert window / step_for(window) <= prometheus.TARGET_POINTS


def test_it_imports_no_django():
    code = "import sys, deployments.prometheus; print(any('django' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
