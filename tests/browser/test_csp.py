"""The main pages under the Content-Security-Policy in a real Chromium: nothing refused,
nothing complained of in the console, and the scripted parts still work."""

from __future__ import annotations

import pytest

from projects.services.exports import event_export_request
from tests.browser.conftest import ARTIFACTS, upload_refused_file
from tests.factories import PASSWORD, UserFactory, build_team

pytestmark = pytest.mark.browser

# Runs in every page before its own scripts; Playwright injects it past the CSP.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}`);
});
"""


@pytest.fixture
def team(transactional_db):
    team = build_team("a", UserFactory(username="a_external"))
    # A job nobody runs (no worker here), so its row on its requester's project page
    # keeps polling.
    team.extra["queued_export"] = event_export_request(
        actor=team.people["ml_engineer"], project=team.project
    )
    return team


@pytest.fixture
def watched(page):
    """The page, with every CSP violation and console error it meets recorded."""
    complaints: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)

    def on_console(message) -> None:
        # Pages have no favicon; the browser's own request for one is not the page's doing.
        if message.type in ("error", "warning") and not message.location.get("url", "").endswith(
            "/favicon.ico"
        ):
            complaints.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: complaints.append(f"page error: {error}"))
    page.complaints = complaints
    return page


def _assert_clean(page, url: str) -> None:
    violations = page.evaluate("window.__violations")
    assert violations == [], f"{url}: the CSP refused {violations}"
    assert page.complaints == [], f"{url}: {page.complaints}"


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_it_shows_the_main_pages_with_nothing_refused(team, live_server, watched):
    page = watched
    _log_in(page, live_server, "a_ml_engineer")
    _assert_clean(page, "login")
    paths = {
        "home": "/",
        "project": f"/projects/{team.project.slug}/",
        "dataset": f"/datasets/{team.dataset.pk}/",
        "version": f"/versions/{team.version.pk}/",
        "evaluation": f"/evaluations/{team.evaluation.pk}/",
        "audit-report": f"/audits/{team.audit.pk}/",
        "criteria": f"/projects/{team.project.slug}/criteria/",
        "criteria-edit": f"/projects/{team.project.slug}/criteria/edit/",
        "risks": f"/projects/{team.project.slug}/risks/",
        "team": f"/teams/{team.team.slug}/",
        "tokens": "/tokens/",
    }
    for name, path in paths.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        _assert_clean(page, path)
        if name in ("project", "audit-report", "criteria"):
            page.screenshot(path=str(ARTIFACTS / f"csp-{name}.png"), full_page=True)


def test_it_keeps_the_scripted_parts_working(team, live_server, watched, tmp_path):
    page = watched
    _log_in(page, live_server, "a_ml_engineer")

    # htmx polls the queued export's row.
    page.goto(f"{live_server.url}/projects/{team.project.slug}/")
    export = team.extra["queued_export"]
    with page.expect_request(f"**/exports/{export.pk}/", timeout=5_000):
        pass
    _assert_clean(page, "project polling")

    # htmx posts the upload form and static/js/upload.js lets it show the refusal.
    upload_refused_file(page, live_server.url, team.dataset.pk, tmp_path)
    # The refused request itself is a 400 the console reports; nothing else may be.
    page.complaints[:] = [c for c in page.complaints if "400 (Bad Request)" not in c]
    _assert_clean(page, "upload")

    # The log-out button posts its form.
    page.click("nav button:has-text('Log out')")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    _assert_clean(page, "log out")


def test_it_runs_the_api_docs_under_the_policy(team, live_server, watched):
    page = watched
    page.goto(f"{live_server.url}/api/docs/")
    assert "/accounts/login/" in page.url  # anonymous: log in first
    page.fill("input[name=username]", "a_ml_engineer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/api/docs/")
    # Swagger UI ran its start-up script from a file and read the schema with the session.
    operations = page.locator(".opblock")
    operations.first.wait_for(timeout=15_000)
    assert operations.count() > 20
    operations.first.locator(".opblock-summary").click()
    page.locator(".opblock-body").first.wait_for(timeout=5_000)
    page.screenshot(path=str(ARTIFACTS / "csp-api-docs.png"), full_page=False)
    _assert_clean(page, "/api/docs/")
