"""Pages and lists of the audit trail cost the same however long the trail grows: the
newest page through the chain's index, keyset pages in the API, the trail's people read
only from the events appended since the last look."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Event, Role
from projects.selectors import trail_actors
from projects.services.events import event_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/projects/a-project/events/"


def _append(world, count: int, actor=None) -> None:
    a = world["a"]
    actor = actor or a.people[Role.ML_ENGINEER]
    for _ in range(count):
        event_record(actor=actor, verb="project.updated", target=a.project, project=a.project)


def _queries(fetch) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert fetch().status_code == 200
    return len(queries)


def test_the_project_page_and_the_events_api_do_not_grow_with_the_trail(client, api, world):
    client.force_login(world["a"].people[Role.VIEWER])
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")

    def page():
        return client.get("/projects/a-project/")

    def events():
        return api.get(EVENTS)

    _append(world, 60)  # a full page of each
    page(), events()
    before = (_queries(page), _queries(events))
    _append(world, 150)
    page(), events()
    assert (_queries(page), _queries(events)) == before


def test_the_events_api_walks_the_whole_trail_by_keyset_once_each(api, world):
    _append(world, 30)
    api.credentials(HTTP_AUTHORIZATION=f"Token {world['a'].token_key}")
    seen, url = [], f"{EVENTS}?page_size=7"
    while url:
        body = api.get(url).json()
        assert "count" not in body  # no count(*) of the whole trail
        seen += [event["seq"] for event in body["results"]]
        assert all(event["project"] == "a-project" for event in body["results"])
        url = body["next"]
        if len(seen) == 14:
            # Appended mid-walk: the walk goes on from where it was, nothing shifts.
            _append(world, 3)
    total = Event.objects.filter(project=world["a"].project).count()
    assert len(seen) == len(set(seen)) == total - 3
    assert seen == sorted(seen, reverse=True) and seen[-1] == 1


def test_the_trail_people_include_whoever_acted_since_the_last_look(world):
    a = world["a"]
    before = trail_actors(a.project)
    newcomer = UserFactory(username="a_newcomer")
    _append(world, 1, actor=newcomer)
    assert trail_actors(a.project) == sorted([*before, "a_newcomer"])
    with CaptureQueriesContext(connection) as looked_again:
        assert "a_newcomer" in trail_actors(a.project)
    assert len(looked_again) == 1  # the head only: nothing new to read


def test_the_trail_people_are_read_whole_when_the_cache_does_not_answer(world, settings):
    expected = trail_actors(world["a"].project)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert trail_actors(world["a"].project) == expected != []
