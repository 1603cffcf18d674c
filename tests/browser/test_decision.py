"""The decision, walked in Chromium: the ML engineer has the worker compute mitigation
options for a failing audit, an auditor approves it as an exception, the business owner's
gate shows it with its date, and the pack a real worker renders opens with the decision
memo, signed by the portal."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from projects.services import teams
from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD, UserFactory, build_team, make_failing_audit

pytestmark = pytest.mark.browser

FINDING = "Recall for group F is 0.12 below group M, past the 0.05 limit."
CONDITIONS = "An underwriter reviews every decline for group F during the pilot."


@pytest.fixture
def failing(transactional_db):
    """Team A with a failing audit of its candidate, waiting for review; its people have
    names and titles."""
    team = build_team("a", UserFactory(username="a_external"))
    names = {
        "business_owner": ("Maria", "Okafor", "Head of Underwriting"),
        "auditor": ("Priya", "Raman", "Model Risk Validator"),
    }
    for role, (first, last, title) in names.items():
        teams.profile_update(
            actor=team.people[role], first_name=first, last_name=last, job_title=title
        )
    team.project.intended_use = "Ranks applications for an underwriter's review."
    team.project.save(update_fields=["intended_use"])
    return team, make_failing_audit(team)


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _log_out(page) -> None:
    page.click("nav button:has-text('Log out')")
    page.wait_for_load_state()


def test_a_failing_audit_is_approved_as_an_exception_and_the_pack_reads_as_a_memo(
    failing, live_server, page, worker, tmp_path
):
    _team, audit = failing
    until = (timezone.localdate() + timedelta(days=45)).isoformat()

    # The ML engineer asks what ThresholdOptimizer would trade; the worker computes it.
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    page.click("text=Compute mitigation options")
    page.wait_for_load_state()
    section = page.locator("section[aria-labelledby=mitigation]")
    # The options swap themselves in when the worker finishes: no reload.
    section.locator("svg").first.wait_for(timeout=120_000)
    shown = section.inner_text()
    assert "Demographic parity" in shown and "Equalized odds" in shown
    assert section.locator("svg").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "audit-mitigation.png"), full_page=True)
    _log_out(page)

    _log_in(page, live_server, "a_auditor")
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    page.click("a[href='#your-review']")
    page.check("input[name=decision][value=approve]")
    page.fill("textarea[name=rationale]", "Accepted for a supervised pilot.")
    page.fill("textarea[name=finding]", FINDING)
    page.fill("textarea[name=conditions]", CONDITIONS)
    page.select_option("select[name=owner]", "a_business_owner")
    page.fill("input[name=expires_on]", until)
    page.click("text=Record the review")
    page.wait_for_load_state()
    assert "Review recorded" in page.inner_text(".messages")
    main = page.inner_text("main")
    assert FINDING in main and CONDITIONS in main and until in main
    page.screenshot(path=str(ARTIFACTS / "audit-exception.png"), full_page=True)
    _log_out(page)

    _log_in(page, live_server, "a_business_owner")
    page.goto(f"{live_server.url}/projects/a-project/")
    audit_check = page.locator("#gate .checklist li", has_text="Fairness audit")
    assert "pass" in audit_check.get_attribute("class")
    assert f"exception until {until}" in audit_check.inner_text()
    page.screenshot(path=str(ARTIFACTS / "gate-exception.png"), full_page=True)

    page.goto(f"{live_server.url}/projects/a-project/approval-packs/")
    page.click("text=Render a pack of the current state")
    page.wait_for_url(f"{live_server.url}/approval-packs/**")
    page.locator("#pdf-sha256").wait_for(timeout=120_000)
    with page.expect_download() as download:
        page.click("text=Download the PDF")
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(Path(download.value.path()).read_bytes())

    out = io.StringIO()
    call_command("verify_pack", str(pdf), stdout=out)
    assert "verified approval pack" in out.getvalue()

    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing (apt-get install poppler-utils)")
    memo = subprocess.run(
        ["pdftotext", "-f", "2", "-l", "3", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    memo = " ".join(memo.split())
    for shown in (
        "Decision memo",
        "Decision requested",
        "The team's recommendation",
        "The independent reviewer's opinion",
        "approved as an exception by Priya Raman, Model Risk Validator",
        FINDING,
        CONDITIONS,
        until,
        "Maria Okafor, Head of Underwriting",
        "Ranks applications for an underwriter's review.",
        "Signatures",
    ):
        assert shown in memo, f"the memo does not show {shown!r}"
    whole = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True)
    assert "Mitigation options (fairlearn ThresholdOptimizer)" in whole.stdout.decode()
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "50", str(pdf), str(ARTIFACTS / "decision-pack")],
            check=True,
        )


def test_a_review_goes_back_and_forth_as_a_pull_request_review(failing, live_server, page):
    _team, audit = failing
    due = (timezone.localdate() + timedelta(days=7)).isoformat()

    # The ML engineer asks the outside auditor, by a date.
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    page.click("text=Assign a reviewer and a due date")
    page.select_option("select[name=reviewer]", "a_external")
    page.fill("input[name=due_on]", due)
    page.fill("#ask-review textarea[name=note]", "Group F first, please.")
    page.click("text=Ask for the review")
    page.wait_for_load_state()
    assert "Review asked of a_external" in page.inner_text(".messages")
    assert f"due {due}" in page.inner_text("#review-request")
    _log_out(page)

    # The reviewer finds it waiting on the home page and asks for changes.
    _log_in(page, live_server, "a_external")
    waiting = page.inner_text("#waiting-for-me")
    assert f"fairness audit {audit.pk}" in waiting and f"due {due}" in waiting
    page.click(f"#waiting-for-me a[href='/audits/{audit.pk}/#review']")
    page.wait_for_load_state()
    page.check("input[name=decision][value=request_changes]")
    page.fill("#your-review textarea[name=rationale]", "Bin the ages before I judge group F.")
    page.click("text=Record the review")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/audits/inbox/")
    assert f"Audit {audit.pk}" not in page.locator("main table").first.inner_text()
    _log_out(page)

    # The engineer answers in the thread and asks again.
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    page.fill("#comment textarea[name=body]", "Ages are binned in the new evaluation.")
    page.click("#comment button[type=submit]")
    page.wait_for_load_state()
    thread = page.inner_text("section[aria-labelledby=review]")
    assert thread.index("Bin the ages") < thread.index("Ages are binned")
    page.select_option("select[name=reviewer]", "a_external")
    page.click("text=Ask again")
    page.wait_for_load_state()
    page.screenshot(path=str(ARTIFACTS / "audit-review-thread.png"), full_page=True)
    _log_out(page)

    _log_in(page, live_server, "a_external")
    page.goto(f"{live_server.url}/audits/inbox/")
    # The first table waits for review; the second lists the reviewer's own decisions.
    row = page.locator("main table").first.locator("tr", has_text=f"Audit {audit.pk}")
    assert "asked again after changes" in row.inner_text() and "you" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "audit-inbox-asked-again.png"), full_page=True)
