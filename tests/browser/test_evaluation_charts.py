"""The evaluation's charts as a person sees them: text at least 12 px at a desktop width,
and every chart inside the screen of a 390 px phone."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, UserFactory, build_team

pytestmark = pytest.mark.browser

#: Per chart text: its font size in drawing units times the chart's drawn scale, in px.
TEXT_SIZES = """() => [...document.querySelectorAll('#evaluation-curves svg')].flatMap(svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const texts = [...svg.querySelectorAll('text')];
  return texts.map(t => parseFloat(t.getAttribute('font-size')) * scale);
})"""
CHART_EDGES = """() => [...document.querySelectorAll('#evaluation-curves svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  return [box.left, box.right];
})"""


@pytest.fixture
def team(transactional_db):
    return build_team("a", UserFactory(username="a_external"))


def test_the_charts_read_at_desktop_width_and_fit_a_phone(team, live_server, browser):
    url = f"{live_server.url}{team.evaluation.get_absolute_url()}"
    for width, check in ((1280, "text"), (390, "fit")):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", team.people["viewer"].username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(url)
        assert page.locator("#evaluation-curves svg").count() == 5
        if check == "text":
            sizes = page.evaluate(TEXT_SIZES)
            assert sizes and min(sizes) >= 12, min(sizes)
        else:
            for left, right in page.evaluate(CHART_EDGES):
                assert left >= 0 and right <= width, (left, right)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        context.close()
