"""The audit trail in words, with links to the objects, filtered by kind, person and date."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from deployments.services.release_tools.flagger import HOOKS
from projects.models import Event, Role
from projects.signing import kinds
from projects.trail import KIND_NOUNS, VERBS

ROOT = Path(__file__).resolve().parent.parent
VERB = r'"([a-z_]+\.[a-z_]+)"'
#: How the code names the verbs it records: a verb= argument or assignment, the failure
#: verb of a job, and the first argument of a rollout's event.
EMITTED = (
    re.compile(r"\bverb\s*=\s*" + VERB),
    re.compile(r"job_failed_record\(\s*" + VERB),
    re.compile(r"\b_event\(\s*" + VERB),
    re.compile(r"\bverb = " + VERB + r" if .+ else " + VERB),
)


def _emitted_verbs() -> set[str]:
    found: set[str] = set()
    for app in ("projects", "audits", "deployments", "portal"):
        for path in (ROOT / app).rglob("*.py"):
            text = path.read_text()
            for pattern in EMITTED:
                for match in pattern.finditer(text):
                    found.update(v for v in match.groups() if v)
    for kind in kinds():  # f"{kind.key}.signed", f"{kind.key}.signoff_revoked"
        found |= {f"{kind.key}.signed", f"{kind.key}.signoff_revoked"}
    found |= {"flagger." + hook.replace("-", "_") for hook in HOOKS}
    return found


def test_every_verb_the_code_records_has_words():
    emitted = _emitted_verbs()
    assert {"model.registered", "audit.reviewed", "rollout.started", "criteria.signed"} <= emitted
    assert sorted(emitted - set(VERBS)) == []


def test_every_verb_belongs_to_a_kind_of_the_filter():
    nouns = {noun for group in KIND_NOUNS.values() for noun in group}
    assert sorted(v for v in VERBS if v.split(".")[0] not in nouns) == []


@pytest.mark.django_db
def test_the_trail_says_what_happened_with_links(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    html = client.get(a.project.get_absolute_url()).content.decode()
    engineer = a.people[Role.ML_ENGINEER].username
    assert f'{engineer} registered <a href="/models/{a.model.pk}/">model' in html
    assert f'finished <a href="/audits/{a.audit.pk}/">fairness audit {a.audit.pk}</a>' in html
    assert "created the project" in html
    assert "project.created" not in html


@pytest.mark.django_db
def test_the_trail_filters_by_kind_person_and_date(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    url = a.project.get_absolute_url()
    owner = a.people[Role.BUSINESS_OWNER].username
    engineer = a.people[Role.ML_ENGINEER].username

    audits = client.get(url, {"kind": "audit"}).context["trail"]
    assert audits and all("audit" in line.before + line.obj for line in audits)

    mine = client.get(url, {"person": owner}).context["trail"]
    assert mine and {line.actor for line in mine} == {owner}
    theirs = client.get(url, {"person": engineer}).context["trail"]
    assert len(mine) + len(theirs) <= Event.objects.filter(project=a.project).count()

    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert client.get(url, {"since": tomorrow}).context["trail"] == []
    today = timezone.now().date().isoformat()
    assert client.get(url, {"since": today, "until": tomorrow}).context["trail"]


@pytest.mark.django_db
def test_bad_trail_filters_are_refused_with_a_reason(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    url = a.project.get_absolute_url()
    response = client.get(url, {"since": "yesterday"})
    assert response.status_code == 400
    assert "since: Enter a valid date." in response.content.decode()
    response = client.get(url, {"since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400
    assert "The first day comes after the last one." in response.content.decode()
    assert client.get(url, {"kind": "nonsense"}).status_code == 400
    assert client.get(url, {"person": "someone-else"}).status_code == 400


@pytest.mark.django_db
def test_older_events_are_a_page_further(client, world, monkeypatch):
    a = world["a"]
    monkeypatch.setattr("projects.trail.PAGE", 3)
    client.force_login(a.people[Role.VIEWER])
    first = client.get(a.project.get_absolute_url())
    seqs = [line.seq for line in first.context["trail"]]
    assert len(seqs) == 3 and seqs == sorted(seqs, reverse=True)
    older = first.context["trail_older"]
    assert older == f"before={seqs[-1]}"
    second = client.get(f"{a.project.get_absolute_url()}?{older}").context["trail"]
    assert second and max(line.seq for line in second) < seqs[-1]
