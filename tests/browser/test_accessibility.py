"""Every page the portal serves, for every role, through axe-core and at a phone's width.

The pages come from the URL configuration: each route is called with the ids of a world
in which every kind of object exists, as each role in turn (one browser context per
role, logged in once). What answers a full HTML page is checked with axe-core (vendored
in ``vendor/``): no serious or critical violation. At 390 px wide it must not scroll
sideways. A route that is a download, a fragment htmx swaps into a page, or a POST-only
action is recognised by its answer; a route no role can open as a page fails the walk
unless ``EXCLUDED`` names it with a reason, so a new page is checked without a line here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audits.models import AuditRun
from audits.services.mitigation import mitigation_request, mitigation_run
from projects.models import Role
from tests.authz.deployment_matrix import RULES, Deployments, deployments_build, url_kwargs
from tests.authz.test_matrix import PK_OF, TEAM_ROUTES, _route_params
from tests.browser.conftest import ARTIFACTS
from tests.factories import (
    PASSWORD,
    TeamWorld,
    UserFactory,
    build_team,
    grant_exception,
    make_pack,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = 390
SCREENS = ARTIFACTS / "screens"
#: Whose pages are saved as screenshots at both widths, to be looked at: roles named in
#: SCREEN_ROLES (e.g. ``SCREEN_ROLES=ml_engineer``); none by default, to keep CI short.
SCREENED = tuple(filter(None, os.environ.get("SCREEN_ROLES", "").split(",")))
#: The impacts that fail the walk; moderate and minor ones are left to judgement.
FAILING = ("serious", "critical")

#: Routes that are not the portal's own pages, with the reason.
EXCLUDED_PREFIXES = {
    "/admin/": "Django's own admin, styled and tested by Django",
    "/api/v1/": "the JSON API for CI and scripts",
}
EXCLUDED = {
    "api-docs": "Swagger UI's vendored page; its markup is Swagger's, not ours",
    "api-schema": "the OpenAPI document (YAML)",
    "healthz": "a probe's JSON answer",
    "favicon": "a redirect to the icon",
}


@dataclass
class World:
    a: TeamWorld
    deployments: Deployments
    #: A failing audit approved as an exception by the auditor, with its mitigation
    #: options computed.
    excepted: AuditRun


def _build() -> World:
    a = build_team("a", UserFactory(username="a_external"))
    deployments = deployments_build(a, rendered=True)
    a.pack = make_pack(a)
    excepted = grant_exception(a, a.people[Role.AUDITOR])
    mitigation, _ = mitigation_request(actor=a.people[Role.ML_ENGINEER], audit=excepted)
    mitigation_run(mitigation_id=mitigation.pk)
    # Staff administer through Django's admin; in the portal they see what grants give.
    UserFactory(username="a_staff", is_staff=True, is_superuser=True)
    return World(a, deployments, excepted)


#: People who log in, by the role they hold in team A's project.
PEOPLE = {
    "viewer": "a_viewer",
    "ml_engineer": "a_ml_engineer",
    "business_owner": "a_business_owner",
    "auditor": "a_auditor",
    "external_auditor": "a_external",
    "staff": "a_staff",
    "anonymous": None,
}


def _page_routes() -> list[tuple[str, str]]:
    """(route name, path pattern) of every named route outside the excluded prefixes."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            here = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, here)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.append((pattern.name, "/" + here))

    walk(get_resolver().url_patterns, "")
    return [(n, p) for n, p in found if not p.startswith(tuple(EXCLUDED_PREFIXES))]


def _kwargs(name: str, world: World) -> dict | None:
    """The URL arguments naming one of the world's objects, or None when none fits."""
    a, kwargs = world.a, {}
    for param in _route_params(name):
        if (name, "GET") in RULES or (name, "POST") in RULES:
            rule = RULES.get((name, "GET")) or RULES[(name, "POST")]
            kwargs.update(url_kwargs([param], rule.target, world.deployments))
        elif param == "slug":
            kwargs[param] = a.team.slug if name in TEAM_ROUTES else a.project.slug
        elif param == "pk" and name in PK_OF:
            kwargs[param] = getattr(a, PK_OF[name]).pk
        elif param == "pk" and name.startswith(("mitigation", "audit-")):
            kwargs[param] = world.excepted.pk
        elif param == "pk" and name.startswith("membership"):
            kwargs[param] = a.memberships[Role.VIEWER].pk
        elif param == "pk" and name.startswith("share"):
            kwargs[param] = a.share.pk
        elif param == "pk" and name.startswith("export"):
            kwargs[param] = a.export.pk
        elif param == "pk" and name == "token-revoke":
            kwargs[param] = a.people[Role.BUSINESS_OWNER].api_tokens.get().pk
        elif param in ("uidb64", "token"):
            kwargs[param] = "not-valid"  # a stale reset link: the page says so
        else:
            return None
    return kwargs


#: Second looks at pages whose content depends on the object's state.
VARIANTS = {
    "audit-detail": lambda w: [w.excepted.pk],
    "deployment": lambda w: [w.deployments.ready.pk, w.deployments.draft.pk],
    "deployment-plan": lambda w: [w.deployments.draft_plan.pk],
}


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)
    #: Route name -> the roles that saw it as a page.
    seen: dict[str, set[str]] = field(default_factory=dict)
    #: Route name -> what it answered when it was not a page.
    not_pages: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: The hashes of the markup checked so far.
    checked: set[str] = field(default_factory=set)


def _log_in(context, base: str, username: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.close()


def _axe(page) -> list[dict]:
    """axe-core's serious and critical violations of the page as loaded."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in result if v["impact"] in FAILING]


def _describe(role: str, path: str, violation: dict) -> str:
    """One line per page and rule: where, what, the first few elements and the fix."""
    nodes = violation["nodes"]
    targets = ", ".join(" ".join(map(str, node["target"])) for node in nodes[:3])
    more = f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
    fix = (nodes[0].get("failureSummary") or "").splitlines()[-1].strip()
    return f"{role} {path}  {violation['id']} ({violation['impact']}): {targets}{more}\n    {fix}"


def _check(page, role: str, name: str, path: str, found: Findings) -> None:
    for violation in _axe(page):
        found.violations.append(_describe(role, path, violation))
    screened = role in SCREENED
    label = re.sub(r"[^a-z0-9]+", "-", f"{role}-{name}-{path}".lower()).strip("-")
    if screened:
        page.screenshot(path=str(SCREENS / f"{label}-1280.png"), full_page=True)
    page.set_viewport_size({"width": PHONE, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE:
        wide = page.evaluate(_WIDEST)
        found.too_wide.append(f"{role} {path}  {width}px wide: {wide}")
    if screened:
        page.screenshot(path=str(SCREENS / f"{label}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


#: The elements that reach furthest past the viewport's right edge (the culprits, not
#: their parents).
_WIDEST = """() => {
  const w = document.documentElement.clientWidth;
  const over = [...document.querySelectorAll('main *, header *')]
    .filter((e) => e.getBoundingClientRect().right > w + 1)
    .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > w + 1));
  return over.slice(0, 4).map((e) => {
    const id = e.id ? '#' + e.id : '';
    const cls = e.classList.length ? '.' + [...e.classList].join('.') : '';
    const right = Math.round(e.getBoundingClientRect().right);
    return `${e.tagName.toLowerCase()}${id}${cls} (${right}px)`;
  }).join(', ');
}"""


def _visit(context, role: str, base: str, name: str, path: str, found: Findings) -> None:
    """Open ``path`` as ``role``: a full HTML page is checked, anything else noted."""
    answer = context.request.get(base + path, max_redirects=0)
    kind = answer.headers.get("content-type", "")
    if answer.status >= 500:
        found.errors.append(f"{role} {path}  answered {answer.status}")
        return
    if answer.status == 405:
        found.not_pages.setdefault(name, "answers POST only")
        return
    if answer.status in (403, 404):
        # Not this role's page; the refusal is a page too, checked once.
        name = str(answer.status)
    elif answer.status != 200:
        return  # a redirect: the page it leads to is checked under its own route
    elif not kind.startswith("text/html"):
        found.not_pages[name] = f"a download ({kind.split(';')[0]})"
        return
    html = answer.text()
    if "<html" not in html[:500].lower():
        found.not_pages[name] = "a fragment htmx swaps into its page"
        return
    # The same markup another role was shown has the same findings.
    markup = hashlib.sha256(_TOKENS.sub("", html.replace(PEOPLE[role] or "", "")).encode())
    if markup.hexdigest() not in found.checked:
        found.checked.add(markup.hexdigest())
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(base + path)
        _check(page, role, name, path, found)
    found.seen.setdefault(name, set()).add(role)


#: What differs between two renderings of one page for reasons that do not matter here.
_TOKENS = re.compile(r'(name="csrfmiddlewaretoken" value|nonce)="[^"]*"')


def test_every_page_passes_axe_and_fits_a_phone_for_every_role(browser, live_server):
    world = _build()
    base = live_server.url
    SCREENS.mkdir(parents=True, exist_ok=True)
    walked = _page_routes()
    assert sorted(set(EXCLUDED) - {name for name, _ in walked}) == [], "stale exclusions"
    routes, unfilled = [], []
    for name, pattern in walked:
        if name in EXCLUDED:
            continue
        kwargs = _kwargs(name, world)
        if kwargs is None:
            unfilled.append(f"{name} ({pattern})")
            continue
        routes.append((name, reverse(name, kwargs=kwargs)))
        for pk in VARIANTS.get(name, lambda w: [])(world):
            routes.append((name, reverse(name, kwargs={**kwargs, "pk": pk})))
    assert unfilled == [], f"routes whose URL the world cannot fill: {unfilled}"

    found = Findings()
    for role, username in PEOPLE.items():
        context = browser.new_context(viewport=DESKTOP)
        if username is not None:
            _log_in(context, base, username)
        for name, path in routes:
            _visit(context, role, base, name, path, found)
        context.close()

    missed = sorted(
        {name for name, _ in routes} - set(found.seen) - set(found.not_pages) - set(EXCLUDED)
    )
    report = "\n".join(
        [
            *found.errors,
            *found.violations,
            *(["pages wider than a phone:"] if found.too_wide else []),
            *found.too_wide,
        ]
    )
    (ARTIFACTS / "accessibility.txt").write_text(report + "\n")
    assert found.errors == [], "\n" + "\n".join(found.errors)
    assert missed == [], f"routes no role could open as a page: {missed}"
    assert report == "", "\n" + report


#: The focused element's ring: its outline and what lies around it.
_RING = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return {
    tag: e.tagName.toLowerCase() + (e.name ? `[name=${e.name}]` : '') + (e.id ? '#' + e.id : ''),
    style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
    offset: parseFloat(s.outlineOffset), shadow: s.boxShadow,
  };
}"""


#: The page's colour: the first of body's and html's that is painted, else the canvas white.
_BACKGROUND = """() => [document.body, document.documentElement]
  .map((e) => getComputedStyle(e).backgroundColor)
  .find((c) => c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') || 'rgb(255, 255, 255)'"""


def _luminance(css: str) -> float:
    red, green, blue = (int(c) / 255 for c in re.findall(r"[\d.]+", css)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _tab_through(page, stop: int = 60) -> list[dict]:
    """The ring of each control a keyboard reaches, in order, until focus leaves the page."""
    rings, seen = [], set()
    for _ in range(stop):
        page.keyboard.press("Tab")
        ring = page.evaluate(_RING)
        if ring["tag"] == "body" or ring["tag"] in seen:
            break
        seen.add(ring["tag"])
        rings.append(ring)
    return rings


def test_a_keyboard_sees_where_it_is_and_can_skip_the_menu(browser, live_server, transactional_db):
    UserFactory(username="keyboard")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")

    # Every control wears a ring at least 2 px wide that stands out from the page (3:1),
    # with a gap of the page's colour between it and a blue button. The username field
    # has the focus when the page opens; the keyboard goes on from there.
    rings = [page.evaluate(_RING), *_tab_through(page)]
    reached = " ".join(r["tag"] for r in rings)
    assert "input[name=username]" in reached and "button" in reached, reached
    background = page.evaluate(_BACKGROUND)
    for ring in rings:
        assert ring["style"] != "none" and ring["width"] >= 2, ring
        assert _contrast(ring["color"], background) >= 3, ring
        assert ring["offset"] >= 1, ring

    # On a page, the first stop is the skip link, shown when focused; it moves focus into
    # the content, past the menu.
    page.fill("input[name=username]", "keyboard")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 10, "the skip link stays hidden"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    # Help text describes its field and is no part of its name.
    page.goto(f"{live_server.url}/accounts/password_change/")
    helped = page.locator("input[aria-describedby]")
    assert helped.count() > 0
    for field_id in helped.evaluate_all("(all) => all.map((e) => e.id)"):
        label = page.locator(f"label[for={field_id}]").inner_text()
        help_ids = page.get_attribute(f"#{field_id}", "aria-describedby").split()
        helps = [page.locator(f"#{i}") for i in help_ids if page.locator(f"#{i}").count()]
        assert helps, f"{field_id} is described by nothing on the page"
        for help_text in helps:
            assert help_text.inner_text().strip()[:20] not in label, field_id
    context.close()
