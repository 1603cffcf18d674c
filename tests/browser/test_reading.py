"""Pages people can read at 1280 px, measured in Chromium: no chart text under 12 CSS px,
and no table of numbers cut off."""

from __future__ import annotations

import pytest

from audits.services.baselines import baseline_run
from tests.factories import PASSWORD, UserFactory, build_team

pytestmark = pytest.mark.browser

#: Every chart on the page: its smallest text in CSS px, as drawn (font size times the
#: rendered width over the viewBox width).
SMALLEST_TEXT = """() => Array.from(document.querySelectorAll('main svg[viewBox]')).map(svg => {
  const box = svg.viewBox.baseVal, width = svg.getBoundingClientRect().width;
  if (!box || !box.width || !width) return null;
  const sizes = Array.from(svg.querySelectorAll('text')).map(
    t => parseFloat(getComputedStyle(t).fontSize) * width / box.width);
  return {title: (svg.querySelector('title') || {}).textContent, px: Math.min(...sizes)};
}).filter(Boolean)"""

#: Tables wider than the box that holds them (cut off, or needing a scroll).
CUT_TABLES = """() => Array.from(document.querySelectorAll('main .table-scroll')).filter(
  box => box.scrollWidth > box.clientWidth + 1).map(box => box.innerText.slice(0, 60))"""


@pytest.fixture
def team(transactional_db):
    team = build_team("a", UserFactory(username="a_external"))
    baseline_run(run_id=team.run.pk)  # trained baselines: a table of every metric
    return team


def test_charts_and_tables_read_at_1280_px(team, live_server, page):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "a_viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    slug = team.project.slug
    measured = 0
    for path in (
        f"/audits/{team.audit.pk}/",
        f"/evaluations/{team.evaluation.pk}/",
        f"/projects/{slug}/baselines/",
        f"/versions/{team.version.pk}/",
    ):
        page.goto(f"{live_server.url}{path}")
        charts = page.evaluate(SMALLEST_TEXT)
        small = [c for c in charts if c["px"] < 11.95]
        assert not small, (path, small)
        measured += len(charts)
        assert page.evaluate(CUT_TABLES) == [], path
    assert measured >= 5
