"""Pick, don't type: a new project's slug follows its name, and a predictions file's header
fills the column pickers before anything is uploaded."""

from __future__ import annotations

import pytest

from projects.models import Evaluation, Project
from tests.browser.conftest import ARTIFACTS
from tests.data import predictions_csv, sample_frame
from tests.factories import PASSWORD, UserFactory, build_team

pytestmark = pytest.mark.browser


@pytest.fixture
def team(transactional_db):
    return build_team("a", UserFactory(username="a_external"))


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_a_new_projects_slug_follows_its_name_until_edited(team, live_server, page):
    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/projects/new/")
    # The one team this person may create projects in is chosen already.
    assert page.input_value("#id_team") == str(team.team.pk)

    page.type("#id_name", "Churn Radar: Ünder 30s")
    assert page.input_value("#id_slug") == "churn-radar-under-30s"
    page.fill("#id_slug", "churn-radar")
    page.press("#id_name", "End")
    page.keyboard.type(" (EU)")
    assert page.input_value("#id_slug") == "churn-radar", "a slug typed by hand was overwritten"

    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/projects/churn-radar/")
    project = Project.objects.get(slug="churn-radar")
    assert (project.name, project.team) == ("Churn Radar: Ünder 30s (EU)", team.team)


def test_a_predictions_header_fills_the_column_pickers_before_upload(
    team, live_server, page, tmp_path
):
    # A header with quoted names, as spreadsheet exports write them.
    body = predictions_csv(sample_frame()).decode().split("\n", 1)[1]
    csv = tmp_path / "predictions.csv"
    csv.write_text('customer_id,"label",prediction,score,"sex"\n' + body)
    parquet = tmp_path / "predictions.parquet"
    parquet.write_bytes(b"PAR1")
    version = team.version

    _log_in(page, live_server, "a_ml_engineer")
    page.goto(f"{live_server.url}/models/{team.model.pk}/")
    form = page.locator("form[data-header-picker]")
    hint = form.locator(f".version-hint[data-version='{version.pk}']")
    assert not hint.is_visible(), "a hint shown before its version is chosen"

    page.set_input_files("input[name=file]", str(parquet))
    status = form.locator("[data-header-status]")
    status.locator("text=checked on upload").wait_for()

    page.set_input_files("input[name=file]", str(csv))
    status.locator("text=has 5 columns").wait_for()
    assert page.locator("#id_y_true-columns option").evaluate_all(
        "options => options.map(o => o.value)"
    ) == ["customer_id", "label", "prediction", "score", "sex"]
    assert page.get_attribute("#id_y_pred", "list") == "id_y_pred-columns"
    # Usual names fill the fields still empty; nothing was uploaded yet.
    assert page.input_value("#id_y_true") == "label"
    assert page.input_value("#id_y_pred") == "prediction"
    assert page.input_value("#id_y_score") == "score"
    assert page.input_value("#id_row_id") == ""
    assert Evaluation.objects.filter(model_version=team.model).count() == 2

    # The dataset version says what it holds itself; a row id must be in both files.
    page.select_option("#id_dataset_version", str(version.pk))
    assert hint.is_visible()
    assert "Sensitive features can come from loans v1 instead" in hint.inner_text()
    assert page.locator("#id_row_id-columns option").evaluate_all(
        "options => options.map(o => o.value)"
    ) == ["customer_id", "sex"]

    page.check("#id_sensitive-picks label:has-text('sex') input")
    assert page.input_value("#id_sensitive") == "sex"
    page.screenshot(path=str(ARTIFACTS / "predictions-pickers.png"), full_page=True)

    page.click("form[data-header-picker] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/evaluations/*/")
    evaluation = Evaluation.objects.filter(model_version=team.model).latest("pk")
    assert evaluation.mapping == {
        "y_true": "label",
        "y_pred": "prediction",
        "y_score": "score",
        "sensitive": ["sex"],
    }
