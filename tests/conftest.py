from __future__ import annotations

import pytest
from django.core.cache import cache
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


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
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


@pytest.fixture
def world(db):
    """Team A and team B, each with a person per role and a project; an external auditor."""
    external = UserFactory(username="external_auditor")
    a = build_team("a", external)
    b = build_team("b", UserFactory(username="b_external"))
    return {"a": a, "b": b, "external": external}


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

    def start(**env: str) -> Worker:
        folder = tmp_path / str(len(started))
        folder.mkdir()
        worker = Worker(folder, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory):
    return worker_factory(JOB_MAX_DELIVERIES="3")
