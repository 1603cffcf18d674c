"""The audit trail: appended in the change's transaction, never changed, tamper-evident."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from portal.exceptions import Conflict
from projects.models import Event, EventHead
from projects.models.events import AppendOnlyError
from projects.services import teams
from tests.factories import make_project, make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(db):
    team = make_team("audit-team")
    for n in range(3):
        make_project(team, f"p{n}")
    return Event.objects.order_by("seq")


def _without_trigger(sql: str, params=()) -> None:
    """Tamper as a database administrator would: past the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks from this transaction must run before ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE projects_event DISABLE TRIGGER projects_event_append_only")
        else:
            cursor.execute("DROP TRIGGER projects_event_append_only")
        cursor.execute(sql, params)


def test_it_chains_events_with_gapless_sequence(trail):
    events = list(trail)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for before, after in pairwise(events):
        assert after.prev_hash == before.hash
    head = EventHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


def test_it_refuses_changes_through_the_orm(trail):
    event = trail.first()
    event.verb = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(verb="forged")
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()


def test_the_database_refuses_a_raw_update(trail):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE projects_event SET verb = 'forged' WHERE seq = 1")


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps DELETE open because the test runner empties tables with it",
)
def test_postgresql_refuses_a_raw_delete(trail):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM projects_event WHERE seq = 1")


def test_verify_events_passes_on_an_intact_trail(trail, capsys):
    call_command("verify_events")
    assert f"{trail.count()} events" in capsys.readouterr().out


def test_verify_events_catches_a_changed_row(trail):
    _without_trigger("UPDATE projects_event SET payload = %s WHERE seq = 2", ['{"slug": "x"}'])
    with pytest.raises(CommandError, match=r"broken at event #2: its content does not match"):
        call_command("verify_events")


def test_verify_events_catches_a_deleted_row(trail):
    _without_trigger("DELETE FROM projects_event WHERE seq = 3")
    with pytest.raises(CommandError, match=r"broken at event #3: expected seq 3"):
        call_command("verify_events")


def test_verify_events_catches_a_deleted_tip(trail):
    last = trail.last().seq
    _without_trigger("DELETE FROM projects_event WHERE seq = %s", [last])
    with pytest.raises(CommandError, match=rf"#{last}: the chain ends before its recorded head"):
        call_command("verify_events")


def test_a_failed_change_leaves_no_event(trail):
    team = make_team("second")
    before = Event.objects.count()
    with pytest.raises(Conflict, match="exists already"):
        make_project(team, "p0")
    assert Event.objects.count() == before


def test_events_are_written_in_the_changes_transaction(trail):
    team = make_team("rolled-back")
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        teams.project_create(actor=None, team=team, slug="ghost", name="Ghost")
        raise RuntimeError("the request failed after the change")
    assert Event.objects.count() == before
    call_command("verify_events")


def test_verify_events_catches_a_missing_head(trail):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM projects_eventhead")
    with pytest.raises(CommandError, match="recorded head is missing"):
        call_command("verify_events")
