"""Factories and the shared test world. Objects are made through the services, so
grants and events are the real ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import factory
import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.models import ApprovalPack, AuditRun, BaselineRun, RiskItem
from audits.services.baselines import baseline_run_request
from audits.services.fairness import (
    audit_config_save,
    audit_request,
    audit_review,
    audit_run,
)
from audits.services.packs import pack_render, pack_request
from audits.services.risks import risk_create
from deployments.analysis.plan import default_plan
from deployments.models import Deployment, ProductionPeriod
from deployments.services.plans import deployment_create, plan_save
from deployments.services.production import production_period_create
from projects.models import (
    BusinessMeasurement,
    CriteriaVersion,
    Dataset,
    DatasetVersion,
    Evaluation,
    EventExport,
    Membership,
    ModelVersion,
    Project,
    ProjectShare,
    Role,
    SignOff,
    Team,
)
from projects.services import datasets, evaluations, exports, teams, tokens
from projects.services.criteria import criteria_save
from projects.services.lifecycle import project_transition
from projects.services.measurements import measurement_record
from projects.services.signoffs import signoff_record
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_csv, sample_frame
from tests.harness import wait_for

ROLES = [Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER]
PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


def make_team(slug: str, *, admin=None) -> Team:
    return teams.team_create(actor=admin, slug=slug, name=slug.replace("-", " ").title())


def make_project(team: Team, slug: str, *, actor=None, **fields) -> Project:
    fields.setdefault("name", slug.replace("-", " ").title())
    fields.setdefault("description", "A model that scores something worth scoring.")
    return teams.project_create(actor=actor, team=team, slug=slug, **fields)


@dataclass
class TeamWorld:
    team: Team
    people: dict[str, object]
    memberships: dict[str, Membership]
    project: Project
    share: ProjectShare
    export: EventExport
    token_key: str
    dataset: Dataset
    version: DatasetVersion
    run: BaselineRun
    model: ModelVersion
    evaluation: Evaluation
    risk: RiskItem
    audit: AuditRun
    unaudited: Evaluation
    criteria: CriteriaVersion
    spare_model: ModelVersion
    #: The business owner's approval of ``criteria``.
    signoff: SignOff | None = None
    #: A business figure with an attachment.
    measurement: BusinessMeasurement | None = None
    pack: ApprovalPack | None = None
    #: The version ``model`` was trained on, of a training dataset; ``version`` is test data.
    training: DatasetVersion | None = None
    extra: dict = field(default_factory=dict)


def make_dataset(project: Project, actor, name: str = "loans", **fields) -> Dataset:
    fields.setdefault("label_column", "defaulted")
    fields.setdefault("sensitive_columns", ["sex"])
    fields.setdefault("personal_data_columns", ["email"])
    fields.setdefault("labeling_strategy", Dataset.Labeling.PROGRAMMATIC)
    return datasets.dataset_create(actor=actor, project=project, name=name, **fields)


def _run_now(job, row):
    """Run ``row``'s job here, as the worker would, and return the row as stored. Where a
    live worker (an integration test's) took the job first, the inline run leaves it to
    that worker: wait for it to finish instead."""
    job(row.pk)
    row.refresh_from_db()
    if not row.is_finished:

        def finished():
            row.refresh_from_db()
            return row.is_finished

        wait_for(finished, 60, f"the worker to finish {row}")
    return row


def make_version(
    dataset: Dataset, actor, content: bytes | None = None, name: str = "loans.csv", **kwargs
) -> DatasetVersion:
    """Upload ``content`` and profile it now, as the worker would."""
    upload = upload_from_bytes(name, content if content is not None else sample_csv())
    version, _ = datasets.version_upload(actor=actor, dataset=dataset, upload=upload, **kwargs)
    return _run_now(lambda pk: datasets.version_ingest(version_id=pk), version)


def make_evaluation(
    model: ModelVersion, version: DatasetVersion, actor, content: bytes | None = None, **mapping
) -> Evaluation:
    """Upload predictions (``content``, else the sample's) and evaluate them now; a mapping
    key given as None is left out (``y_true=None``: the version's label column)."""
    mapping = {"y_true": "label", "y_pred": "prediction", "y_score": "score", **mapping}
    evaluation = evaluations.evaluation_upload(
        actor=actor,
        model=model,
        dataset_version=version,
        upload=upload_from_bytes(
            "predictions.csv", content if content is not None else predictions_csv(sample_frame())
        ),
        mapping={key: column for key, column in mapping.items() if column is not None},
    )
    return _run_now(lambda pk: evaluations.evaluation_run(evaluation_id=pk), evaluation)


def make_audit(evaluation: Evaluation, actor) -> AuditRun:
    """Audit ``evaluation`` under the project's current configuration now, as the worker
    would."""
    audit, _ = audit_request(actor=actor, evaluation=evaluation)
    return _run_now(lambda pk: audit_run(run_id=pk), audit)


#: A recall floor no model of the test data reaches: an audit under it fails.
#: The world's audit settings, each limit in use with the team's own reason (a configuration
#: still carrying the portal's default rationales backs no gate).
WORLD_AUDIT = {
    "sensitive_features": ["sex"],
    "thresholds": {
        "demographic_parity_difference": {
            "limit": 0.1,
            "rationale": "Credit policy CP-12: approval rates within ten points across groups.",
        },
        "equalized_odds_difference": {
            "limit": 0.1,
            "rationale": "Error rates within ten points, as the regulator's guidance asks.",
        },
        "min_group_size": {"limit": 30, "rationale": "Smaller groups are too noisy to judge."},
        "max_interval_width": {
            "limit": 0.3,
            "rationale": "Wider intervals decide nothing; collect more rows instead.",
        },
    },
}
STRICT_AUDIT = {"thresholds": {"min_recall": {"limit": 0.99, "rationale": "Miss no default."}}}


def make_failing_audit(a: TeamWorld) -> AuditRun:
    """Team A's candidate audited under a configuration it cannot meet (fail or
    insufficient evidence): the audit the deployment gate now looks at."""
    engineer = a.people[Role.ML_ENGINEER]
    audit_config_save(actor=engineer, project=a.project, changes=STRICT_AUDIT, note="Strict.")
    return make_audit(a.evaluation, engineer)


def exception_fields(a: TeamWorld, **changes) -> dict:
    """A complete exception for team A, owned by its business owner, for 30 days."""
    return {
        "finding": "Recall of group F is below the floor.",
        "conditions": "Every decline for group F is reviewed by an analyst.",
        "owner": a.people[Role.BUSINESS_OWNER].username,
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        **changes,
    }


def grant_exception(a: TeamWorld, auditor) -> AuditRun:
    """A failing audit of team A's candidate, approved by ``auditor`` as an exception."""
    audit = make_failing_audit(a)
    audit_review(
        actor=auditor,
        audit=audit,
        decision="approve",
        rationale="Accepted while analysts review group F.",
        exception=exception_fields(a),
    )
    return audit


#: Criteria the world's candidate meets, one of each source.
WORLD_CRITERIA = [
    {"metric": "f1", "comparator": ">=", "target": 0.7, "rationale": "Alerts worth reading."},
    {
        "metric": "f1",
        "source": "baseline",
        "comparator": ">=",
        "target": 0.05,
        "rationale": "Beat the rules by five points.",
    },
    {
        "metric": "demographic_parity_difference",
        "comparator": "<=",
        "target": 0.5,
        "rationale": "Approval gap.",
    },
    {"metric": "error_rate", "comparator": "<=", "target": 0.01, "rationale": "Retry budget."},
    {
        "metric": "manual_review_rate",
        "comparator": "<=",
        "target": 0.25,
        "rationale": "Reviewers' capacity.",
    },
]


def build_team(prefix: str, outsider, *, with_pack: bool = False) -> TeamWorld:
    """A team with one person per role (the business owner is team admin), a project
    shared with ``outsider`` as auditor, a finished export and an API token; its project
    passes the gate into deployment but for the approval pack, rendered when ``with_pack``."""
    team = make_team(f"{prefix}-team")
    people, memberships = {}, {}
    for role in ROLES:
        user = UserFactory(username=f"{prefix}_{role}")
        people[role] = user
        memberships[role] = teams.membership_add(
            actor=None, team=team, user=user, role=role, is_admin=role == Role.BUSINESS_OWNER
        )
    owner = people[Role.BUSINESS_OWNER]
    project = make_project(team, f"{prefix}-project", actor=owner)
    share = teams.project_share(actor=owner, project=project, role=Role.AUDITOR, user=outsider)
    export = exports.event_export_request(actor=owner, project=project)
    export = _run_now(lambda pk: exports.event_export_run(export_id=pk), export)
    _, key = tokens.token_create(user=owner, name="ci", scopes=["read", "write", "transition"])
    engineer = people[Role.ML_ENGINEER]
    # The candidate learns from its own training data and is judged on test data that is
    # neither that data nor derived from it, as the gate into deployment asks.
    dataset = make_dataset(project, engineer, purpose=Dataset.Purpose.TEST)
    version = make_version(dataset, engineer)
    training = make_version(
        make_dataset(project, engineer, "loans-train", purpose=Dataset.Purpose.TRAINING),
        engineer,
        sample_csv(seed=5),
    )
    # Requested, not run: training takes seconds, and most tests only need the row.
    run = baseline_run_request(actor=engineer, version=version)
    model = evaluations.model_register(
        actor=engineer, project=project, name="scorer", version="1", training_data=training.pk
    )
    # An older evaluation nobody audited; the newer one below is the candidate model's.
    unaudited = make_evaluation(model, version, engineer)
    evaluation = make_evaluation(model, version, engineer)
    evaluations.model_mark_candidate(actor=engineer, model=model)
    # Registered, never put forward: something to mark as candidate.
    spare = evaluations.model_register(actor=engineer, project=project, name="scorer", version="0")
    # Decided, with an owner: the gate into deployment asks that of every risk.
    risk = risk_create(
        actor=engineer,
        project=project,
        title="Target leakage",
        category="leakage",
        likelihood=2,
        impact=3,
        owner="Credit data office",
        status="mitigated",
        mitigation="Features are cut off at the application date; checked in review.",
    )
    audit_config_save(actor=engineer, project=project, changes=WORLD_AUDIT, note="Our reasons.")
    audit = make_audit(evaluation, engineer)
    # Approved by the outside auditor, so the world's project passes its deployment gate.
    audit_review(actor=outsider, audit=audit, decision="approve", rationale="Gaps are small.")
    evaluations.baseline_record(
        actor=engineer,
        project=project,
        kind="previous_system",
        name="Rules",
        metric="f1",
        value=0.75,
    )
    criteria = criteria_save(actor=engineer, project=project, criteria=WORLD_CRITERIA)
    signoff = signoff_record(
        actor=owner, document=criteria, role="business_owner", decision="approve"
    )
    signoff_record(actor=engineer, document=criteria, role="ml_engineer", decision="approve")
    measurement = measurement_record(
        actor=owner,
        project=project,
        metric="manual_review_rate",
        value=0.18,
        period="pilot",
        evidence="Share of pilot cases sent to a reviewer, from the case tool.",
        attachment=SimpleUploadedFile("pilot.csv", b"week,reviewed\n1,0.18\n"),
    )
    world = TeamWorld(
        team,
        people,
        memberships,
        project,
        share,
        export,
        key,
        dataset,
        version,
        run,
        model,
        evaluation,
        risk,
        audit,
        unaudited,
        criteria,
        spare,
        signoff,
        measurement,
        training=training,
    )
    if with_pack:
        world.pack = make_pack(world)
    return world


def make_pack(world: TeamWorld) -> ApprovalPack:
    """Render the approval pack of the world's project now, as the worker would."""
    pack, _ = pack_request(actor=world.people[Role.BUSINESS_OWNER], project=world.project)
    return _run_now(lambda pk: pack_render(pack_id=pk), pack)


# --- Deployments ----------------------------------------------------------------------

#: A canary walked in one-minute steps, so a test's window closes after a backdating.
QUICK_STEPS = [{"traffic": t, "window_minutes": 1} for t in (1, 5, 25, 50, 100)]


def plan_content(**pattern) -> dict:
    """The default real-time plan with a quick canary (or the ``pattern`` given)."""
    content = default_plan()
    content["pattern"] = pattern or {"kind": "canary", "steps": QUICK_STEPS}
    return content


def make_deployment(
    world: TeamWorld, *, content: dict | None = None, signed: bool = True, stage: bool = True
):
    """A deployment of the world's candidate with a plan (signed by the owner and the
    engineer when ``signed``); the project is moved into deployment first when ``stage``:
    through its gate when the world has its approval pack, else set (rendering a pack costs
    seconds a test; the move and its gate are tested in test_api_projects)."""
    owner, engineer = world.people[Role.BUSINESS_OWNER], world.people[Role.ML_ENGINEER]
    if stage and world.project.stage != Project.Stage.DEPLOYMENT:
        if world.pack is not None:
            project_transition(
                actor=owner,
                project=world.project,
                target=Project.Stage.DEPLOYMENT,
                reason="The gate passes.",
            )
        else:
            Project.objects.filter(pk=world.project.pk).update(stage=Project.Stage.DEPLOYMENT)
        world.project.refresh_from_db()
    deployment = deployment_create(
        actor=engineer, project=world.project, model_version=world.model, name="scorer 1 live"
    )
    plan = plan_save(actor=engineer, deployment=deployment, content=content or plan_content())
    if signed:
        signoff_record(actor=owner, document=plan, role="business_owner", decision="approve")
        signoff_record(actor=engineer, document=plan, role="ml_engineer", decision="approve")
    return deployment, plan


def healthy_points(start, end, *, latency: float = 40.0, count: int = 30) -> list[dict]:
    """Points spread over ``[start, end)`` for every check the quick plan derives:
    latency around ``latency`` ms, throughput above the target, no errors."""
    step = (end - start) / count
    points = []
    for i in range(count):
        at = (start + step * i).isoformat()
        points += [
            {"name": "latency_ms", "value": latency + (i % 5), "timestamp": at},
            {"name": "throughput_qps", "value": 12.0, "timestamp": at},
            {"name": "error_rate", "value": 0.0, "timestamp": at},
        ]
    return points


def production_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """What a credit model saw in production: the sample table with missing regions, a
    free-text note (sometimes missing) and the model's score (sometimes missing)."""
    rng = np.random.default_rng(seed + 100)
    frame = sample_frame(rows, seed)
    frame.loc[rng.choice(rows, rows // 10, replace=False), "region"] = None
    notes = ["ok", "call back later", "moved house", "no answer at all", "paid in full"]
    frame["note"] = rng.choice(notes, rows, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    frame.loc[rng.choice(rows, rows // 5, replace=False), "note"] = None
    frame["score"] = rng.random(rows).round(6)
    frame.loc[rng.choice(rows, rows // 25, replace=False), "score"] = np.nan
    return frame


def make_production_period(
    deployment: Deployment, version: DatasetVersion, *, start: datetime, end: datetime, **extra
) -> ProductionPeriod:
    """A production period of ``deployment`` holding ``version``, recorded by its uploader."""
    return production_period_create(
        actor=version.uploaded_by,
        deployment=deployment,
        version=version,
        period_start=start,
        period_end=end,
        **extra,
    )
