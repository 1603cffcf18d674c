"""Approval packs that cannot be rendered, on a real worker: each is failed with its
reason, and the same worker process goes on to render the next pack."""

from __future__ import annotations

import hashlib

import pytest

from audits.models import ApprovalPack, BaselineRun, RiskItem
from audits.services import packs
from portal.celery import app
from projects.models import Event, Role
from tests.factories import UserFactory, build_team
from tests.harness import wait_for

pytestmark = pytest.mark.integration

#: Rows in the oversized risk register: laid out, about 130 pages and most of a minute.
RISKS = 3_000
#: The soft limit on the oversized render, far below what it needs.
SOFT_LIMIT = 5


@pytest.fixture
def team(worker):
    world = build_team("r", UserFactory(username="r_external"))
    # The worker trains the baseline the team asked for; its result is part of the
    # project's state, so wait for it before taking snapshots.
    wait_for(lambda: BaselineRun.objects.get(pk=world.run.pk).is_finished, 300, "the baseline")
    return world


def _finished(pk: int) -> ApprovalPack | None:
    pack = ApprovalPack.objects.get(pk=pk)
    return pack if pack.is_finished else None


def _requested_unpublished(team, monkeypatch) -> ApprovalPack:
    """A pack request whose render job is not sent, so the test sends it itself."""
    with monkeypatch.context() as m:
        m.setattr(packs, "job_enqueue", lambda job: None)
        pack, created = packs.pack_request(
            actor=team.people[Role.BUSINESS_OWNER], project=team.project
        )
    assert created
    return pack


def _render_next_pack(team) -> ApprovalPack:
    """Ask for the project's pack as a person would (published on commit) and wait for it."""
    pack, created = packs.pack_request(actor=team.people[Role.BUSINESS_OWNER], project=team.project)
    assert created
    done = wait_for(lambda: _finished(pack.pk), 120, "the next pack to be rendered")
    assert done.status == "succeeded", done.error
    with done.pdf.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == done.pdf_sha256
    return done


def _pid(pack: ApprovalPack) -> int:
    return int(pack.runner.rpartition(":")[2])


def test_a_render_over_its_time_limit_is_failed_and_the_worker_renders_the_next_pack(
    worker, team, monkeypatch
):
    # A register far larger than any real one; made in bulk, as the rows are only bulk.
    RiskItem.objects.bulk_create(
        RiskItem(
            project=team.project, title=f"Bulk risk {i}", category="leakage", likelihood=2, impact=3
        )
        for i in range(RISKS)
    )
    big = _requested_unpublished(team, monkeypatch)
    assert len(big.snapshot["state"]["risks"]) == RISKS + 1
    # The limit every task runs under (CELERY_TASK_SOFT_TIME_LIMIT), lowered for this one
    # message so the test need not wait out the production value.
    app.send_task(ApprovalPack.task_name, args=[big.pk], soft_time_limit=SOFT_LIMIT, time_limit=300)

    failed = wait_for(lambda: _finished(big.pk), 300, "the oversized pack to be stopped")
    assert failed.status == "failed"
    assert failed.error == "The job took longer than its time limit."
    assert failed.deliveries == 1, "stopped once, not redelivered"
    assert not failed.pdf and failed.pdf_sha256 == ""
    event = Event.objects.get(verb="pack.failed", target_id=str(big.pk))
    assert event.payload == {"error": failed.error}

    # Back to a register of ordinary size: a new state, a new pack, the same worker.
    RiskItem.objects.filter(project=team.project, title__startswith="Bulk risk").delete()
    done = _render_next_pack(team)
    assert done.pk != big.pk and done.pages > 1
    assert _pid(done) == _pid(failed), "the pool process that was stopped renders the next"
    assert worker.proc.poll() is None


def test_a_render_that_raises_is_failed_with_its_reason_and_the_worker_renders_the_next_pack(
    worker, team, monkeypatch
):
    broken = _requested_unpublished(team, monkeypatch)
    # A snapshot the layout cannot read (as a stored snapshot from an incompatible release
    # would be): the template's context raises before WeasyPrint starts.
    ApprovalPack.objects.filter(pk=broken.pk).update(snapshot={"state": {}, "meta": {}})
    app.send_task(ApprovalPack.task_name, args=[broken.pk])

    failed = wait_for(lambda: _finished(broken.pk), 120, "the broken pack to be failed")
    assert failed.status == "failed"
    assert failed.error == "Internal error (KeyError)."
    assert failed.deliveries == 1
    assert Event.objects.get(verb="pack.failed", target_id=str(broken.pk)).payload == {
        "error": failed.error
    }

    # The same state again: the failed pack is not reused, and this one renders.
    done = _render_next_pack(team)
    assert done.pk != broken.pk and done.state_sha256 == broken.state_sha256
    assert _pid(done) == _pid(failed)
    assert worker.proc.poll() is None
