"""The way back to prototyping: each return from production starts the project's next cycle,
whose gates count only its own evidence, while what earlier cycles hold stays on record."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from deployments.models import Deployment, DriftCheck
from deployments.services.drift import drift_check_run
from projects.models import Event, Project, Role
from tests.data import sample_frame
from tests.factories import (
    healthy_points,
    make_dataset,
    make_deployment,
    make_pack,
    make_version,
    plan_content,
)
from tests.test_deployments import close_window, promote, push


def as_token(api, w):
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.token_key}")
    return api


def move(api, w, target: str, reason: str = "The gate passes."):
    return api.post(
        f"/api/v1/projects/{w.project.slug}/transition/",
        {"to": target, "reason": reason},
        format="json",
    )


def checks(api, w, target: str) -> dict[str, dict]:
    body = api.get(f"/api/v1/projects/{w.project.slug}/gates/?to={target}").json()
    return {c["name"]: c for c in body["checks"]}


def watched_plan() -> dict:
    """The quick canary, watching income for drift with an alert of the spec."""
    content = plan_content()
    content["monitoring"]["drift"] = [{"column": "income", "test": "ks", "threshold": 0.05}]
    content["monitoring"]["alerts"] = [
        {"name": "Income drift", "metric": "drift:income", "severity": "ticket"}
    ]
    return content


def rolled_out(api, w, content: dict | None = None) -> Deployment:
    """A deployment of the candidate, its plan signed, its canary walked to 100 % on healthy
    metrics through the API."""
    deployment, _ = make_deployment(w, content=content, stage=False)
    started = api.post(f"/api/v1/deployments/{deployment.pk}/rollouts/", {"reason": "go"})
    assert started.status_code == 201, started.content
    rollout = deployment.rollouts.get()
    for step in range(5):
        start, end = close_window(rollout)
        key = f"c{deployment.pk}-{step}"
        assert push(api, deployment, healthy_points(start, end), key).status_code == 201
        assert promote(api, deployment, step=step).status_code == 200
    return deployment


def drift_found(api, w, deployment: Deployment) -> DriftCheck:
    """A production period whose incomes moved, checked against the reference."""
    engineer = w.people[Role.ML_ENGINEER]
    dataset = w.project.datasets.filter(name="production").first() or make_dataset(
        w.project, engineer, name="production", purpose="production_sample"
    )
    frame = sample_frame(400, seed=5)
    frame["income"] = frame["income"] * 1.5
    version = make_version(dataset, engineer, frame.to_csv(index=False).encode())
    asked = api.post(
        f"/api/v1/deployments/{deployment.pk}/drift-checks/",
        {"reference": w.version.pk, "current": version.pk, "drift_share": 0.2},
        format="json",
    )
    assert asked.status_code == 202, asked.content
    drift_check_run(check_id=asked.json()["id"])
    check = DriftCheck.objects.get(pk=asked.json()["id"])
    assert check.drifted is True, check.result
    return check


def in_monitoring(api, w) -> Deployment:
    """Team ``w``'s project through both gates into monitoring, in cycle 1."""
    as_token(api, w)
    make_pack(w)
    assert move(api, w, "deployment").status_code == 200
    deployment = rolled_out(api, w, watched_plan())
    make_pack(w)  # the go-live pack
    assert move(api, w, "monitoring").status_code == 200
    return deployment


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_it_goes_back_to_prototyping_in_a_new_cycle_and_keeps_the_old_one(api, client, world):
    w = world["a"]
    old = in_monitoring(api, w)
    assert old.cycle == 1
    assert api.get(f"/api/v1/projects/{w.project.slug}/").json()["cycle"] == 1
    check = drift_found(api, w, old)
    old_pack = w.project.approval_packs.latest("pk")

    # The project page proposes the next cycle, the drift named in the reason.
    client.force_login(w.people[Role.BUSINESS_OWNER])
    page = client.get(w.project.get_absolute_url()).content.decode()
    assert "Production says retrain: start cycle 2 (back to prototyping)" in page
    assert f"Drift check {check.pk} of {old.name}" in page
    assert "Alert “Income drift” is firing" in page

    # Not to who may not move the project.
    client.force_login(w.people[Role.VIEWER])
    assert "Production says retrain" not in client.get(w.project.get_absolute_url()).text
    client.force_login(w.people[Role.BUSINESS_OWNER])

    reason = f"Start cycle 2: drift check {check.pk} found incomes moved."
    response = client.post(
        f"/projects/{w.project.slug}/transition/",
        {"to": "prototyping", "reason": reason},
        follow=True,
    )
    assert "Moved to prototyping. Cycle 2 starts." in response.content.decode()
    project = api.get(f"/api/v1/projects/{w.project.slug}/").json()
    assert (project["stage"], project["cycle"]) == ("prototyping", 2)
    event = Event.objects.filter(project=w.project, verb="project.transitioned").latest("seq")
    assert event.payload["cycle"] == {"from": 1, "to": 2}
    assert event.payload["reason"] == reason
    assert "Production says retrain" not in client.get(w.project.get_absolute_url()).text

    # The pack of cycle 1 no longer counts; a pack of this cycle's state does.
    pack = checks(api, w, "deployment")["Approval pack rendered for exactly this state"]
    assert not pack["passed"] and str(old_pack.pk) in pack["detail"]
    refused = move(api, w, "deployment")
    assert refused.status_code == 409
    assert refused.json()["code"] == "gate_failed"
    new_pack = make_pack(w)
    assert new_pack.status == "succeeded"
    assert api.get(f"/api/v1/approval-packs/{new_pack.pk}/").json()["cycle"] == 2
    previous = new_pack.snapshot["state"]["previous_cycle"]
    assert previous["cycle"] == 1 and previous["reason"] == reason
    [carried] = previous["deployments"]
    assert carried["id"] == old.pk
    assert [(c["id"], c["drifted"]) for c in carried["drift_checks"]] == [(check.pk, True)]
    assert [(a["rule"], a["state"]) for a in carried["alerts"]] == [("Income drift", "firing")]
    assert "Previous cycle (1): monitoring evidence" in new_pack.html
    assert reason in new_pack.html
    # Cycle 1's deployment still serves; what it records now leaves this cycle's pack as is.
    drift_found(api, w, old)
    assert checks(api, w, "deployment")["Approval pack rendered for exactly this state"]["passed"]
    assert move(api, w, "deployment").status_code == 200

    # Into monitoring: cycle 1's finished rollout does not count.
    gate = checks(api, w, "monitoring")
    assert not gate["Rollout finished"]["passed"]
    assert not gate["Deployment plan signed by a business owner and an ML engineer"]["passed"]
    assert move(api, w, "monitoring").status_code == 409
    new = rolled_out(api, w)
    assert api.get(f"/api/v1/deployments/{new.pk}/").json()["cycle"] == 2
    gate = checks(api, w, "monitoring")
    assert gate["Rollout finished"]["passed"], gate["Rollout finished"]
    make_pack(w)
    moved = move(api, w, "monitoring")
    assert moved.status_code == 200, moved.content
    assert (moved.json()["stage"], moved.json()["cycle"]) == ("monitoring", 2)

    # History: the old deployment, its drift check and the old pack are still there.
    assert api.get(f"/api/v1/deployments/{old.pk}/").json()["cycle"] == 1
    assert api.get(f"/api/v1/drift-checks/{check.pk}/").status_code == 200
    assert api.get(f"/api/v1/approval-packs/{old_pack.pk}/").json()["cycle"] == 1
    page = client.get(old.get_absolute_url()).content.decode()
    assert "cycle 1" in page and 'id="earlier-cycle"' in page
    assert Deployment.objects.filter(project=w.project).count() == 2
    call_command("verify_events", project=w.project.slug)  # raises on a broken link


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_no_proposal_without_drift_or_an_open_alert(api, client, world):
    w = world["a"]
    in_monitoring(api, w)
    client.force_login(w.people[Role.ML_ENGINEER])
    page = client.get(w.project.get_absolute_url()).content.decode()
    assert "cycle 1" in page
    assert "Production says retrain" not in page


@pytest.mark.parametrize("who", [Role.VIEWER, Role.AUDITOR])
def test_a_viewer_or_an_auditor_cannot_reopen(api, client, world, who):
    w = world["a"]
    Project.objects.filter(pk=w.project.pk).update(stage=Project.Stage.MONITORING)
    user = w.people[who]
    api.force_login(user)
    body = {"to": "prototyping", "reason": "Incomes drifted."}
    refused = api.post(f"/api/v1/projects/{w.project.slug}/transition/", body, format="json")
    assert refused.status_code == 403
    client.force_login(user)
    assert client.post(f"/projects/{w.project.slug}/transition/", body).status_code == 403
    project = api.get(f"/api/v1/projects/{w.project.slug}/").json()
    assert (project["stage"], project["cycle"]) == ("monitoring", 1)
    assert not Event.objects.filter(project=w.project, verb="project.transitioned").exists()
