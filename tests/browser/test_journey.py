"""A person logs in, opens a project and reads its gate checklist."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from projects.services.criteria import criteria_save
from tests.browser.conftest import ARTIFACTS, upload_refused_file
from tests.data import sample_csv
from tests.factories import PASSWORD, WORLD_CRITERIA, UserFactory, build_team, make_evaluation

pytestmark = pytest.mark.browser


@pytest.fixture
def team(transactional_db):
    return build_team("a", UserFactory(username="a_external"))


@pytest.fixture
def ready_team(transactional_db):
    """A project whose approval pack is rendered: it passes into deployment."""
    return build_team("a", UserFactory(username="a_external"), with_pack=True)


def test_a_business_owner_reads_the_checklist_and_moves_the_project(ready_team, live_server, page):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "a_business_owner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".badge.stage-prototyping").first.is_visible()

    page.click("text=A Project")
    page.wait_for_url(f"{live_server.url}/projects/a-project/")
    checklist = page.locator("#gate .checklist li")
    assert checklist.count() == 13
    assert page.locator("#gate .checklist li.fail").count() == 0
    assert "Business owner named" in checklist.all_inner_texts()[1]
    page.screenshot(path=str(ARTIFACTS / "project-page.png"), full_page=True)

    page.fill("#move textarea[name=reason]", "Every check of the gate passes.")
    page.click("#move button:has-text('Move to deployment')")
    # The move asks for confirmation, repeating the reason.
    assert "Every check of the gate passes." in page.inner_text("#move-confirm")
    page.click("#move-confirm [data-move-confirm]")
    page.wait_for_load_state()
    assert "Moved to deployment" in page.inner_text(".messages")
    assert page.locator(".stepper li.current").inner_text() == "Deployment"


def test_an_export_shows_progress_and_then_a_download(team, live_server, page, worker):
    """The page polls the job that the real worker runs until the download appears."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "a_viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/projects/a-project/")
    page.click("text=Export audit trail (CSV)")
    page.wait_for_load_state()
    item = page.locator("#exports li").first
    item.locator("text=Download CSV").wait_for(timeout=60_000)
    assert "Succeeded" in item.inner_text()
    page.screenshot(path=str(ARTIFACTS / "export-done.png"), full_page=True)


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_an_engineer_uploads_a_version_and_watches_it_profile(
    team, live_server, page, worker, tmp_path
):
    """Upload with the progress bar, land on the version page, see the profile appear."""
    csv = tmp_path / "loans-2.csv"
    csv.write_bytes(sample_csv(rows=20_000, seed=31))
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/datasets/{team.dataset.pk}/")
    page.set_input_files("input[name=file]", str(csv))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/versions/**")
    # The profile swaps itself into the page when the worker finishes: no reload.
    page.locator("table.profile").wait_for(timeout=60_000)
    assert "20000 rows" in page.inner_text("main")
    assert page.locator("table.profile svg").count() >= 5
    page.screenshot(path=str(ARTIFACTS / "version-profile.png"), full_page=True)

    # A file that is not what its name says is refused on the card, with the reason.
    upload_refused_file(page, live_server.url, team.dataset.pk, tmp_path)


def _log_out(page) -> None:
    page.click("nav button:has-text('Log out')")
    page.wait_for_load_state()


@pytest.fixture
def newer(team):
    """An evaluation newer than the audited one. Made before the browser starts: ORM calls
    inside Playwright's context would open a connection nobody closes."""
    return make_evaluation(team.model, team.version, team.people["ml_engineer"])


def test_an_engineer_runs_an_audit_and_an_auditor_approves_it(
    team, newer, live_server, page, worker
):
    """From the evaluation page to the report (computed by the worker), then the auditor's
    inbox and review; the project's checklist follows."""
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/projects/a-project/")
    audit_check = page.locator("#gate .checklist li", has_text="Fairness audit")
    assert "fail" in audit_check.get_attribute("class")
    assert "Run a fairness audit" in audit_check.inner_text()

    page.goto(f"{live_server.url}/evaluations/{newer.pk}/")
    page.click("text=Run a fairness audit")
    page.wait_for_url(f"{live_server.url}/audits/**")
    page.locator("figure.chart svg").first.wait_for(timeout=60_000)
    assert "Demographic-parity difference" in page.inner_text("main")
    assert page.locator("figure.chart svg").count() >= 4
    assert "Your review" not in page.inner_text("main")  # engineers do not review
    page.screenshot(path=str(ARTIFACTS / "audit-report.png"), full_page=True)
    audit_url = page.url
    _log_out(page)

    _log_in(page, live_server, "a_auditor")
    page.click("text=Audit inbox")
    page.click(f"a[href='{audit_url.removeprefix(live_server.url)}']")
    page.check("input[name=decision][value=approve]")
    page.fill("textarea[name=rationale]", "Gaps are within the limits; small groups noted.")
    page.click("text=Record the review")
    page.wait_for_load_state()
    assert "Review recorded: approve" in page.inner_text(".messages")
    assert "Approve by a_auditor" in page.inner_text("main")
    page.goto(f"{live_server.url}/projects/a-project/")
    assert "pass" in audit_check.get_attribute("class")
    assert "approved by a_auditor" in audit_check.inner_text()


@pytest.fixture
def new_criteria(team):
    """Version 2 of the criteria, waiting for both signatures (made before the browser)."""
    criteria = [dict(c) for c in WORLD_CRITERIA]
    criteria[0]["target"] = 0.72
    return criteria_save(
        actor=team.people["ml_engineer"], project=team.project, criteria=criteria, note="Pilot."
    )


def test_the_owner_and_the_engineer_sign_and_the_worker_renders_the_pack(
    team, new_criteria, live_server, page, worker
):
    """From the waiting-for-me list to two signatures, a pack rendered by the real worker
    whose download matches the sha256 shown, and the move into deployment."""
    for username, role in (
        ("a_business_owner", "business_owner"),
        ("a_ml_engineer", "ml_engineer"),
    ):
        _log_in(page, live_server, username)
        page.click("#waiting-for-me a")
        page.wait_for_url(f"{live_server.url}/criteria-versions/{new_criteria.pk}/**")
        assert page.locator("select[name=role] option").all_inner_texts() == [
            "Business owner" if role == "business_owner" else "ML engineer"
        ]
        page.click("#sign button[type=submit]")
        page.wait_for_load_state()
        assert "You approved criteria v2" in page.inner_text(".messages")
        _log_out(page)
    _log_in(page, live_server, "a_business_owner")
    assert page.locator("#waiting-for-me").count() == 0
    page.goto(f"{live_server.url}/criteria-versions/{new_criteria.pk}/")
    assert "Signed off" in page.inner_text("#signoffs + p")
    page.screenshot(path=str(ARTIFACTS / "criteria-signed.png"), full_page=True)

    page.goto(f"{live_server.url}/projects/a-project/approval-packs/")
    page.click("text=Render a pack of the current state")
    page.wait_for_url(f"{live_server.url}/approval-packs/**")
    page.locator("#pdf-sha256").wait_for(timeout=120_000)
    shown = page.inner_text("#pdf-sha256").strip()
    with page.expect_download() as download:
        page.click("text=Download the PDF")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == shown
    page.screenshot(path=str(ARTIFACTS / "approval-pack.png"), full_page=True)

    page.goto(f"{live_server.url}/projects/a-project/")
    assert page.locator("#gate .checklist li.fail").count() == 0
    page.fill("#move textarea[name=reason]", "Every check of the gate passes.")
    page.click("#move button:has-text('Move to deployment')")
    # The move asks for confirmation, repeating the reason.
    assert "Every check of the gate passes." in page.inner_text("#move-confirm")
    page.click("#move-confirm [data-move-confirm]")
    page.wait_for_load_state()
    assert "Moved to deployment" in page.inner_text(".messages")
