"""A team-A and team-B world built once per test module (the ``world`` fixture builds it
per test, two seconds each). Tests that take it also take ``db``, so what each test writes
is rolled back and the next one sees the world as built."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.test.utils import override_settings

from tests.factories import TeamWorld, UserFactory, build_team

HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@contextmanager
def module_world(django_db_blocker) -> Iterator[dict[str, TeamWorld]]:
    """Teams A and B as ``world`` has them, inside a transaction rolled back at the end."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=HASHERS),
        transaction.atomic(),
    ):
        a = build_team("a", UserFactory(username="external_auditor"))
        b = build_team("b", UserFactory(username="b_external"))
        yield {"a": a, "b": b}
        transaction.set_rollback(True)
