from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test.utils import override_settings
from rest_framework.test import APIClient

from portal.celery import app
from tests.factories import UserFactory, build_team, make_pack
from tests.harness import Worker


@pytest.fixture(scope="session", autouse=True)
def _media_root(tmp_path_factory):
    """Uploaded and generated files go to a folder of the test run's own."""
    with override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("media"))):
        yield


@pytest.fixture(scope="session", autouse=True)
def _private_cache():
    """Each xdist worker keeps its own Redis database, since clearing the cache flushes it."""
    from django.conf import settings

    number = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    location = settings.CACHES["default"].get("LOCATION", "")
    if number == 0 or not location.startswith(("redis://", "rediss://")):
        yield
        return
    base, _, db = location.rpartition("/")
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"{base}/{int(db or 0) + number}"
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(scope="session", autouse=True)
def _pack_signing_key():
    """Packs are signed: the run's self-signed key, made once in its var folder (where the
    worker processes the integration tests start find it too)."""
    from audits.services.pack_signing import signing_key_ensure

    signing_key_ensure()


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    # Tests serve static files from the source folders, not a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache; each test starts from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


#: Modules whose world is built for each test (see pytest_collection_modifyitems).
_COMMITTING = pytest.StashKey[set]()


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    names = getattr(item, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


def _uses_world(item: pytest.Item) -> bool:
    return "world" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    # A module's world is built once, in a transaction that stays open while the module's
    # tests run; they run in savepoints inside it. So within each stretch of one module's
    # tests (pytest-django has put tests that commit after the others, as Django does),
    # those without the world run first and never see it. A module where a committing test
    # wants the world builds it for each test instead.
    committing = {
        item.module.__name__ for item in items if _uses_world(item) and _transactional(item)
    }
    config.stash[_COMMITTING] = committing
    stretches: list[list[pytest.Item]] = []
    for item in items:
        if stretches and stretches[-1][0].module is item.module:
            stretches[-1].append(item)
        else:
            stretches.append([item])
    items[:] = [
        item
        for stretch in stretches
        for item in sorted(
            stretch,
            key=lambda i: i.module.__name__ not in committing and _uses_world(i),
        )
    ]


def _build_world() -> dict:
    external = UserFactory(username="external_auditor")
    a = build_team("a", external)
    b = build_team("b", UserFactory(username="b_external"))
    return {"a": a, "b": b, "external": external}


@contextmanager
def _kept_for_the_module(django_db_blocker) -> Iterator[None]:
    """What is built inside lives in a transaction rolled back when the module ends; each
    of the module's tests runs in a savepoint inside it."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=FAST_HASHERS),
        transaction.atomic(),
    ):
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def _module_world(request, django_db_setup, django_db_blocker):
    """The world built once per module (building it takes about a second)."""
    if request.module.__name__ in request.config.stash[_COMMITTING]:
        yield None
        return
    with _kept_for_the_module(django_db_blocker):
        yield _build_world()


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker):
    """Teams A and B for calling every route, built once per module: team A's pack is
    rendered, and a person in no team is there to be added."""
    with _kept_for_the_module(django_db_blocker):
        a = build_team("a", UserFactory(username="a_external"), with_pack=True)
        b = build_team("b", UserFactory(username="b_external"))
        UserFactory(username="newcomer")
        yield {"a": a, "b": b}


@pytest.fixture
def world(request, _module_world, db):
    """Team A and team B, each with a person per role and a project; an external auditor."""
    # pytest sets up the module's world before ``db`` opens the test's savepoint in it.
    if _transactional(request.node) or _module_world is None:
        return _build_world()
    # Each test gets its own copies, as Django's setUpTestData gives them: a test that
    # changes an object in memory leaves the next test's world as built.
    return copy.deepcopy(_module_world)


@pytest.fixture
def packed_world(world):
    """The world, with team A's approval pack rendered: its project passes into deployment."""
    make_pack(world["a"])
    return world


@pytest.fixture
def worker_factory(transactional_db, tmp_path):
    # Jobs left in the queue by an earlier run would run against this test database.
    app.control.purge()
    started: list[Worker] = []

    def start(*, include: tuple[str, ...] = (), **env: str) -> Worker:
        folder = tmp_path / str(len(started))
        folder.mkdir()
        worker = Worker(folder, include=include, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory):
    return worker_factory(JOB_MAX_DELIVERIES="3")
