"""Lists never widen, other teams' ids in bodies are refused, extra keys never land.

- Every API list route, called by a team-A person with query parameters naming team B
  and asking for everything (``page_size=10000``, ``search``, ``ordering``, filters),
  answers exactly the objects that person may see: the same set an ORM query over
  django-guardian's grants gives, none of team B's, at most 200 a page.
- Every id a request body may carry (found in the API schema's request bodies), set to a
  team-B object, is refused with 404 (or 400) and writes nothing.
- Every write endpoint, sent its ordinary body plus keys named after model fields
  (``team``, ``owner``, ``status``, ``signed_by``, ``created_at``, ``entry_hash``,
  ``is_staff``, ``id``, ...) with values a client must not set, answers as it does without
  them (or 400), and none of those values lands in the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.db.models import QuerySet
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from guardian.shortcuts import get_objects_for_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from audits.models import (
    ApprovalPack,
    AuditConfig,
    AuditReview,
    AuditRun,
    BaselineRun,
    Mitigation,
    MonitoringReport,
    PolicyException,
    ReviewComment,
    ReviewRequest,
    RiskItem,
)
from audits.services.review_workflow import review_comment_add, review_request
from deployments.models import (
    Alert,
    AlertWebhook,
    Deployment,
    DeploymentPlan,
    DriftCheck,
    LabelBatch,
    MonitoringReview,
    PlanSignOff,
    ProductionPeriod,
    Rollout,
)
from projects.models import (
    Baseline,
    BusinessMeasurement,
    CriteriaVersion,
    Dataset,
    DatasetLineage,
    DatasetVersion,
    Evaluation,
    Event,
    EventExport,
    Membership,
    ModelVersion,
    Project,
    ProjectShare,
    Role,
    SignOff,
    Team,
)
from projects.services.criteria import criteria_save
from tests.authz.deployment_matrix import NEXT_PERIOD, deployments_build
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.factories import (
    WORLD_CRITERIA,
    TeamWorld,
    UserFactory,
    grant_exception,
    make_audit,
    make_failing_audit,
)

pytestmark = pytest.mark.django_db

User = get_user_model()
BO, MLE, AUD, VIE = Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER
#: The most a page holds, whatever ``page_size`` asks (``portal/api/pagination.py``).
PAGE_CAP = 200
HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Each write endpoint gets a few examples of its own (26 of them, about 200 calls).
PER_ENDPOINT = settings(HYPOTHESIS, max_examples=8)


def _failing_audit(w: TeamWorld) -> None:
    """A failing audit of the team's candidate: one that mitigation options are for."""
    w.extra["failing_audit"] = make_failing_audit(w)


def _waiting(w: TeamWorld) -> None:
    """Give the team's inboxes something: criteria nobody has signed yet, an audit nobody
    has reviewed; and ask for an approval pack."""
    from audits.services.packs import pack_request

    engineer = w.people[MLE]
    changed = [{**WORLD_CRITERIA[0], "target": 0.65}, *WORLD_CRITERIA[1:]]
    w.extra["new_criteria"] = criteria_save(actor=engineer, project=w.project, criteria=changed)
    w.extra["new_audit"] = make_audit(w.unaudited, engineer)
    review_request(actor=engineer, audit=w.extra["new_audit"], note="Group F first.")
    review_comment_add(actor=engineer, audit=w.audit, body="Thanks for the review.")
    w.extra["new_pack"], _ = pack_request(actor=w.people[BO], project=w.project)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- 3. Lists never widen ---------------------------------------------------------------

LIST_ACTIONS = {"list", "inbox", "events", "plans", "rollouts"}


def api_list_routes() -> set[str]:
    """Names of the API routes whose GET answers a list, from the URL configuration."""
    found = set()

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and (pattern.name or "").startswith("api-"):
                actions = getattr(pattern.callback, "actions", None) or {}
                if actions.get("get") in LIST_ACTIONS:
                    found.add(pattern.name)

    walk(get_resolver().url_patterns)
    return found


def _permitted(user, perm: str, klass) -> QuerySet:
    """What django-guardian grants ``user``: their own and their groups' object rights."""
    return get_objects_for_user(
        user, perm, klass=klass, accept_global_perms=False, with_superuser=False
    )


def _slug(obj) -> str:
    return obj.slug


def _pk(obj) -> int:
    return obj.pk


@dataclass(frozen=True)
class Listing:
    #: URL kwargs naming the list's parent in a team's world.
    kwargs: Callable[[TeamWorld], dict]
    #: The rows ``user`` may see in the list of that world (an ORM query, not the view's).
    rows: Callable[[TeamWorld, object], QuerySet]
    #: An answer item's identity, and the same for a row.
    item_key: Callable[[dict], object] = lambda item: item["id"]
    row_key: Callable[[object], object] = _pk
    paginated: bool = True
    #: False for keyset pages (the trail), which do not count the whole list.
    counted: bool = True


def _project_rows(model, **path) -> Callable[[TeamWorld, object], QuerySet]:
    """Rows of ``model`` under an object of the world (``path``: lookup -> attribute)."""

    def rows(w: TeamWorld, user) -> QuerySet:
        lookups = {lookup: _attr(w, attr) for lookup, attr in path.items()}
        return model.objects.filter(**lookups)

    return rows


def _attr(w: TeamWorld, name: str):
    return w.extra[name] if name in w.extra else getattr(w, name)


def _project(w: TeamWorld) -> dict:
    return {"project_slug": w.project.slug}


def _audit_inbox(w: TeamWorld, user) -> QuerySet:
    audited = _permitted(user, "projects.audit_project", Project)
    built = _permitted(user, "projects.change_project", Project)
    return (
        AuditRun.objects.filter(
            config__project__in=audited,
            config__project__team=w.team,
            status=AuditRun.Status.SUCCEEDED,
            reviews__isnull=True,
        )
        .exclude(config__project__in=built)
        .exclude(requested_by=user)
        .exclude(evaluation__requested_by=user)
        .exclude(evaluation__model_version__created_by=user)
    )


def _signoff_inbox(w: TeamWorld, user) -> QuerySet:
    # The world's newest criteria are signed by nobody: whoever may sign has them waiting.
    signers = _permitted(user, "projects.signoff_business_project", Project) | _permitted(
        user, "projects.signoff_ml_project", Project
    )
    return signers.filter(team=w.team)


LISTS: dict[str, Listing] = {
    "api-team-list": Listing(
        lambda w: {},
        lambda w, user: _permitted(user, "projects.view_team", Team),
        item_key=lambda item: item["slug"],
        row_key=_slug,
    ),
    "api-project-list": Listing(
        lambda w: {},
        lambda w, user: _permitted(user, "projects.view_project", Project),
        item_key=lambda item: item["slug"],
        row_key=_slug,
    ),
    "api-membership-list": Listing(
        lambda w: {"team_slug": w.team.slug}, _project_rows(Membership, team="team")
    ),
    "api-project-events": Listing(
        lambda w: {"slug": w.project.slug},
        _project_rows(Event, project="project"),
        item_key=lambda item: (item["chain"], item["seq"]),
        row_key=lambda event: (event.chain, event.seq),
        counted=False,
    ),
    "api-share-list": Listing(_project, _project_rows(ProjectShare, project="project")),
    "api-event-export-list": Listing(_project, _project_rows(EventExport, project="project")),
    "api-dataset-list": Listing(_project, _project_rows(Dataset, project="project")),
    "api-version-list": Listing(
        lambda w: {"pk": w.dataset.pk}, _project_rows(DatasetVersion, dataset="dataset")
    ),
    "api-baseline-run-list": Listing(
        lambda w: {"pk": w.version.pk}, _project_rows(BaselineRun, dataset_version="version")
    ),
    "api-baseline-list": Listing(_project, _project_rows(Baseline, project="project")),
    "api-model-list": Listing(_project, _project_rows(ModelVersion, project="project")),
    "api-evaluation-list": Listing(
        lambda w: {"pk": w.model.pk}, _project_rows(Evaluation, model_version="model")
    ),
    "api-criteria-list": Listing(_project, _project_rows(CriteriaVersion, project="project")),
    "api-signoff-list": Listing(
        lambda w: {"pk": w.criteria.pk}, _project_rows(SignOff, criteria_version="criteria")
    ),
    "api-signoff-inbox": Listing(
        lambda w: {},
        _signoff_inbox,
        item_key=lambda item: item["project"],
        row_key=_slug,
        paginated=False,
    ),
    "api-measurement-list": Listing(
        _project, _project_rows(BusinessMeasurement, project="project")
    ),
    "api-risk-list": Listing(_project, _project_rows(RiskItem, project="project")),
    "api-audit-config-list": Listing(_project, _project_rows(AuditConfig, project="project")),
    "api-audit-list": Listing(
        lambda w: {"pk": w.evaluation.pk}, _project_rows(AuditRun, evaluation="evaluation")
    ),
    "api-audit-inbox": Listing(lambda w: {}, _audit_inbox),
    "api-audit-review-list": Listing(
        lambda w: {"pk": w.audit.pk}, _project_rows(AuditReview, audit="audit")
    ),
    "api-audit-review-request-list": Listing(
        lambda w: {"pk": w.extra["new_audit"].pk},
        _project_rows(ReviewRequest, audit="new_audit"),
    ),
    "api-audit-comment-list": Listing(
        lambda w: {"pk": w.audit.pk}, _project_rows(ReviewComment, audit="audit")
    ),
    "api-pack-list": Listing(_project, _project_rows(ApprovalPack, project="project")),
    "api-exception-list": Listing(_project, _project_rows(PolicyException, project="project")),
    "api-deployment-list": Listing(_project, _project_rows(Deployment, project="project")),
    "api-plan-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(DeploymentPlan, deployment="live")
    ),
    "api-plan-signoff-list": Listing(
        lambda w: {"pk": w.extra["live_plan"].pk}, _project_rows(PlanSignOff, plan="live_plan")
    ),
    "api-rollout-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(Rollout, deployment="live")
    ),
    "api-drift-check-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(DriftCheck, deployment="live")
    ),
    "api-alert-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(Alert, deployment="live")
    ),
    "api-alert-webhook-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(AlertWebhook, deployment="live")
    ),
    "api-production-period-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(ProductionPeriod, deployment="live")
    ),
    "api-monitoring-report-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(MonitoringReport, deployment="live")
    ),
    "api-review-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(MonitoringReview, deployment="live")
    ),
    "api-label-batch-list": Listing(
        lambda w: {"pk": w.extra["live"].pk}, _project_rows(LabelBatch, deployment="live")
    ),
}
#: Inboxes hold nothing for a viewer; each is also read by the role it is for.
INBOX_READERS = {"api-audit-inbox": AUD, "api-signoff-inbox": BO}
#: Lists that are empty in the world as built.
WAITING = {
    "api-audit-inbox",
    "api-signoff-inbox",
    "api-pack-list",
    "api-audit-review-request-list",
    "api-audit-comment-list",
}
#: Lists of exceptions, which the world as built has none of.
EXCEPTING = {"api-exception-list"}
#: Lists of the deployment stage, which the world as built has none of.
DEPLOYING = {
    "api-deployment-list",
    "api-plan-list",
    "api-plan-signoff-list",
    "api-rollout-list",
    "api-drift-check-list",
    "api-alert-list",
    "api-alert-webhook-list",
    "api-production-period-list",
    "api-monitoring-report-list",
    "api-review-list",
    "api-label-batch-list",
}


def _deploying(w: TeamWorld) -> None:
    """Give the team's project deployments (one live, one ready, one a draft), a drift
    check, alerts and a webhook of the live one."""
    w.extra.update(vars(deployments_build(w)))
    AlertWebhook.objects.create(
        deployment=w.extra["live"], url="https://1.1.1.1/stagegate", secret="s"
    )


def _live(w: TeamWorld) -> dict:
    """The live deployment's id, its world built on first use."""
    if "live" not in w.extra:
        _deploying(w)
    return {"pk": w.extra["live"].pk}


def test_every_api_list_route_is_checked():
    assert api_list_routes() == set(LISTS), "a list route without a row in LISTS, or the reverse"


def _widening(b: TeamWorld) -> dict:
    """Query parameters that would widen a list to team B's objects, were any honoured."""
    return {
        "team": b.team.slug,
        "team_id": b.team.pk,
        "team__slug": b.team.slug,
        "project": b.project.slug,
        "project_id": b.project.pk,
        "project__team": b.team.pk,
        "dataset": b.dataset.pk,
        "owner": b.people[BO].username,
        "user": b.people[VIE].pk,
        "id__in": f"{b.version.pk},{b.model.pk}",
        "search": "b",
        "ordering": "-id",
        "all": "true",
        "page_size": 10000,
        "limit": 10000,
    }


def _list_cases():
    for name in sorted(LISTS):
        yield pytest.param(name, VIE, id=f"{name}-viewer")
        if name in INBOX_READERS:
            yield pytest.param(name, INBOX_READERS[name], id=f"{name}-{INBOX_READERS[name]}")


@pytest.mark.parametrize(("name", "role"), list(_list_cases()))
def test_a_list_answers_exactly_what_the_caller_may_see(world, name, role):
    a, b = world["a"], world["b"]
    if name in DEPLOYING:
        _deploying(a)
        _deploying(b)
    if name in WAITING:
        _waiting(a)
        _waiting(b)
    if name in EXCEPTING:
        for w in (a, b):
            grant_exception(w, w.people[AUD])
    listing = LISTS[name]
    user = a.people[role]
    url = reverse(name, kwargs=listing.kwargs(a))

    response = _client(user).get(url, _widening(b))

    assert response.status_code == 200, response.content
    body = response.json()
    items = body["results"] if listing.paginated else body
    assert len(items) <= PAGE_CAP
    got = [listing.item_key(item) for item in items]
    assert len(got) == len(set(got)), "an object listed twice"
    expected = {listing.row_key(row) for row in listing.rows(a, user)}
    # What team B's person would see there: what a leak would show.
    reader = b.people[INBOX_READERS.get(name, role)]
    theirs = {listing.row_key(row) for row in listing.rows(b, reader)}
    assert expected or (role == VIE and name in INBOX_READERS), "nothing to compare with"
    assert theirs, "team B has nothing a leak could show"
    assert set(got) == expected
    assert not set(got) & theirs
    if listing.paginated:
        assert body.get("count") == (len(expected) if listing.counted else None)
    text = response.content.decode()
    assert b.project.slug not in text and b.team.slug not in text


def test_a_page_holds_at_most_200_whatever_page_size_asks(world):
    a, b = world["a"], world["b"]
    Baseline.objects.bulk_create(
        [
            Baseline(
                project=w.project, kind="literature", name=f"Paper {i}", metric="f1", value=0.5
            )
            for w, n in ((a, 250), (b, 5))
            for i in range(n)
        ]
    )
    client = _client(a.people[VIE])
    url = reverse("api-baseline-list", kwargs={"project_slug": a.project.slug})
    expected = set(Baseline.objects.filter(project=a.project).values_list("pk", flat=True))
    assert len(expected) > PAGE_CAP

    seen: list[int] = []
    page = client.get(url, {**_widening(b), "page_size": 10**9})
    while True:
        assert page.status_code == 200
        body = page.json()
        assert body["count"] == len(expected)
        assert len(body["results"]) == min(PAGE_CAP, len(expected) - len(seen))
        seen += [item["id"] for item in body["results"]]
        if body["next"] is None:
            break
        page = client.get(body["next"])
    assert len(seen) == len(set(seen)) and set(seen) == expected


# --- 4. Other teams' ids in request bodies -------------------------------------------------

#: Names in a request body that refer to another object: the relations of the models,
#: and people named by username.
REFERENCE_NAMES = {
    f.name
    for app in ("projects", "audits", "deployments")
    for model in apps.get_app_config(app).get_models()
    for f in model._meta.get_fields()
    if f.is_relation and (f.concrete or f.many_to_many)
} | {"username"}

#: References a body may make to anything anywhere, by design, with why.
ANY_TEAM = {
    # Adding a person to one's team, or sharing a project with a person or another team,
    # names them; it gives them access to one's own project and shows nothing of theirs.
    ("api-membership-list", "POST", "username"),
    ("api-share-list", "POST", "username"),
    ("api-share-list", "POST", "team"),
}


def _schema_references() -> set[tuple[str, str, str]]:
    """(route name, method, field) for every request-body field that names an object."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = set()
    for path, operations in schema["paths"].items():
        name = resolve(re.sub(r"\{[^}]+\}", "1", path)).url_name
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media["schema"].get("$ref", "")
                properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                for prop in set(properties) & REFERENCE_NAMES:
                    found.add((name, method.upper(), prop))
    return found


@dataclass(frozen=True)
class Reference:
    role: str
    kwargs: Callable[[TeamWorld], dict]
    #: The body, with the reference set to ``ref`` (team B's object, or a missing one).
    body: Callable[[TeamWorld, object], dict]
    #: B's objects (or their slugs) the reference may name.
    targets: Callable[[TeamWorld], list]
    multipart: bool = False


def _csv(n: int) -> SimpleUploadedFile:
    return SimpleUploadedFile("data.csv", sample_csv(rows=30, seed=1000 + n))


def _predictions(n: int = 0) -> SimpleUploadedFile:
    # A different file each time, so no upload is taken for one seen before.
    frame = sample_frame()
    return SimpleUploadedFile("predictions.csv", predictions_csv(frame, seed=2000 + n))


REFERENCES: dict[tuple[str, str, str], Reference] = {
    # The owner of an exception: another team's business owner is nobody on this project.
    ("api-criterion-exception", "POST", "owner"): Reference(
        BO,
        lambda a: {"pk": a.criteria.pk},
        lambda a, ref: {
            "criterion": "f1/evaluation",
            "finding": "F1 below target.",
            "conditions": "Analysts review flagged cases.",
            "owner": ref,
            "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
        lambda b: [b.people[BO].username],
    ),
    ("api-model-detail", "PATCH", "training_data"): Reference(
        MLE,
        lambda a: {"pk": a.spare_model.pk},
        lambda a, ref: {"training_data": ref},
        lambda b: [b.version.pk, b.training.pk],
    ),
    # The reviewer asked for: team B's auditor is nobody on this project.
    ("api-audit-review-request-list", "POST", "reviewer"): Reference(
        MLE,
        lambda a: {"pk": a.audit.pk},
        lambda a, ref: {"reviewer": ref},
        lambda b: [b.people[AUD].username],
    ),
    ("api-version-list", "POST", "parents"): Reference(
        MLE,
        lambda a: {"pk": a.dataset.pk},
        lambda a, ref: {"file": _csv(0), "parents": ref},
        lambda b: [b.version.pk],
        multipart=True,
    ),
    ("api-model-list", "POST", "training_data"): Reference(
        MLE,
        _project,
        lambda a, ref: {"name": "scorer", "version": "9", "training_data": ref},
        lambda b: [b.version.pk, b.training.pk],
    ),
    ("api-evaluation-list", "POST", "dataset_version"): Reference(
        MLE,
        lambda a: {"pk": a.model.pk},
        lambda a, ref: (
            {"file": _predictions(), "y_true": "label", "y_pred": "prediction"}
            | {"dataset_version": ref}
        ),
        lambda b: [b.version.pk],
        multipart=True,
    ),
    ("api-project-list", "POST", "team"): Reference(
        MLE,
        lambda a: {},
        lambda a, ref: {"team": ref, "slug": "new-project", "name": "New"},
        lambda b: [b.team.slug],
    ),
    ("api-deployment-list", "POST", "model_version"): Reference(
        MLE,
        _project,
        lambda a, ref: {"model_version": ref, "name": "scorer live"},
        lambda b: [b.model.pk, b.spare_model.pk],
    ),
    ("api-drift-check-list", "POST", "reference"): Reference(
        MLE,
        _live,
        lambda a, ref: {"reference": ref, "current": a.extra["production"].pk},
        lambda b: [b.version.pk],
    ),
    ("api-drift-check-list", "POST", "current"): Reference(
        MLE,
        _live,
        lambda a, ref: {"reference": a.version.pk, "current": ref},
        lambda b: [b.version.pk],
    ),
    ("api-production-period-list", "POST", "dataset_version"): Reference(
        MLE,
        _live,
        lambda a, ref: {
            "dataset_version": ref,
            **{key: moment.isoformat() for key, moment in NEXT_PERIOD.items()},
        },
        lambda b: [b.version.pk],
    ),
    ("api-label-batch-list", "POST", "dataset_version"): Reference(
        MLE,
        _live,
        lambda a, ref: {
            "dataset_version": ref,
            "id_column": "customer_id",
            "label_column": "defaulted",
        },
        lambda b: [b.version.pk],
    ),
}


#: Fields named as a relation is elsewhere that are free text here.
FREE_TEXT = {
    # A dataset's or a risk's owner is whoever the team writes down: a name, a role, a desk.
    ("api-dataset-list", "POST", "owner"),
    ("api-dataset-detail", "PATCH", "owner"),
    ("api-risk-list", "POST", "owner"),
    ("api-risk-detail", "PATCH", "owner"),
}


def test_every_reference_in_a_request_body_is_checked():
    found = _schema_references() - ANY_TEAM - FREE_TEXT
    assert found == set(REFERENCES), "a body reference with no case in REFERENCES"


def _row_counts() -> dict[str, int]:
    counted = [Project, Team, Membership, ProjectShare, DatasetVersion, DatasetLineage]
    counted += [Evaluation, Event, Dataset, Deployment, DriftCheck, ProductionPeriod]
    return {model.__name__: model.objects.count() for model in counted}


def _send(client: APIClient, method: str, url: str, body: dict, multipart: bool):
    if multipart:
        return client.generic(method, url, **_multipart(body))
    return client.generic(method, url, json.dumps(body), content_type="application/json")


def _multipart(body: dict) -> dict:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {
        "data": encode_multipart(BOUNDARY, body),
        "content_type": MULTIPART_CONTENT,
    }


@given(data=st.data())
@HYPOTHESIS
def test_another_teams_object_in_a_body_is_refused_and_writes_nothing(world, data):
    a, b = world["a"], world["b"]
    key = data.draw(st.sampled_from(sorted(REFERENCES)), label="reference")
    case = REFERENCES[key]
    name, method, field_name = key
    missing = 10**8  # no object has this id, in any team
    target = data.draw(st.sampled_from([*case.targets(b), missing]), label="target")
    ref = target
    if field_name == "parents":
        # A list: team B's version alone, or beside one of the caller's own.
        own = data.draw(st.booleans(), label="with an own parent")
        ref = [a.version.pk, target] if own else [target]
    client = _client(a.people[case.role])
    url = reverse(name, kwargs=case.kwargs(a))
    with transaction.atomic():
        before = _row_counts()

        response = _send(client, method, url, case.body(a, ref), case.multipart)

        assert response.status_code in (400, 404), response.content
        assert response.json()["code"]
        assert _row_counts() == before
        transaction.set_rollback(True)


# --- 5. Mass assignment ----------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    role: str
    kwargs: Callable[[TeamWorld], dict]
    #: The ordinary body; ``n`` makes uploads differ from one call to the next.
    body: Callable[[TeamWorld, int], dict]
    #: The row the request writes or changes, found from the world and the answer.
    row: Callable[[TeamWorld, dict], models.Model]
    #: The keys a client may set (the input serializer's writable fields).
    allowed: set[str] = field(default_factory=set)
    multipart: bool = False
    #: What the world needs first, if anything.
    setup: Callable[[TeamWorld], object] | None = None


def _created(model) -> Callable[[TeamWorld, dict], models.Model]:
    return lambda w, answer: model.objects.get(pk=answer["id"])


def _same(attr: str, model) -> Callable[[TeamWorld, dict], models.Model]:
    return lambda w, answer: model.objects.get(pk=_attr(w, attr).pk)


#: The keys each write may set, written out here: a field that turns writable in the code
#: must be added on purpose, not taken from the code under test.
DATASET_KEYS = {
    "name",
    "purpose",
    "description",
    "status",
    "labeling_strategy",
    "labeling_notes",
    "label_column",
    "sensitive_columns",
    "personal_data_columns",
    "source",
    "licence",
    "owner",
    "metadata",
}
PROVENANCE = {
    "source_uri",
    "collected_at",
    "collected_by",
    "labeling_batch",
    "transformation",
    "code_reference",
    "command",
}
RISK_KEYS = {
    "title",
    "description",
    "category",
    "likelihood",
    "impact",
    "mitigation",
    "owner",
    "status",
    "rationale",
    "audit_checks",
}
AUDIT_CONFIG_KEYS = {
    "sensitive_features",
    "intersections",
    "positive_label",
    "metrics",
    "thresholds",
    "confidence",
    "min_class_support",
    "note",
}


def _newcomer(w: TeamWorld) -> None:
    UserFactory(username="newcomer")


def _new_criteria(w: TeamWorld) -> None:
    # The world's criteria are signed by its owner already: a new version is not.
    changed = [{**WORLD_CRITERIA[0], "target": 0.65}, *WORLD_CRITERIA[1:]]
    w.extra["new_criteria"] = criteria_save(
        actor=w.people[MLE], project=w.project, criteria=changed
    )


def _unmet_criteria(w: TeamWorld) -> None:
    # A version asking an F1 the candidate does not reach: one unmet criterion to accept.
    stricter = [{**WORLD_CRITERIA[0], "target": 0.95}, *WORLD_CRITERIA[1:]]
    w.extra["unmet_criteria"] = criteria_save(
        actor=w.people[MLE], project=w.project, criteria=stricter
    )


def _write_cases() -> dict[tuple[str, str], Write]:
    risk = {"title": "Leak", "category": "leakage", "likelihood": 2, "impact": 3}
    return {
        ("api-membership-list", "POST"): Write(
            BO,
            lambda w: {"team_slug": w.team.slug},
            lambda w, n: {"username": "newcomer", "role": "viewer"},
            _created(Membership),
            {"username", "role", "is_admin"},
            setup=_newcomer,
        ),
        ("api-membership-detail", "PATCH"): Write(
            BO,
            lambda w: {"pk": w.memberships[VIE].pk},
            lambda w, n: {"role": "auditor"},
            lambda w, answer: Membership.objects.get(pk=w.memberships[VIE].pk),
            {"role", "is_admin"},
        ),
        ("api-project-list", "POST"): Write(
            MLE,
            lambda w: {},
            lambda w, n: {"team": w.team.slug, "slug": "new-project", "name": "New"},
            lambda w, answer: Project.objects.get(slug="new-project"),
            {"team", "slug", "name", "description", "task_type"},
        ),
        ("api-project-detail", "PATCH"): Write(
            MLE,
            lambda w: {"slug": w.project.slug},
            lambda w, n: {"name": "Renamed"},
            _same("project", Project),
            {"name", "description", "task_type", "intended_use", "out_of_scope_use", "limitations"},
        ),
        # One's own profile: never staff, superuser, username or password.
        ("api-profile", "PATCH"): Write(
            MLE,
            lambda w: {},
            lambda w, n: {"job_title": "Analyst"},
            lambda w, answer: User.objects.get(username=answer["username"]),
            {"first_name", "last_name", "job_title"},
        ),
        ("api-project-gates", "POST"): Write(
            MLE,
            lambda w: {"slug": w.project.slug},
            lambda w, n: {},
            _same("project", Project),
        ),
        ("api-project-transition", "POST"): Write(
            MLE,
            lambda w: {"slug": w.project.slug},
            # Retiring needs no gate, so the request succeeds and its row can be read.
            lambda w, n: {"to": "retired", "reason": "Replaced."},
            _same("project", Project),
            {"to", "reason"},
        ),
        ("api-share-list", "POST"): Write(
            BO,
            _project,
            lambda w, n: {"username": "newcomer", "role": "viewer"},
            _created(ProjectShare),
            {"team", "username", "role"},
            setup=_newcomer,
        ),
        ("api-event-export-list", "POST"): Write(
            MLE, _project, lambda w, n: {}, _created(EventExport)
        ),
        ("api-dataset-list", "POST"): Write(
            MLE,
            _project,
            lambda w, n: {"name": "new-data", "purpose": "test"},
            _created(Dataset),
            DATASET_KEYS,
        ),
        ("api-dataset-detail", "PATCH"): Write(
            MLE,
            lambda w: {"pk": w.dataset.pk},
            lambda w, n: {"description": "Changed"},
            _same("dataset", Dataset),
            DATASET_KEYS,
        ),
        ("api-version-list", "POST"): Write(
            MLE,
            lambda w: {"pk": w.dataset.pk},
            lambda w, n: {"file": _csv(n)},
            _created(DatasetVersion),
            {"file", "parents", "encoding", "delimiter"} | PROVENANCE,
            multipart=True,
        ),
        ("api-baseline-run-list", "POST"): Write(
            MLE,
            lambda w: {"pk": w.version.pk},
            lambda w, n: {},
            _created(BaselineRun),
            {"target", "task"},
        ),
        ("api-baseline-list", "POST"): Write(
            MLE,
            _project,
            lambda w, n: {"kind": "human_level", "name": "Analysts", "metric": "f1", "value": 0.8},
            _created(Baseline),
            {"kind", "name", "metric", "value", "citation", "evidence"},
        ),
        ("api-model-list", "POST"): Write(
            MLE,
            _project,
            lambda w, n: {"name": "scorer", "version": "2"},
            _created(ModelVersion),
            {
                "name",
                "version",
                "artifact_uri",
                "code_commit",
                "framework",
                "parameters",
                "training_data",
            },
        ),
        ("api-model-candidate", "POST"): Write(
            MLE,
            lambda w: {"pk": w.spare_model.pk},
            lambda w, n: {},
            _same("spare_model", ModelVersion),
        ),
        ("api-evaluation-list", "POST"): Write(
            MLE,
            lambda w: {"pk": w.model.pk},
            lambda w, n: {
                "file": _predictions(n),
                "dataset_version": w.version.pk,
                "y_true": "label",
                "y_pred": "prediction",
            },
            _created(Evaluation),
            {"file", "dataset_version", "y_true", "y_pred", "y_score", "row_id", "sensitive"},
            multipart=True,
        ),
        ("api-risk-list", "POST"): Write(
            MLE, _project, lambda w, n: risk, _created(RiskItem), RISK_KEYS
        ),
        ("api-risk-detail", "PATCH"): Write(
            MLE,
            lambda w: {"pk": w.risk.pk},
            lambda w, n: {"status": "mitigated"},
            _same("risk", RiskItem),
            RISK_KEYS,
        ),
        ("api-audit-config-list", "POST"): Write(
            MLE,
            _project,
            lambda w, n: {"thresholds": {"min_recall": {"limit": 0.4, "rationale": "Costly."}}},
            _created(AuditConfig),
            AUDIT_CONFIG_KEYS,
        ),
        ("api-audit-list", "POST"): Write(
            MLE, lambda w: {"pk": w.unaudited.pk}, lambda w, n: {}, _created(AuditRun)
        ),
        ("api-audit-mitigation", "POST"): Write(
            MLE,
            lambda w: {"pk": w.extra["failing_audit"].pk},
            lambda w, n: {},
            _created(Mitigation),
            setup=_failing_audit,
        ),
        ("api-audit-review-list", "POST"): Write(
            AUD,
            lambda w: {"pk": w.audit.pk},
            lambda w, n: {"decision": "approve", "rationale": "Gaps are small."},
            _created(AuditReview),
            {"decision", "rationale"},
        ),
        ("api-model-detail", "PATCH"): Write(
            MLE,
            lambda w: {"pk": w.spare_model.pk},
            lambda w, n: {"training_data": w.training.pk},
            _same("spare_model", ModelVersion),
            {"training_data"},
        ),
        ("api-audit-review-request-list", "POST"): Write(
            MLE,
            lambda w: {"pk": w.extra["failing_audit"].pk},
            lambda w, n: {"note": f"Look at group F ({n})."},
            _created(ReviewRequest),
            {"reviewer", "due_on", "note"},
            setup=_failing_audit,
        ),
        ("api-audit-comment-list", "POST"): Write(
            AUD,
            lambda w: {"pk": w.audit.pk},
            lambda w, n: {"body": f"Group F looks thin ({n})."},
            _created(ReviewComment),
            {"body"},
        ),
        ("api-criteria-list", "POST"): Write(
            MLE,
            _project,
            lambda w, n: {"template": "credit_scoring"},
            _created(CriteriaVersion),
            {"criteria", "template", "note"},
        ),
        ("api-signoff-list", "POST"): Write(
            BO,
            lambda w: {"pk": w.extra["new_criteria"].pk},
            lambda w, n: {"role": "business_owner", "decision": "approve"},
            _created(SignOff),
            {"role", "decision", "comment", "evidence_sha256"},
            setup=_new_criteria,
        ),
        ("api-criterion-exception", "POST"): Write(
            BO,
            lambda w: {"pk": w.extra["unmet_criteria"].pk},
            lambda w, n: {
                "criterion": "f1/evaluation",
                "finding": "F1 is 0.87, below 0.95.",
                "conditions": "Analysts review every flagged case.",
                "owner": w.people[BO].username,
                "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
            },
            _created(PolicyException),
            {"criterion", "finding", "conditions", "owner", "expires_on"},
            setup=_unmet_criteria,
        ),
        ("api-signoff-revoke", "POST"): Write(
            BO,
            lambda w: {"pk": w.signoff.pk},
            lambda w, n: {"reason": "Signed too early."},
            _same("signoff", SignOff),
            {"reason"},
        ),
        ("api-measurement-list", "POST"): Write(
            BO,
            _project,
            lambda w, n: {"metric": "revenue", "value": 1200, "evidence": "Ledger."},
            _created(BusinessMeasurement),
            {"metric", "value", "period", "evidence", "attachment"},
        ),
        ("api-pack-list", "POST"): Write(MLE, _project, lambda w, n: {}, _created(ApprovalPack)),
    }


WRITES = _write_cases()
#: Writes with nothing to assign: a delete, and the starter list (many rows of its own).
NOT_ASSIGNING = {
    ("api-membership-detail", "DELETE"),
    ("api-share-detail", "DELETE"),
    ("api-risk-starter", "POST"),
}


def test_every_api_write_is_checked():
    from tests.authz.matrix import MATRIX

    writes = {
        (name, method)
        for name, method in MATRIX
        if name.startswith("api-") and method in ("POST", "PATCH", "PUT", "DELETE")
    }
    assert writes - NOT_ASSIGNING == set(WRITES)


def _model_fields() -> dict[str, models.Field]:
    """Every concrete field of the portal's models and of the user, by name and attname."""
    found: dict[str, models.Field] = {}
    for model in [*apps.get_app_config("projects").get_models(), User]:
        for f in model._meta.concrete_fields:
            found.setdefault(f.name, f)
            found.setdefault(f.attname, f)
    for model in apps.get_app_config("audits").get_models():
        for f in model._meta.concrete_fields:
            found.setdefault(f.name, f)
            found.setdefault(f.attname, f)
    return found


MODEL_FIELDS = _model_fields()
#: Keys a client must never set, model fields or not.
FORBIDDEN = sorted(
    set(MODEL_FIELDS) | {"pk", "hash", "entry_hash", "sha256", "owner", "team", "stage"}
)
#: Values the server never gives a fresh or changed row of team A.
LONG_AGO = "2001-02-03T04:05:06Z"
HASH = "f" * 64
BIG = 987_654
TEXT = "set-by-the-client"
PRIVILEGED = ["approved", "approve", "succeeded", "production", "business_owner", "reject"]


def _values(key: str, b: TeamWorld, control: dict) -> list:
    """What a client might try to set ``key`` to: team B's object where it names one, else
    a value the request without it does not give the row (``control``)."""
    f = MODEL_FIELDS.get(key)
    if key in ("team", "team_id"):
        return [b.team.pk, b.team.slug]
    if key in ("project", "project_id"):
        return [b.project.pk, b.project.slug]
    if key in ("is_staff", "is_superuser"):
        return [True]
    if f is None:
        return [HASH] if "hash" in key or "sha" in key else [TEXT, BIG]
    if f.is_relation:
        related = f.related_model
        if related is User:
            return [b.people[BO].pk, b.people[BO].username]
        owned = [getattr(b, attr) for attr in vars(b) if isinstance(getattr(b, attr), related)]
        return [owned[0].pk] if owned else [BIG]
    if isinstance(f, models.DateTimeField | models.DateField):
        return [LONG_AGO]
    now = control.get(f.attname)
    if isinstance(f, models.BooleanField):
        return [not now] if isinstance(now, bool) else [True, False]
    if f.choices:
        values = [value for value, _ in f.flatchoices if value != now]
        return [v for v in PRIVILEGED if v in values] or values[-1:]
    if isinstance(f, models.IntegerField | models.FloatField | models.AutoField):
        return [BIG]
    if isinstance(f, models.JSONField):
        return [{"set": TEXT}]
    if isinstance(f, models.CharField) and f.max_length == 64:
        return [HASH]
    return [TEXT]


def _stored(row: models.Model, key: str):
    """The row's value for ``key``, comparable with what a client sends; None if the
    row has no such field."""
    for f in row._meta.concrete_fields:
        if key in (f.name, f.attname):
            value = getattr(row, f.attname)
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, models.fields.files.FieldFile):
                return value.name
            return value
    return None


def _landed(sent, stored, control) -> bool:
    """Whether the row took the client's value (that the request without it did not give)."""

    def same(x, y) -> bool:
        if isinstance(x, str) and isinstance(y, str) and x[:4].isdigit() and "T" in x:
            return x[:19] == y[:19]
        return x == y or (isinstance(x, int | float) and str(x) == str(y))

    if stored is None:
        return False
    if not same(sent, stored):
        return False
    return not same(sent, control)


def _people_and_grants() -> dict:
    """What decides who may do what: people's flags, memberships, shares, projects' teams."""
    return {
        "users": set(User.objects.values_list("username", "is_staff", "is_superuser", "is_active")),
        "memberships": set(
            Membership.objects.values_list("team_id", "user_id", "role", "is_admin")
        ),
        "shares": set(ProjectShare.objects.values_list("project_id", "team_id", "user_id", "role")),
        "projects": set(Project.objects.values_list("slug", "team_id", "stage")),
    }


def _row_values(row: models.Model) -> dict:
    return {f.attname: _stored(row, f.attname) for f in row._meta.concrete_fields}


class Attempt:
    """One write endpoint called with its ordinary body, then again with extra keys."""

    def __init__(self, world, key: tuple[str, str]):
        self.a, self.b = world["a"], world["b"]
        self.name, self.method = key
        self.case = WRITES[key]
        if self.case.setup is not None:
            self.case.setup(self.a)
        self.client = _client(self.a.people[self.case.role])
        self.url = reverse(self.name, kwargs=self.case.kwargs(self.a))
        self.calls = 0
        self.control_status, self.control_row, self.control_state = self._control()

    def values(self, key: str) -> list:
        return _values(key, self.b, self.control_row)

    def send(self, extra: dict):
        self.calls += 1
        body = {**self.case.body(self.a, self.calls), **extra}
        return _send(self.client, self.method, self.url, body, self.case.multipart)

    def _control(self):
        with transaction.atomic():
            response = self.send({})
            assert response.status_code < 500, response.content
            row = _row_values(self.case.row(self.a, response.json()))
            state = _people_and_grants()
            transaction.set_rollback(True)
        return response.status_code, row, state

    def check(self, extra: dict) -> None:
        with transaction.atomic():
            rows_before = _row_counts()
            response = self.send(extra)
            assert response.status_code in (self.control_status, 400), response.content
            if response.status_code == 400:
                assert _row_counts() == rows_before, "a refused write left rows"
            else:
                row = self.case.row(self.a, response.json())
                for key, sent in extra.items():
                    stored = _stored(row, key)
                    control = self.control_row.get(key, self.control_row.get(f"{key}_id"))
                    assert not _landed(sent, stored, control), (
                        f"{self.method} {self.name}: {key}={sent!r} landed ({stored!r})"
                    )
            assert _people_and_grants() == self.control_state
            transaction.set_rollback(True)


def _forbidden(key: tuple[str, str]) -> list[str]:
    return [name for name in FORBIDDEN if name not in WRITES[key].allowed]


@pytest.mark.parametrize("key", sorted(WRITES), ids="-".join)
def test_every_forbidden_key_at_once_is_ignored_or_refused(world, key):
    attempt = Attempt(world, key)
    attempt.check({name: attempt.values(name)[0] for name in _forbidden(key)})


@pytest.mark.parametrize("key", sorted(WRITES), ids="-".join)
def test_extra_keys_named_after_model_fields_never_land(world, key):
    attempt = Attempt(world, key)
    extras = st.lists(st.sampled_from(_forbidden(key)), min_size=1, max_size=8, unique=True)

    @given(
        extra=extras.flatmap(
            lambda names: st.fixed_dictionaries(
                {name: st.sampled_from(attempt.values(name)) for name in names}
            )
        )
    )
    @PER_ENDPOINT
    def check(extra: dict) -> None:
        attempt.check(extra)

    check()
