"""Job pages update themselves: while a job is queued or running its status fragment polls
every second; once it has finished the fragment stops polling and swaps the page's region
(status and result) in, so the result or the error appears without a reload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test.html import Element, parse_html
from django.urls import reverse
from django.utils import timezone

from audits.services.mitigation import mitigation_request
from audits.services.monitoring_reports import monitoring_report_request
from audits.services.packs import pack_request
from audits.services.risks import risk_create
from deployments.services.drift import drift_check_request
from portal.jobs import Job
from projects.models import Role
from projects.services import datasets
from projects.services.uploads import upload_from_bytes
from tests.data import sample_csv
from tests.factories import TeamWorld, make_deployment, make_failing_audit

Status = Job.Status


def _mitigation(a: TeamWorld) -> Job:
    audit = make_failing_audit(a)
    mitigation, _ = mitigation_request(actor=a.people[Role.ML_ENGINEER], audit=audit)
    return mitigation


def _pack(a: TeamWorld) -> Job:
    pack, _ = pack_request(actor=a.people[Role.BUSINESS_OWNER], project=a.project)
    return pack


def _report(a: TeamWorld) -> Job:
    deployment, _ = make_deployment(a)
    now = timezone.now()
    return monitoring_report_request(
        actor=a.people[Role.ML_ENGINEER],
        deployment=deployment,
        period_start=now - timedelta(hours=1),
        period_end=now,
    )


def _drift_check(a: TeamWorld) -> Job:
    deployment, _ = make_deployment(a)
    return drift_check_request(
        actor=a.people[Role.ML_ENGINEER],
        deployment=deployment,
        reference=a.version,
        current=a.training,
    )


@dataclass(frozen=True)
class Kind:
    """A kind of job as its page shows it."""

    name: str
    make: Callable[[TeamWorld], Job]
    status_route: str
    page_route: str
    dom_id: str
    region: str
    #: The key of both routes (a mitigation is reached through its audit).
    pk: Callable[[Job], int] = lambda job: job.pk

    def status_url(self, job: Job) -> str:
        return reverse(self.status_route, args=[self.pk(job)])

    def page_url(self, job: Job) -> str:
        return reverse(self.page_route, args=[self.pk(job)])


KINDS = [
    Kind(
        "profile",
        lambda a: a.version,
        "version-status",
        "version-detail",
        "version-status",
        "version-live",
    ),
    Kind(
        "evaluation",
        lambda a: a.evaluation,
        "evaluation-status",
        "evaluation-detail",
        "evaluation-status",
        "evaluation-live",
    ),
    Kind("audit", lambda a: a.audit, "audit-status", "audit-detail", "audit-status", "audit-live"),
    Kind(
        "mitigation",
        _mitigation,
        "mitigation-status",
        "audit-detail",
        "mitigation-status",
        "mitigation-live",
        lambda job: job.audit_id,
    ),
    Kind("pack", _pack, "pack-status", "pack-detail", "pack-status", "pack-live"),
    Kind(
        "monitoring report",
        _report,
        "monitoring-report-status",
        "monitoring-report",
        "report-status",
        "report-live",
    ),
    Kind(
        "drift check",
        _drift_check,
        "drift-check-status",
        "drift-check",
        "drift-check-status",
        "drift-check-live",
    ),
]


def _set(job: Job, status: str, **fields) -> None:
    type(job).objects.filter(pk=job.pk).update(status=status, **fields)


def _find(node: Element | str, dom_id: str) -> Element | None:
    """The element with ``id`` ``dom_id`` in a parsed document, or None."""
    if isinstance(node, str):
        return None
    if dict(node.attributes).get("id") == dom_id:
        return node
    for child in node.children:
        found = _find(child, dom_id)
        if found is not None:
            return found
    return None


def _get(client, url: str, **headers: str) -> Element:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return parse_html(response.content.decode())


@pytest.fixture
def engineer_client(client, world):
    client.force_login(world["a"].people[Role.ML_ENGINEER])
    return client


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_it_polls_while_the_job_runs(kind, status, world, engineer_client):
    job = kind.make(world["a"])
    _set(job, status, progress=40, message="Counting the rows")

    fragment = _get(engineer_client, kind.status_url(job))
    attrs = dict(fragment.attributes)
    assert attrs["id"] == kind.dom_id
    assert attrs["hx-get"] == kind.status_url(job)
    assert attrs["hx-trigger"] == "every 1s"
    assert "hx-select" not in attrs
    assert "Counting the rows" in str(fragment)
    assert '<progress max="100" value="40">' in str(fragment)

    # The page polls too, from inside the region the finished job swaps in.
    region = _find(_get(engineer_client, kind.page_url(job)), kind.region)
    assert region is not None
    status_element = _find(region, kind.dom_id)
    assert dict(status_element.attributes)["hx-trigger"] == "every 1s"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_it_stops_polling_and_swaps_the_result_in_when_the_job_succeeds(
    kind, world, engineer_client
):
    job = kind.make(world["a"])
    _set(job, Status.SUCCEEDED, progress=100)

    fragment = _get(engineer_client, kind.status_url(job))
    attrs = dict(fragment.attributes)
    assert attrs["id"] == kind.dom_id
    # Loaded once, then gone: the page's region replaces the fragment and its poll.
    assert attrs["hx-trigger"] == "load"
    assert attrs["hx-get"] == kind.page_url(job)
    assert attrs["hx-select"] == attrs["hx-target"] == f"#{kind.region}"
    assert attrs["hx-swap"] == "outerHTML"
    assert "reload" not in str(fragment).lower()

    # What the swap takes: the region of the page, whose status polls nothing.
    region = _find(_get(engineer_client, attrs["hx-get"]), kind.region)
    assert region is not None
    status_element = _find(region, kind.dom_id)
    assert "Succeeded" in str(status_element)
    assert not any(name.startswith("hx-") for name, _ in status_element.attributes)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_it_shows_a_failed_job_s_error_in_place(kind, world, engineer_client):
    job = kind.make(world["a"])
    _set(job, Status.FAILED, error="The file has no column named label.")

    fragment = _get(engineer_client, kind.status_url(job))
    attrs = dict(fragment.attributes)
    assert attrs["hx-trigger"] == "load" and attrs["hx-select"] == f"#{kind.region}"
    assert "The file has no column named label." in str(fragment)

    region = _find(_get(engineer_client, kind.page_url(job)), kind.region)
    status_element = _find(region, kind.dom_id)
    assert not any(name.startswith("hx-") for name, _ in status_element.attributes)
    assert 'role="alert"' in str(status_element)
    assert "The file has no column named label." in str(status_element)


@pytest.mark.parametrize(
    ("kind", "result"),
    [
        (KINDS[0], '<table class="profile">'),
        (KINDS[1], "Against the baselines"),
        (KINDS[2], "Demographic-parity difference"),
    ],
    ids=lambda v: v.name if isinstance(v, Kind) else "",
)
def test_it_swaps_in_a_region_that_holds_the_result(kind, result, world, engineer_client):
    """The world's profile, evaluation and audit ran for real: their results are in the
    region the status fragment swaps in."""
    job = kind.make(world["a"])
    fragment = _get(engineer_client, kind.status_url(job))
    region = _find(_get(engineer_client, dict(fragment.attributes)["hx-get"]), kind.region)
    assert result in str(region)


def test_a_baseline_run_polls_and_then_shows_its_table(world, engineer_client):
    run = world["a"].run
    url = reverse("baseline-run-detail", args=[run.pk])
    _set(run, Status.RUNNING, progress=30, message="Fitting")
    fragment = _get(engineer_client, url, HX_Request="true")
    assert dict(fragment.attributes)["hx-trigger"] == "every 1s"
    assert dict(fragment.attributes)["hx-get"] == url

    _set(
        run,
        Status.SUCCEEDED,
        progress=100,
        result={
            "folds": 5,
            "seed": 0,
            "rows_total": 200,
            "models": [
                {
                    "label": "Dummy (most frequent)",
                    "metrics": {"f1": {"mean": 0.5, "std": 0.01}},
                    "fit_seconds": 0.001,
                }
            ],
        },
    )
    fragment = _get(engineer_client, url, HX_Request="true")
    assert not any(name.startswith("hx-") for name, _ in fragment.attributes)
    assert "Dummy (most frequent)" in str(fragment) and "5-fold" in str(fragment)

    # Opened from the audit trail, the run is a whole page in the project's Baselines.
    page = engineer_client.get(url).content.decode()
    assert page.startswith("<!doctype html>") and 'aria-current="page"' in page
    assert "Dummy (most frequent)" in page and f"Baseline run {run.pk}" in page


def test_an_export_polls_and_then_offers_its_download(world, engineer_client):
    export = world["a"].export
    url = reverse("export-status", args=[export.pk])
    _set(export, Status.RUNNING, progress=50)
    fragment = _get(engineer_client, url)
    assert dict(fragment.attributes)["hx-trigger"] == "every 1s"

    _set(export, Status.SUCCEEDED, progress=100)
    fragment = _get(engineer_client, url)
    assert not any(name.startswith("hx-") for name, _ in fragment.attributes)
    assert reverse("export-download", args=[export.pk]) in str(fragment)


def test_it_keeps_a_comment_being_typed_when_the_report_swaps_in(world, engineer_client):
    audit = world["a"].audit
    region = _find(_get(engineer_client, reverse("audit-detail", args=[audit.pk])), "audit-live")
    assert "hx-preserve" in dict(_find(region, "comment").attributes)


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_a_pack_being_rendered_says_so(world, engineer_client):
    """Queued or running, a pack of the project as it is now is neither current nor stale."""
    a = world["a"]
    pack = _pack(a)
    detail = reverse("pack-detail", args=[pack.pk])
    listing = reverse("pack-list", args=[a.project.slug])
    for status in (Status.QUEUED, Status.RUNNING):
        _set(pack, status)
        page = engineer_client.get(detail).content.decode()
        assert "Rendering…" in page
        assert "changed since" not in page
        assert "Rendering…" in engineer_client.get(listing).content.decode()

    # The project changes under it: this pack is not of its state any more.
    risk_create(
        actor=a.people[Role.ML_ENGINEER],
        project=a.project,
        title="Label drift",
        category="distribution_shift",
        likelihood=1,
        impact=1,
        owner="Data office",
        status="mitigated",
        mitigation="Label shares are compared monthly.",
    )
    page = engineer_client.get(detail).content.decode()
    assert "Rendering…" not in page and "changed since" in page


def test_a_version_being_profiled_shows_no_empty_profile(world, engineer_client):
    a = world["a"]
    upload = upload_from_bytes("loans-2.csv", sample_csv(seed=9))
    version, _ = datasets.version_upload(
        actor=a.people[Role.ML_ENGINEER], dataset=a.dataset, upload=upload
    )
    page = engineer_client.get(reverse("version-detail", args=[version.pk])).content.decode()
    assert "Queued" in page
    assert "<h2>Profile</h2>" not in page and 'class="profile"' not in page
