"""A person watches a job's result appear where they are reading: the profile of an upload,
an evaluation's metrics, an audit's report. The page is never reloaded: a marker set on the
window once the page had loaded is still there when the result shows.

Each page is opened on a queued job before the real worker starts, so the result can only
arrive by swapping in, never with the page's first render."""

from __future__ import annotations

import pytest

from projects.services import evaluations
from projects.services.uploads import upload_from_bytes
from tests.browser.conftest import ARTIFACTS
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import PASSWORD, UserFactory, build_team

pytestmark = pytest.mark.browser

RESULT_TIMEOUT = 60_000


@pytest.fixture
def team(transactional_db):
    return build_team("a", UserFactory(username="a_external"))


@pytest.fixture
def queued_evaluation(team, worker_factory):
    """Predictions uploaded while no worker runs (after the broker was purged): the job
    waits in the queue. Made before the browser starts, as ORM calls must be."""
    return evaluations.evaluation_upload(
        actor=team.people["ml_engineer"],
        model=team.model,
        dataset_version=team.version,
        upload=upload_from_bytes("predictions.csv", predictions_csv(sample_frame())),
        mapping={"y_true": "label", "y_pred": "prediction", "y_score": "score"},
    )


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _mark(page) -> None:
    """Tag this document: a navigation or reload would start a fresh window without it."""
    page.wait_for_load_state()
    page.evaluate("window.__marker = 1")


def _still_marked(page) -> bool:
    return page.evaluate("window.__marker") == 1


def _start_worker(worker_factory):
    return worker_factory(JOB_MAX_DELIVERIES="3")


def test_an_engineer_watches_the_profile_of_an_upload_appear(
    team, live_server, page, worker_factory, tmp_path
):
    csv = tmp_path / "loans-3.csv"
    csv.write_bytes(sample_csv(rows=2_000, seed=41))
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/datasets/{team.dataset.pk}/")
    page.set_input_files("input[name=file]", str(csv))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/versions/**")
    _mark(page)
    assert page.locator("#version-status .badge.status-queued").count() == 1
    assert page.locator("table.profile").count() == 0
    status_url = page.locator("#version-status").get_attribute("hx-get")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))

    _start_worker(worker_factory)
    page.wait_for_selector("#version-live table.profile", timeout=RESULT_TIMEOUT)
    assert _still_marked(page)
    assert "2000 rows" in page.inner_text("#version-live")
    assert page.locator("#version-status .badge.status-succeeded").count() == 1
    # The status polled while the job waited, and polls no more now that it is done.
    assert any(url.endswith(status_url) for url in polls)
    assert page.locator("#version-status").get_attribute("hx-get") is None
    assert page.locator("#version-live [hx-trigger^=every]").count() == 0
    asked = len(polls)
    page.wait_for_timeout(2_500)  # a poll would be due every second
    assert not [url for url in polls[asked:] if url.endswith(status_url)]
    assert "reload" not in page.inner_text("main").lower()
    page.screenshot(path=str(ARTIFACTS / "live-profile.png"), full_page=True)


def test_an_engineer_watches_metrics_and_then_an_audit_report_appear(
    team, queued_evaluation, live_server, page, worker_factory
):
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/evaluations/{queued_evaluation.pk}/")
    _mark(page)
    assert page.locator("#evaluation-status .badge.status-queued").count() == 1
    assert "Against the baselines" not in page.inner_text("main")

    worker = _start_worker(worker_factory)
    page.wait_for_selector(
        "#evaluation-live h2:has-text('Against the baselines')", timeout=RESULT_TIMEOUT
    )
    assert _still_marked(page)
    assert page.locator("#evaluation-live .charts figure svg").count() >= 1
    assert page.locator("#evaluation-status").get_attribute("hx-get") is None
    page.screenshot(path=str(ARTIFACTS / "live-evaluation.png"), full_page=True)
    # The audit page should open on a queued audit too.
    worker.stop()

    # The audit form came with the swapped-in region and works like any other.
    page.click("text=Run a fairness audit")
    page.wait_for_url(f"{live_server.url}/audits/**")
    _mark(page)
    assert page.locator("#audit-status .badge.status-queued").count() == 1
    assert page.locator("#summary").count() == 0

    _start_worker(worker_factory)
    page.wait_for_selector("#audit-live #summary", timeout=RESULT_TIMEOUT)
    assert _still_marked(page)
    assert "Demographic-parity difference" in page.inner_text("#audit-live")
    assert page.locator("#audit-live figure.chart svg").count() >= 4
    assert page.locator("#audit-status").get_attribute("hx-get") is None
    page.screenshot(path=str(ARTIFACTS / "live-audit.png"), full_page=True)
