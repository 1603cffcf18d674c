"""Finding one's way: project sections, the move form, the top navigation by role and the
home page's next steps, through HTTP."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.selectors import audit_inbox
from projects import selectors
from projects.models import Event, Project, Role
from projects.views.projects import HOME_GATES, _lately, _next_steps
from tests.factories import UserFactory, make_audit, make_deployment, make_project

pytestmark = pytest.mark.django_db

SECTION_PAGES = {
    "baselines": "/projects/a-project/baselines/",
    "models": "/projects/a-project/models/",
    "audits": "/projects/a-project/audits/",
    "risks": "/projects/a-project/risks/",
    "criteria": "/projects/a-project/criteria/",
    "packs": "/projects/a-project/approval-packs/",
}


def _sections(html: str) -> str:
    found = re.search(
        r'<nav class="project-sections" aria-label="Project sections">.*?</nav>', html, re.S
    )
    assert found, "no section navigation"
    return found.group(0)


def _current(html: str) -> list[str]:
    return re.findall(r'aria-current="page">([^<]+)<', _sections(html))


def test_the_project_page_has_its_sections_with_overview_current(client, world):
    client.force_login(world["a"].people[Role.VIEWER])
    html = client.get("/projects/a-project/").content.decode()
    nav = _sections(html)
    labels = re.findall(r">([A-Z][a-z]+)</a>", nav)
    assert labels == [
        "Overview",
        "Data",
        "Baselines",
        "Models",
        "Audits",
        "Risks",
        "Criteria",
        "Packs",
        "Deployment",
        "Monitoring",
    ]
    assert _current(html) == ["Overview"]
    # No deployment yet: deployment and monitoring open the project page's panel.
    assert 'href="/projects/a-project/#deployments">Deployment<' in nav


@pytest.mark.parametrize(("section", "url"), SECTION_PAGES.items())
def test_each_section_page_marks_its_section(client, world, section, url):
    client.force_login(world["a"].people[Role.VIEWER])
    response = client.get(url)
    assert response.status_code == 200
    assert _current(response.content.decode()) == [section.capitalize()]


def test_object_pages_mark_their_section(client, world):
    a = world["a"]
    client.force_login(a.people[Role.ML_ENGINEER])
    deployment = make_deployment(a, stage=False)[0]
    pages = {
        a.dataset.get_absolute_url(): "Data",
        a.version.get_absolute_url(): "Data",
        a.model.get_absolute_url(): "Models",
        a.evaluation.get_absolute_url(): "Models",
        a.audit.get_absolute_url(): "Audits",
        f"/deployments/{deployment.pk}/": "Deployment",
        f"/deployments/{deployment.pk}/dashboard/": "Monitoring",
    }
    for url, section in pages.items():
        html = client.get(url).content.decode()
        assert _current(html) == [section], url
        # With a deployment, its page and its dashboard are the sections' links.
        assert f'href="/deployments/{deployment.pk}/dashboard/"' in _sections(html)


def test_the_move_is_disabled_with_its_reason_while_the_gate_fails(client, world):
    client.force_login(world["a"].people[Role.ML_ENGINEER])
    html = client.get("/projects/a-project/").content.decode()
    move = html.split('<footer id="move">')[1].split("</footer>")[0]
    assert re.search(r"<button type=\"submit\" disabled aria-describedby=\"move-blocked\">", move)
    assert 'id="move-blocked"' in move and "Moving to deployment waits for its gate" in move
    # Retiring needs only a reason, so it stays possible.
    assert '<option value="retired">' in move


def test_the_move_is_enabled_once_the_gate_passes(client, packed_world):
    client.force_login(packed_world["a"].people[Role.ML_ENGINEER])
    html = client.get("/projects/a-project/").content.decode()
    move = html.split('<footer id="move">')[1].split("</footer>")[0]
    assert "Move to deployment</button>" in move and "disabled" not in move
    assert "data-confirm-move" in move and '<dialog id="move-confirm"' in move
    assert "js/move.js" in html


def test_a_move_without_a_reason_is_refused_on_the_web(client, packed_world):
    client.force_login(packed_world["a"].people[Role.ML_ENGINEER])
    before = Event.objects.count()
    response = client.post("/projects/a-project/transition/", {"to": "deployment"}, follow=True)
    assert "Say why the project moves: a move always records a reason." in response.content.decode()
    assert Project.objects.get(slug="a-project").stage == "prototyping"
    assert Event.objects.count() == before
    response = client.post(
        "/projects/a-project/transition/",
        {"to": "deployment", "reason": "Gate passes; business owner agreed."},
        follow=True,
    )
    assert "Moved to deployment" in response.content.decode()
    event = Event.objects.filter(verb="project.transitioned").latest("id")
    assert event.payload["reason"] == "Gate passes; business owner agreed."


def test_a_move_without_a_reason_is_refused_by_the_api(api, packed_world):
    api.credentials(HTTP_AUTHORIZATION=f"Token {packed_world['a'].token_key}")
    response = api.post("/api/v1/projects/a-project/transition/", {"to": "deployment"})
    assert response.status_code == 400
    assert response.json()["code"] == "reason_missing"
    assert Project.objects.get(slug="a-project").stage == "prototyping"


def _top_nav(client, user) -> str:
    client.force_login(user)
    html = client.get("/").content.decode()
    return html.split('<header class="top">')[1].split("</header>")[0]


@pytest.mark.parametrize(
    ("role", "inbox", "tokens"),
    [
        (Role.VIEWER, False, True),
        (Role.ML_ENGINEER, False, True),
        (Role.BUSINESS_OWNER, False, True),
        (Role.AUDITOR, True, True),
    ],
)
def test_the_top_navigation_offers_what_each_role_may_do(client, world, role, inbox, tokens):
    nav = _top_nav(client, world["a"].people[role])
    assert ('id="nav-audit-inbox"' in nav) is inbox
    assert ('id="nav-tokens"' in nav) is tokens
    assert "API docs" in nav and "Projects" in nav


def test_an_external_auditor_sees_the_inbox_and_someone_without_projects_sees_neither(
    client, world
):
    assert 'id="nav-audit-inbox"' in _top_nav(client, world["external"])
    nobody = UserFactory(username="newcomer")
    nav = _top_nav(client, nobody)
    assert 'id="nav-audit-inbox"' not in nav and 'id="nav-tokens"' not in nav


def test_the_inbox_link_counts_what_waits(client, world):
    a = world["a"]
    auditor = a.people[Role.AUDITOR]
    assert 'class="count-badge"' not in _top_nav(client, auditor)  # nothing waits yet
    make_audit(a.unaudited, a.people[Role.ML_ENGINEER])  # finished: it waits for a review
    waiting = audit_inbox(auditor).count()
    assert waiting > 0
    nav = _top_nav(client, auditor)
    badge = re.search(r'<span class="count-badge"[^>]*>(\d+)</span>', nav)
    assert badge and int(badge.group(1)) == waiting


def test_the_engineer_home_lists_failing_checks_with_links(client, world):
    a = world["a"]
    client.force_login(a.people[Role.ML_ENGINEER])
    html = client.get("/").content.decode()
    steps = html.split('id="next-steps"')[1].split("</article>")[0]
    assert "A Project" in steps and "gate into deployment" in steps
    assert 'href="/projects/a-project/approval-packs/">Next: Render a new pack.' in steps


def test_checks_that_one_step_fixes_share_it_on_the_home_page(client, world):
    a = world["a"]
    # In deployment without a plan: the plan answers several checks of the next gate.
    Project.objects.filter(pk=a.project.pk).update(stage=Project.Stage.DEPLOYMENT)
    rows = _next_steps(a.people[Role.ML_ENGINEER])
    mine = next(row for row in rows if row["project"].pk == a.project.pk)
    assert max(len(group["checks"]) for group in mine["steps"]) > 1
    for row in rows:
        urls = [group["step"].url for group in row["steps"] if group["step"]]
        assert len(urls) == len(set(urls)), urls  # each step once
        grouped = [check for group in row["steps"] for check in group["checks"]]
        assert grouped and sorted(c.key for c in grouped) == sorted(
            c.key for c, _ in row["failing"]
        )


def test_the_viewer_home_says_what_changed_lately(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    html = client.get("/").content.decode()
    assert 'id="next-steps"' not in html  # a viewer builds nothing
    lately = html.split('id="lately"')[1].split("</table>")[0]
    newest = Event.objects.filter(project=a.project).latest("created_at", "id")
    assert f"{newest.actor_label} " in lately
    assert "B Project" not in lately  # only what the viewer may see


def test_the_home_page_keeps_its_query_budget(client, world, django_assert_max_num_queries):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    client.force_login(engineer)
    client.get("/")  # warm the session and the content types
    with django_assert_max_num_queries(HOME_BUDGET):
        assert client.get("/").status_code == 200


def test_next_steps_and_lately_cost_the_same_however_many_projects(world):
    """More projects than the home page judges gates of: its own parts stop growing."""
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]

    def cost() -> int:
        with CaptureQueriesContext(connection) as counted:
            steps = _next_steps(engineer)
            _lately(selectors.project_list(engineer))
        assert len(steps) == HOME_GATES
        return len(counted.captured_queries)

    for n in range(HOME_GATES):
        make_project(a.team, f"a-more-{n}", actor=engineer, description="x" * 30)
    first = cost()
    for n in range(HOME_GATES, 3 * HOME_GATES):
        make_project(a.team, f"a-more-{n}", actor=engineer, description="x" * 30)
    assert cost() == first


def test_the_project_page_keeps_its_query_budget(client, world, django_assert_max_num_queries):
    a = world["a"]
    client.force_login(a.people[Role.ML_ENGINEER])
    client.get("/projects/a-project/")
    with django_assert_max_num_queries(PROJECT_BUDGET):
        assert client.get("/projects/a-project/").status_code == 200


#: Measured when written (a home page for 1 project, the project page of the world's), with
#: some room; a query per row would exceed them as soon as a list grows.
HOME_BUDGET = 120
PROJECT_BUDGET = 120
