"""A real headless Chromium (Debian's) driven by Playwright against a live server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness import missing_part

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def browser(live_server, monkeypatch):
    """One headless Chromium for the test; a test opens its own contexts in it."""
    if not Path(CHROMIUM).exists():
        missing_part(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH",
            "REQUIRE_BROWSER",
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def upload_refused_file(page, base_url: str, dataset_pk: int, tmp_path: Path) -> None:
    """Post a CSV named .parquet from a dataset's card and wait for the refusal it shows."""
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"a,b\n1,2\n")
    page.goto(f"{base_url}/datasets/{dataset_pk}/")
    page.set_input_files("input[name=file]", str(bad))
    page.click("#upload-form button[type=submit]")
    page.locator("#upload-result [role=alert]").wait_for(timeout=10_000)
    assert "content is CSV" in page.inner_text("#upload-result")
