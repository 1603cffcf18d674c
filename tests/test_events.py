"""The audit trail: appended in the change's transaction, never changed, tamper-evident."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from portal.exceptions import Conflict
from projects.analysis.chain import Head, chain_genesis, merkle_root
from projects.models import Event, EventHead, Project
from projects.models.events import AppendOnlyError
from projects.selectors import events_verify
from projects.services import teams
from projects.services.events import chain_key, checkpoint_record, event_record
from tests.factories import make_project, make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(db):
    """Three projects of one team; the first has a chain of five events."""
    team = make_team("audit-team")
    projects = [make_project(team, f"p{n}") for n in range(3)]
    for n in range(4):
        event_record(
            actor=None, verb="test.step", target=projects[0], project=projects[0], payload={"n": n}
        )
    return Event.objects.filter(chain=chain_key(projects[0], None)).order_by("seq")


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


def test_it_chains_each_projects_events_with_a_gapless_sequence(trail):
    events = list(trail)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == chain_genesis(events[0].chain)
    for before, after in pairwise(events):
        assert after.prev_hash == before.hash
    head = EventHead.objects.get(key=events[0].chain)
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


def test_it_keeps_one_chain_per_project_and_per_team(trail):
    chains = dict(Event.objects.values_list("verb", "chain").filter(verb="team.created"))
    assert chains["team.created"].startswith("team-")
    project_chains = set(
        Event.objects.filter(verb="project.created").values_list("chain", flat=True)
    )
    assert len(project_chains) == 3
    for project in Project.objects.all():
        assert set(project.events.values_list("chain", flat=True)) == {f"project-{project.pk}"}
    assert set(events_verify()) == {"portal", *project_chains, chains["team.created"]}


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
    assert f"{Event.objects.count()} events in 5 chains" in capsys.readouterr().out


def _event_id(trail, seq: int) -> int:
    return trail.get(seq=seq).pk


def test_verify_events_catches_a_changed_row(trail):
    chain = trail.first().chain
    _without_trigger(
        "UPDATE projects_event SET payload = %s WHERE id = %s", ['{"n": 9}', _event_id(trail, 2)]
    )
    with pytest.raises(
        CommandError, match=rf"chain {chain} at event #2: its content does not match"
    ):
        call_command("verify_events")


def test_verify_events_catches_a_deleted_row(trail):
    _without_trigger("DELETE FROM projects_event WHERE id = %s", [_event_id(trail, 3)])
    with pytest.raises(CommandError, match=r"at event #3: expected seq 3"):
        call_command("verify_events")


def test_verify_events_catches_a_deleted_tip(trail):
    _without_trigger("DELETE FROM projects_event WHERE id = %s", [_event_id(trail, 5)])
    with pytest.raises(CommandError, match=r"#5: the chain ends before its recorded head"):
        call_command("verify_events")


def test_verify_events_checks_one_projects_chain(trail, capsys):
    call_command("verify_events", "--project", "p0")
    assert "5 events in 1 chains" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No project"):
        call_command("verify_events", "--project", "nope")


def test_a_checkpoint_holds_while_chains_grow(trail, tmp_path, capsys):
    path = tmp_path / "checkpoint.json"
    call_command("export_checkpoint", str(path))
    project = Project.objects.get(slug="p1")
    event_record(actor=None, verb="test.later", target=project, project=project)
    call_command("verify_events", "--checkpoint", str(path))
    assert "5 chain heads found" in capsys.readouterr().out


def test_a_checkpoint_catches_a_chain_cut_back_with_its_head(trail, tmp_path):
    """Removing a chain's tip and moving its head back passes a plain check; the
    checkpoint kept outside the database still catches it."""
    path = tmp_path / "checkpoint.json"
    call_command("export_checkpoint", str(path))
    tip, before = trail.get(seq=5), trail.get(seq=4)
    _without_trigger("DELETE FROM projects_event WHERE id = %s", [tip.pk])
    EventHead.objects.filter(key=tip.chain).update(seq=4, hash=before.hash)
    call_command("verify_events")
    with pytest.raises(CommandError, match=rf"chain {tip.chain} has no event #5"):
        call_command("verify_events", "--checkpoint", str(path))


def test_a_checkpoint_catches_a_rewritten_chain_and_an_edited_file(trail, tmp_path):
    path = tmp_path / "checkpoint.json"
    call_command("export_checkpoint", str(path))
    checkpoint = json.loads(path.read_text())
    chain = trail.first().chain
    checkpoint["chains"][chain]["hash"] = "f" * 64
    path.write_text(json.dumps(checkpoint))
    with pytest.raises(CommandError, match="root does not match its heads"):
        call_command("verify_events", "--checkpoint", str(path))
    # A forger who also recomputes the root is caught by the trail itself.
    heads = [Head(k, v["seq"], v["hash"]) for k, v in checkpoint["chains"].items()]
    checkpoint["root"] = merkle_root(heads)
    path.write_text(json.dumps(checkpoint))
    with pytest.raises(CommandError, match=rf"chain {chain}'s event #5 differs"):
        call_command("verify_events", "--checkpoint", str(path))


def test_the_periodic_checkpoint_anchors_heads_in_the_portal_chain(trail):
    anchor = checkpoint_record()
    assert anchor.chain == "portal"
    assert anchor.payload["chains"][trail.first().chain] == {"seq": 5, "hash": trail.last().hash}
    assert checkpoint_record() is None  # nothing moved since
    project = Project.objects.get(slug="p2")
    event_record(actor=None, verb="test.later", target=project, project=project)
    assert checkpoint_record().seq == 2
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
        cursor.execute("DELETE FROM projects_eventhead WHERE key = %s", [trail.first().chain])
    with pytest.raises(CommandError, match="recorded head is missing"):
        call_command("verify_events")
