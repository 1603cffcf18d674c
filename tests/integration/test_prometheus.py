"""Range queries against a real Prometheus that scrapes a canary exporter every second.

The exporter makes up 200 requests a second, healthy (about 50 ms, 0.1 % errors) until it
is degraded (about 400 ms, 5 % errors). Prometheus applies new scrape targets every five
seconds, so its first samples come some six seconds after it starts; the file takes about
20 s. Without a ``prometheus`` binary the tests that need one skip, except where
``REQUIRE_PROMETHEUS`` is set (CI), where they fail.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from deployments.prometheus import PrometheusError, RangeResult, query_range
from tests.harness import missing_part, wait_for
from tests.servers import (
    NO_PROMETHEUS,
    PROMETHEUS,
    CanaryExporter,
    PrivatePrometheus,
    canary,
    free_port,
)

pytestmark = pytest.mark.integration


P95 = "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[15s])) by (le))"
ERROR_RATE = (
    'sum(rate(http_requests_total{status=~"5.."}[15s])) / sum(rate(http_requests_total[15s]))'
)


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    if not PROMETHEUS:
        missing_part(NO_PROMETHEUS, "REQUIRE_PROMETHEUS")
    return PROMETHEUS


@pytest.fixture(scope="module")
def exporter():
    with CanaryExporter(seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(prometheus_binary, exporter, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prometheus")
    with PrivatePrometheus(folder, [exporter.target], binary=prometheus_binary) as server:
        yield server


def last(url: str, query: str, seconds: float) -> RangeResult:
    """The query over the last ``seconds``, a point a second."""
    end = datetime.now(UTC)
    return query_range(url, query, start=end - timedelta(seconds=seconds), end=end, step_seconds=1)


def answered(url: str, query: str) -> RangeResult | None:
    try:
        return last(url, query, 2)
    except PrometheusError:
        return None


def test_it_reads_a_healthy_canary_and_sees_it_degrade(prometheus, exporter):
    exporter.heal()
    wait_for(lambda: answered(prometheus.url, P95), 30, "the first scraped samples", 0.25)
    time.sleep(2)

    healthy = last(prometheus.url, P95, 3)
    assert healthy.series == 1
    assert healthy.values.size >= 3
    assert ((healthy.values > 0.04) & (healthy.values < 0.075)).all(), healthy.values
    errors = last(prometheus.url, ERROR_RATE, 3)
    assert (errors.values <= 0.005).all(), errors.values
    assert healthy.url.startswith(f"{prometheus.url}/api/v1/query_range?query=histogram_quantile")

    exporter.degrade()
    switched = datetime.now(UTC)
    time.sleep(9)
    end = datetime.now(UTC)
    window = {"start": switched + timedelta(seconds=3), "end": end, "step_seconds": 1}
    degraded = query_range(prometheus.url, P95, **window)
    assert degraded.values.size >= 5
    # A healthy p95 is about 60 ms; five degraded seconds in a 15 s rate already pass 400 ms.
    assert (degraded.values > 0.35).all(), degraded.values
    assert degraded.values.min() > 5 * healthy.values.max()
    errors = query_range(prometheus.url, ERROR_RATE, **window)
    # 5 % of the requests fail now; the 15 s rate still holds some healthy seconds.
    assert errors.values[-1] > 0.02, errors.values
    exporter.heal()


def test_it_says_when_nothing_listens():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusError) as raised:
        last(url, "up", 10)
    assert raised.value.reason == (
        f"could not connect to Prometheus at {url}: the connection was refused"
    )


def test_it_reports_a_promql_syntax_error(prometheus):
    with pytest.raises(PrometheusError) as raised:
        last(prometheus.url, "sum(rate(http_requests_total[15s])", 10)
    assert raised.value.reason.startswith("PromQL error: "), raised.value.reason
    assert "parse error" in raised.value.reason


def test_it_reports_a_query_without_data(prometheus):
    with pytest.raises(PrometheusError) as raised:
        last(prometheus.url, "rate(no_such_metric_total[15s])", 10)
    assert raised.value.reason == "the query returned no data for the window"


@pytest.mark.parametrize("status", [200, 404])
def test_it_refuses_a_server_that_is_not_prometheus(status):
    page = b"<!doctype html><title>Welcome</title><p>Our shop</p>"
    shop_page = canary(lambda path: (status, {"Content-Type": "text/html"}, page))
    with shop_page as shop, pytest.raises(PrometheusError) as raised:
        last(shop.url, "up", 10)
    assert raised.value.reason.startswith(f"the server at {shop.url} answered ")
    assert "text/html" in raised.value.reason
    assert "is this the address of Prometheus itself?" in raised.value.reason
    assert shop.hits[0].startswith("/api/v1/query_range?query=up&start=")
