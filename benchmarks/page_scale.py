"""The project page, the events API and the home page as a project's trail and a person's
projects grow, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python \\
        benchmarks/page_scale.py --events 100 1000 10000 100000 --projects 10 100 300

The script makes and drops a throwaway test database and builds the tests' world (one
team, one project with its data). Events are appended in bulk with SQL (their hashes are
not a chain: the pages do not check them). At each trail length it times, warm, the median
of ``--repeat`` requests through Django's test client, with their query counts:

- the project page and the first and a deep page of the events API (keyset);
- side by side, what the trail cost before: the events API's page-number query (a count
  of the whole trail and an offset) and the people filter read from every event.

Then it adds projects to the team and times the home page of its business owner. Peak
memory is this process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
# Pages are served from the source folders, not a collectstatic manifest.
os.environ.setdefault("STATIC_MANIFEST", "false")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

APPEND = """
INSERT INTO projects_event (chain, seq, created_at, actor_id, actor_label, token_prefix,
    verb, target_type, target_id, project_id, team_id, payload, prev_hash, hash)
SELECT %(chain)s, s, now(), %(actor)s, 'bench', '', 'project.updated', 'project',
    %(project)s::text, %(project)s, %(team)s, '{}'::jsonb,
    md5(%(chain)s || 'p' || s) || md5(%(chain)s || 'q' || s),
    md5(%(chain)s || 'h' || s) || md5(%(chain)s || 'i' || s)
FROM generate_series(%(first)s, %(last)s) AS s
"""


def _timed(fetch, repeat: int) -> tuple[float, int]:
    """Median milliseconds of ``fetch`` (after one warm call) and its query count."""
    fetch()
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = fetch()
            times.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 200)
        if status != 200:
            raise SystemExit(f"answered {status}")
    return round(statistics.median(times), 2), len(queries)


def _grow(project, actor, to: int) -> None:
    from projects.models import EventHead

    head = EventHead.objects.get(key=f"project-{project.pk}")
    if to <= head.seq:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            APPEND,
            {
                "chain": head.key,
                "actor": actor.pk,
                "project": project.pk,
                "team": project.team_id,
                "first": head.seq + 1,
                "last": to,
            },
        )
        cursor.execute("ANALYZE projects_event")
    EventHead.objects.filter(pk=head.pk).update(seq=to)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[100, 1000, 10000, 100000])
    parser.add_argument("--projects", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server.")

    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args: argparse.Namespace) -> None:
    from django.core.cache import cache
    from django.test import Client
    from rest_framework.test import APIClient

    from audits.services.pack_signing import signing_key_ensure
    from projects.models import Event, Role
    from projects.services import teams
    from tests.factories import UserFactory, build_team

    signing_key_ensure()
    cache.clear()
    world = build_team("a", UserFactory(username="a_external"))
    project, owner = world.project, world.people[Role.BUSINESS_OWNER]
    web = Client()
    web.force_login(world.people[Role.VIEWER])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {world.token_key}")
    events_url = f"/api/v1/projects/{project.slug}/events/"
    trail = Event.objects.filter(project=project)

    for size in sorted(args.events):
        _grow(project, owner, size)
        total = trail.count()
        row = {"events": total}
        row["project_page_ms"], row["project_page_queries"] = _timed(
            lambda: web.get(f"/projects/{project.slug}/"), args.repeat
        )
        row["events_api_ms"], row["events_api_queries"] = _timed(
            lambda: api.get(events_url), args.repeat
        )
        # Ten pages back, by the cursor the API hands out.
        url = events_url
        for _ in range(min(10, total // 50)):
            url = api.get(url).json()["next"] or url
        row["events_api_page_10_ms"], _ = _timed(lambda deep=url: api.get(deep), args.repeat)

        # What the same answers cost before: a page number (count + offset, ten pages
        # back) over the trail sorted by id, and the people read from every event.
        def by_page_number():
            list(trail.select_related("actor").order_by("-id")[500:550])
            return trail.count()

        def people_from_every_event():
            return sorted(
                trail.filter(actor__isnull=False)
                .values_list("actor__username", flat=True)
                .distinct()
            )

        row["before_page_10_ms"], _ = _timed(by_page_number, args.repeat)
        row["before_people_ms"], _ = _timed(people_from_every_event, args.repeat)
        print(json.dumps(row), flush=True)

    home = Client()
    home.force_login(owner)
    made = 0
    for count in sorted(args.projects):
        while made < count:
            teams.project_create(
                actor=owner, team=world.team, slug=f"extra-{made}", name=f"Extra {made}"
            )
            made += 1
        ms, queries = _timed(lambda: home.get("/"), args.repeat)
        print(json.dumps({"projects": made + 1, "home_ms": ms, "home_queries": queries}))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
