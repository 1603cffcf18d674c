"""Demo data for the local run command: two teams, one person per role, an external auditor;
projects in every stage, with a canary under way and one finished (deployments.demo)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audits.analysis.audit_config import default_config
from audits.services.baselines import baseline_run_request
from audits.services.fairness import audit_config_save, audit_request, audit_review, audit_run
from audits.services.packs import pack_render, pack_request
from audits.services.risks import risk_starter_import, risk_update
from deployments.demo import (
    DRIFT_DAY,
    MONTH_DAYS,
    canary_finished,
    canary_under_way,
    latency_incident,
    monitoring_month,
)
from deployments.demo_performance import outcomes_arrive, scored, weekly_period
from deployments.models import DriftCheck
from deployments.services.drift import drift_check_request, drift_check_run
from projects.models import (
    Baseline,
    Dataset,
    DatasetVersion,
    Evaluation,
    Membership,
    Project,
    Role,
    Team,
)
from projects.services import datasets, evaluations, lifecycle, teams
from projects.services.criteria import criteria_save
from projects.services.measurements import measurement_record
from projects.services.signoffs import signoff_record
from projects.services.uploads import upload_from_bytes

DEMO_PASSWORD = "stagegate-demo"

TEAMS = [
    ("credit-risk", "Credit Risk", "Scores loan applications and prioritises collections."),
    ("search-ranking", "Search Ranking", "Ranks products and queries on the shop's search."),
]
PEOPLE = [
    # username, team slug, role, team admin
    ("credit_owner", "credit-risk", Role.BUSINESS_OWNER, True),
    ("credit_engineer", "credit-risk", Role.ML_ENGINEER, False),
    ("credit_auditor", "credit-risk", Role.AUDITOR, False),
    ("credit_viewer", "credit-risk", Role.VIEWER, False),
    ("search_owner", "search-ranking", Role.BUSINESS_OWNER, True),
    ("search_engineer", "search-ranking", Role.ML_ENGINEER, False),
    ("search_auditor", "search-ranking", Role.AUDITOR, False),
    ("search_viewer", "search-ranking", Role.VIEWER, False),
]
EXTERNAL_AUDITOR = "external_auditor"
#: What the demo people are called at work: packs and trails show it beside the username.
NAMES = {
    "credit_owner": ("Maria", "Okafor", "Head of Retail Underwriting"),
    "credit_engineer": ("Tomás", "Lindqvist", "Senior ML Engineer, Credit Risk"),
    "credit_auditor": ("Priya", "Raman", "Model Risk Validator"),
    "credit_viewer": ("Jonas", "Weber", "Credit Analyst"),
    "search_owner": ("Aiko", "Tanaka", "Product Lead, Search"),
    "search_engineer": ("Lucas", "Moreau", "ML Engineer, Search"),
    "search_auditor": ("Fatima", "Haddad", "Responsible AI Reviewer"),
    "search_viewer": ("Sam", "Carter", "Data Analyst"),
    EXTERNAL_AUDITOR: ("Elena", "Petrova", "External Auditor, Model Risk"),
}
#: Why each audit limit in use suits the demo teams: the gate refuses the portal's defaults.
AUDIT_REASONS = {
    "equalized_odds_difference": {
        "limit": 0.1,
        "rationale": "Base rates differ between groups, so error rates must match too; ten "
        "points is what the model-risk committee accepted for the previous system.",
    },
    "min_group_size": {
        "limit": 30,
        "rationale": "Below 30 applicants a group's rates move by more than ten points with "
        "a handful of decisions; such groups are reviewed by hand instead.",
    },
    "max_interval_width": {
        "limit": 0.3,
        "rationale": "A rate known only to within 30 points cannot show a ten-point gap; "
        "collect more data for that group first.",
    },
}
DEMO_AUDIT = {
    "thresholds": {
        "demographic_parity_difference": {
            "limit": 0.1,
            "rationale": "Selection rates within ten points across groups, the company's "
            "fair-treatment standard for customer-facing models.",
        },
        **AUDIT_REASONS,
    }
}
#: The starter risk the credit demo leaves open, for its business owner to decide.
OPEN_DEMO_RISK = "group-performance-gap"
#: The credit-default project's statements of use, as its team would write them.
CREDIT_USE = {
    "intended_use": "Ranks retail loan applications by the chance of default within 12 "
    "months, to help the underwriting desk decide which applications need a manual review. "
    "Underwriters make the decision; the score is one input.",
    "out_of_scope_use": "Automatic refusal of applications without an underwriter; business "
    "or mortgage lending; setting interest rates; applicants outside the retail book.",
    "limitations": "Trained on two years of applications from before the 2026 rate rises. "
    "Applicants from the islands region are 2 % of the data, so their figures are uncertain. "
    "Income is missing for about 4 % of applications and imputed.",
}
PROJECTS = [
    # slug, team, name, task type, stage, description
    (
        "credit-default",
        "credit-risk",
        "Credit default scoring",
        "classification",
        "prototyping",
        "Predicts the probability that a retail loan defaults within 12 months, for the "
        "underwriting desk.",
    ),
    (
        "collections-priority",
        "credit-risk",
        "Collections prioritisation",
        "regression",
        "deployment",
        "Estimates the amount recoverable from each overdue account so that collectors call the "
        "right customers first.",
    ),
    (
        "query-ranking",
        "search-ranking",
        "Query autocomplete ranking",
        "other",
        "monitoring",
        "Orders autocomplete suggestions in the search box by the chance that the shopper picks "
        "them.",
    ),
    (
        "search-relevance",
        "search-ranking",
        "Product search relevance",
        "classification",
        "prototyping",
        "Classifies query-product pairs as relevant or not to rerank search results.",
    ),
]
CREDIT_NOTE = "Agreed at the kick-off with the underwriting desk; to be signed."
CREDIT_CRITERIA = [
    {
        "metric": "roc_auc",
        "comparator": ">=",
        "target": 0.85,
        "rationale": "The 2019 scorecard reaches 0.69; the desk wants a clear step up in ranking.",
    },
    {
        "metric": "balanced_accuracy",
        "source": "baseline",
        "comparator": ">=",
        "target": 0.10,
        "rationale": "Ten points better than the underwriters' blind re-scoring, or keep them.",
    },
    {
        "metric": "recall",
        "comparator": ">=",
        "target": 0.75,
        "rationale": "A missed default costs about five times a wrongly refused loan.",
    },
    {
        "metric": "demographic_parity_difference",
        "comparator": "<=",
        "target": 0.10,
        "rationale": "Credit policy CP-12: approval rates within 10 points across groups.",
    },
    {
        "metric": "p95_latency_ms",
        "comparator": "<=",
        "target": 300,
        "rationale": "The application form waits for the score; 300 ms keeps it responsive.",
    },
    {
        "metric": "manual_review_rate",
        "comparator": "<=",
        "target": 0.15,
        "rationale": "The underwriting desk can review 15 % of applications at current staffing.",
    },
]
# The external auditor sees one project, shared with them alone.
SHARED_WITH_EXTERNAL = "credit-default"


def load_demo() -> list[tuple[str, str, str]]:
    """Create what is missing and return (username, team, role) for every demo login."""
    User = get_user_model()
    with transaction.atomic():
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        for slug, name, description in TEAMS:
            if not Team.objects.filter(slug=slug).exists():
                teams.team_create(actor=admin, slug=slug, name=name, description=description)
        logins = [("admin", "—", "staff (Django admin)")]
        for username, team_slug, role, is_admin in PEOPLE:
            user = _person(User, username)
            team = Team.objects.get(slug=team_slug)
            if not Membership.objects.filter(team=team, user=user).exists():
                teams.membership_add(
                    actor=admin, team=team, user=user, role=role, is_admin=is_admin
                )
            logins.append((username, team.name, Role(role).label + (", admin" if is_admin else "")))
        external = _person(User, EXTERNAL_AUDITOR)
        logins.append((EXTERNAL_AUDITOR, "—", f"Auditor on {SHARED_WITH_EXTERNAL} only"))
        for slug, team_slug, name, task_type, stage, description in PROJECTS:
            if Project.objects.filter(slug=slug).exists():
                continue
            team = Team.objects.get(slug=team_slug)
            owner = User.objects.get(username=f"{team_slug.split('-')[0]}_owner")
            project = teams.project_create(
                actor=owner,
                team=team,
                slug=slug,
                name=name,
                description=description,
                task_type=task_type,
            )
            prefix = team_slug.split("-")[0]
            if stage != "prototyping":
                # Past prototyping, a project has shown its gate the evidence it asks for.
                _gate_evidence(project, prefix)
            signers = {
                "owner": owner,
                "engineer": User.objects.get(username=f"{prefix}_engineer"),
            }
            for target in _path_to(stage):
                if target == "monitoring":
                    # The gate into monitoring asks for the signed plan's rollout, finished,
                    # and the go-live pack of that state.
                    canary_finished(project, **signers)
                    pack, _ = pack_request(actor=owner, project=project)
                    pack_render(pack_id=pack.pk)
                lifecycle.project_transition(
                    actor=owner, project=project, target=target, reason="Demo history"
                )
            if stage == "monitoring":
                # A month live: metrics with an incident, weekly drift checks.
                deployment = project.deployments.latest("pk")
                incident = monitoring_month(deployment, engineer=signers["engineer"])
                latency_incident(deployment, incident, engineer=signers["engineer"])
                _weekly_drift(project, deployment, signers["engineer"])
            if stage == "deployment":
                # A canary at 25 %, its promotion refused on a p95 latency breach.
                rollout = canary_under_way(project, **signers)
                _drift_checked(project, rollout.deployment, signers["engineer"])
            if slug == SHARED_WITH_EXTERNAL:
                teams.project_update(actor=owner, project=project, **CREDIT_USE)
                teams.project_share(actor=owner, project=project, role=Role.AUDITOR, user=external)
                _load_data(project, User.objects.get(username="credit_engineer"))
    return logins


def loan_applications(rows: int, seed: int) -> pd.DataFrame:
    """Made-up loan applications whose default risk depends on income and debt."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8, 0.4, rows).round(0)
    debt_ratio = rng.beta(2, 5, rows).round(4)
    age = rng.integers(18, 80, rows)
    region = rng.choice(
        ["north", "south", "east", "west", "islands"], rows, p=[0.3, 0.3, 0.2, 0.18, 0.02]
    )
    sex = rng.choice(["F", "M"], rows)
    logit = -1.2 + 4.0 * debt_ratio - (income - 50_000) / 30_000
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "application_id": [f"A{seed}{i:06d}" for i in range(rows)],
            "email": [f"applicant{i}@example.org" for i in range(rows)],
            "income": income,
            "debt_ratio": debt_ratio,
            "age": age,
            "region": region,
            "sex": sex,
            "defaulted": defaulted,
        }
    )
    frame.loc[rng.random(rows) < 0.04, "income"] = np.nan
    return frame


def _load_data(project: Project, engineer) -> None:
    """Three versions of training data with lineage, a held-out test set from another month,
    two recorded baselines, a queued baseline run, a model trained on the one and evaluated
    on the other (profiles and metrics computed here, not by a worker), an audit
    configuration and a queued fairness audit."""
    common = {
        "label_column": "defaulted",
        "sensitive_columns": ["sex"],
        "personal_data_columns": ["email"],
        "labeling_strategy": Dataset.Labeling.PROGRAMMATIC,
        "labeling_notes": "Label = 90 days past due within 12 months, from the loan ledger.",
        "source": "Loan origination system",
        "licence": "Internal use",
        "owner": "Credit data office",
    }
    raw = datasets.dataset_create(
        actor=engineer, project=project, name="loan-applications", purpose="training", **common
    )
    clean = datasets.dataset_create(
        actor=engineer,
        project=project,
        name="loan-applications-clean",
        purpose="training",
        **common,
    )
    datasets.dataset_create(
        actor=engineer,
        project=project,
        name="credit-bureau",
        purpose="training",
        status=Dataset.Status.COLLECTING,
        description="Bureau scores for applicants; contract under negotiation.",
        source="External credit bureau",
    )
    frame = loan_applications(3000, seed=8)
    v1 = _version(
        raw, engineer, frame, source_uri="los://exports/2026-10", collected_by="Data office"
    )
    deduplicated = frame.drop_duplicates(subset=["email"]).iloc[:2800]
    v2 = _version(
        clean,
        engineer,
        deduplicated,
        parents=[v1],
        transformation="Dropped duplicate applicants and the last 200 incomplete files.",
        code_reference="git:4e1d2c9",
        command="python pipelines/clean.py --month 2026-10",
    )
    v3 = _version(
        clean,
        engineer,
        deduplicated[deduplicated["age"] >= 21],
        parents=[v2],
        transformation="Kept applicants aged 21 and over, as the lending policy does.",
        code_reference="git:7a0b3f1",
    )
    # Held out: the next month's applications, cleaned the same way, never trained on.
    later = loan_applications(3000, seed=7)
    later = later.drop_duplicates(subset=["email"]).iloc[:2800]
    data = later[later["age"] >= 21]
    holdout = _version(
        datasets.dataset_create(
            actor=engineer,
            project=project,
            name="loan-applications-holdout",
            purpose="test",
            description="November's applications, held out to judge models on.",
            **common,
        ),
        engineer,
        data,
        source_uri="los://exports/2026-11",
        collected_by="Data office",
        transformation="November's export, deduplicated and kept to applicants aged 21 and "
        "over with the training data's pipeline.",
        code_reference="git:7a0b3f1",
    )
    evaluations.baseline_record(
        actor=engineer,
        project=project,
        kind=Baseline.Kind.HUMAN_LEVEL,
        name="Underwriters",
        metric="balanced_accuracy",
        value=0.64,
        evidence="Two underwriters re-scored 400 closed files blind, October.",
    )
    evaluations.baseline_record(
        actor=engineer,
        project=project,
        kind=Baseline.Kind.PREVIOUS_SYSTEM,
        name="Scorecard 2019",
        metric="roc_auc",
        value=0.69,
        evidence="Monitoring report Q3.",
    )
    baseline_run_request(actor=engineer, version=holdout)
    risk_starter_import(actor=engineer, project=project)
    # Decided, all but the group gap the audit is about: the business owner decides that one.
    for risk in project.risks.all():
        left_open = risk.starter_key == OPEN_DEMO_RISK
        risk_update(
            actor=engineer,
            risk=risk,
            owner=f"{engineer.get_full_name()} ({engineer.username})",
            **({} if left_open else {"status": "mitigated"}),
        )
    model = evaluations.model_register(
        actor=engineer,
        project=project,
        name="gbm-scorer",
        version="1.0.0",
        framework="scikit-learn",
        code_commit="7a0b3f1",
        parameters={"max_iter": 200, "learning_rate": 0.05},
        training_data=v3.pk,
    )
    rng = np.random.default_rng(3)
    truth = data["defaulted"].to_numpy()
    score = np.clip(0.25 + 0.35 * truth + rng.normal(0, 0.2, len(truth)), 0.01, 0.99)
    predictions = pd.DataFrame(
        {"defaulted": truth, "predicted": (score > 0.45).astype(int), "score": score.round(4)}
    )
    evaluation = evaluations.evaluation_upload(
        actor=engineer,
        model=model,
        dataset_version=holdout,
        upload=upload_from_bytes("gbm-scorer-1.0.0.csv", predictions.to_csv(index=False).encode()),
        mapping={"y_true": "defaulted", "y_pred": "predicted", "y_score": "score"},
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluations.model_mark_candidate(actor=engineer, model=model)
    config = default_config(["sex", "region"])
    config["intersections"] = [["sex", "region"]]
    config["thresholds"]["demographic_parity_difference"]["rationale"] = (
        "Credit policy CP-12: approval rates may differ by at most 10 points between groups "
        "of applicants unless explained by affordability, reviewed each quarter."
    )
    config["thresholds"].update(AUDIT_REASONS)
    config["thresholds"]["min_recall"] = {
        "limit": 0.6,
        "rationale": "A missed default costs about five times a wrongly refused loan; the "
        "previous scorecard caught 60 % of defaults in every region.",
    }
    audit_config_save(
        actor=engineer, project=project, changes=config, note="Sex and region, per CP-12."
    )
    # Queued: the worker audits it when the portal starts; an auditor then reviews it.
    audit_request(actor=engineer, evaluation=Evaluation.objects.get(pk=evaluation.pk))
    owner = get_user_model().objects.get(username="credit_owner")
    measurement_record(
        actor=owner,
        project=project,
        metric="manual_review_rate",
        value=0.12,
        period="2026-10 pilot",
        evidence="Share of pilot applications the model sent to an underwriter, from the "
        "case tool's October report.",
    )
    # Written, not yet signed: the owner and the engineer sign it in the web.
    criteria_save(actor=engineer, project=project, criteria=CREDIT_CRITERIA, note=CREDIT_NOTE)


def _gate_evidence(project: Project, prefix: str) -> None:
    """What the gate into deployment asks for: a small model evaluated and audited with the
    auditor's approval, a baseline, criteria signed by the owner and the engineer, and the
    approval pack of that state (rendered here, not by a worker)."""
    User = get_user_model()
    engineer = User.objects.get(username=f"{prefix}_engineer")
    owner = User.objects.get(username=f"{prefix}_owner")
    auditor = User.objects.get(username=f"{prefix}_auditor")
    frame = loan_applications(800, seed=11)
    regression = project.task_type == Project.TaskType.REGRESSION
    if regression:
        frame["target"] = (frame["debt_ratio"] * 1000).round(2)
    else:
        # A calibrated model's scores and the outcomes drawn from them: the reference its
        # performance in production is estimated against.
        model_out = scored(len(frame), seed=5)
        frame["target"] = model_out["outcome"].to_numpy()
    described = {
        "label_column": "target",
        "sensitive_columns": ["sex"],
        "personal_data_columns": ["email"],
        "labeling_strategy": Dataset.Labeling.PROGRAMMATIC,
    }
    # The model learns from older applications and is judged on a later, held-out stretch.
    training_frame = loan_applications(2400, seed=12)
    if regression:
        training_frame["target"] = (training_frame["debt_ratio"] * 1000).round(2)
    else:
        training_frame["target"] = scored(len(training_frame), seed=6)["outcome"].to_numpy()
    training = _version(
        datasets.dataset_create(
            actor=engineer,
            project=project,
            name="training-history",
            purpose="training",
            **described,
        ),
        engineer,
        training_frame,
    )
    dataset = datasets.dataset_create(
        actor=engineer,
        project=project,
        name="history",
        purpose="test",
        description="The latest stretch of history, held out from training.",
        **described,
    )
    version = _version(dataset, engineer, frame)
    model = evaluations.model_register(
        actor=engineer,
        project=project,
        name="current",
        version="1.0.0",
        training_data=training.pk,
    )
    rng = np.random.default_rng(5)
    mapping = {"y_true": "target", "y_pred": "predicted", "sensitive": ["sex"]}
    if regression:
        truth = frame["target"].to_numpy()
        predicted = (truth + rng.normal(0, 40, len(truth))).round(2)
        predictions = pd.DataFrame({"target": truth, "predicted": predicted})
    else:
        predictions = model_out.rename(columns={"outcome": "target"})
        mapping["y_score"] = "score"
    predictions["sex"] = frame["sex"].to_numpy()
    evaluation = evaluations.evaluation_upload(
        actor=engineer,
        model=model,
        dataset_version=version,
        upload=upload_from_bytes("predictions.csv", predictions.to_csv(index=False).encode()),
        mapping=mapping,
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluations.model_mark_candidate(actor=engineer, model=model)
    audit_config_save(
        actor=engineer,
        project=project,
        changes={**DEMO_AUDIT, "sensitive_features": ["sex"]},
        note="The team's reasons for each limit.",
    )
    audit, _ = audit_request(actor=engineer, evaluation=Evaluation.objects.get(pk=evaluation.pk))
    audit_run(run_id=audit.pk)
    audit_review(
        actor=auditor,
        audit=audit,
        decision="approve",
        rationale="Error rates by sex are within the limits; reviewed with the team lead.",
    )
    # The register considered and decided: each common failure mode owned and mitigated.
    risk_starter_import(actor=engineer, project=project)
    for risk in project.risks.all():
        risk_update(
            actor=engineer,
            risk=risk,
            owner=f"{engineer.get_full_name()} ({engineer.username})",
            status="mitigated",
        )
    metric, comparator, target = ("mae", "<=", 50.0) if regression else ("accuracy", ">=", 0.85)
    evaluations.baseline_record(
        actor=engineer,
        project=project,
        kind=Baseline.Kind.PREVIOUS_SYSTEM,
        name="Rules in use",
        metric=metric,
        value=80.0 if regression else 0.7,
        evidence="Last quarter's monitoring report.",
    )
    version = criteria_save(
        actor=engineer,
        project=project,
        criteria=[
            {
                "metric": metric,
                "comparator": comparator,
                "target": target,
                "rationale": "Agreed with the business owner at the kick-off.",
            },
            {
                "metric": "p95_latency_ms",
                "comparator": "<=",
                "target": 200,
                "rationale": "The caller times out at 300 ms.",
            },
        ],
        note="First agreement.",
    )
    for person, role in ((owner, "business_owner"), (engineer, "ml_engineer")):
        signoff_record(actor=person, document=version, role=role, decision="approve")
    pack, _ = pack_request(actor=owner, project=project)
    pack_render(pack_id=pack.pk)


def _drift_checked(project: Project, deployment, engineer) -> None:
    """A week of the canary's logged applications, checked against the held-out history the
    model was evaluated on: richer applicants with more debt come in, so income and debt
    ratio drift."""
    reference = DatasetVersion.objects.filter(
        dataset__project=project, dataset__name="history"
    ).latest("pk")
    frame = loan_applications(600, seed=31)
    frame["income"] = (frame["income"] * 1.25).round(0)
    frame["debt_ratio"] = (frame["debt_ratio"] * 1.3).clip(upper=0.99).round(4)
    frame["target"] = frame["defaulted"]
    dataset = datasets.dataset_create(
        actor=engineer,
        project=project,
        name="canary-requests",
        purpose="production_sample",
        label_column="target",
        personal_data_columns=["email"],
    )
    check = drift_check_request(
        actor=engineer,
        deployment=deployment,
        reference=reference,
        current=_version(dataset, engineer, frame),
    )
    drift_check_run(check_id=check.pk)


def _weekly_drift(project: Project, deployment, engineer) -> None:
    """Each week of the month, its logged requests and the model's scores as a production
    period, checked for drift against the held-out history when it ends. From mid-month
    incomes rise and debt ratios with them, so the later checks find drift, and more
    requests sit near the decision line, so the estimated ROC AUC slides. The outcomes of
    the first three weeks have arrived and confirm it; the last week's are still to come."""
    reference = DatasetVersion.objects.filter(
        dataset__project=project, dataset__name="history"
    ).latest("pk")
    dataset = datasets.dataset_create(
        actor=engineer,
        project=project,
        name="weekly-requests",
        purpose="production_sample",
        sensitive_columns=["sex"],
        personal_data_columns=["email"],
    )
    start = timezone.now() - timedelta(days=MONTH_DAYS)
    outcomes = []
    for week in range(4):
        first, last = 1 + 7 * week, 8 + 7 * week
        shift = max(0, last - DRIFT_DAY) / (MONTH_DAYS - DRIFT_DAY)
        frame = loan_applications(600, seed=40 + week)
        frame["income"] = (frame["income"] * (1 + 0.6 * shift)).round(0)
        frame["debt_ratio"] = (frame["debt_ratio"] * (1 + 0.5 * shift)).clip(upper=0.99).round(4)
        model_out = scored(len(frame), seed=60 + week, shift=shift)
        frame.insert(0, "prediction_id", [f"W{week + 1}-{i:05d}" for i in range(len(frame))])
        frame["score"] = model_out["score"].to_numpy()
        version = _version(dataset, engineer, frame)
        weekly_period(
            deployment,
            version,
            start=start + timedelta(days=first),
            end=start + timedelta(days=last),
            engineer=engineer,
        )
        if week < 3:
            outcomes.append(pd.DataFrame({"prediction_id": frame["prediction_id"]}))
            outcomes[-1]["picked"] = model_out["outcome"].to_numpy()
        check = drift_check_request(
            actor=engineer, deployment=deployment, reference=reference, current=version
        )
        drift_check_run(check_id=check.pk)
        when = start + timedelta(days=last, hours=6)
        # The check keeps the day it would have run; its events are recorded as the demo loads.
        DriftCheck.objects.filter(pk=check.pk).update(
            created_at=when, started_at=when, finished_at=when + timedelta(minutes=1)
        )
    labels = datasets.dataset_create(
        actor=engineer,
        project=project,
        name="weekly-outcomes",
        purpose="production_sample",
        description="Whether the shopper picked a suggestion, per prediction id.",
    )
    outcomes_arrive(deployment, _version(labels, engineer, pd.concat(outcomes)), engineer=engineer)


def _version(dataset: Dataset, engineer, frame: pd.DataFrame, **fields) -> DatasetVersion:
    content = frame.to_csv(index=False).encode()
    upload = upload_from_bytes(f"{dataset.name}.csv", content)
    version, _ = datasets.version_upload(actor=engineer, dataset=dataset, upload=upload, **fields)
    datasets.version_ingest(version_id=version.pk)
    return DatasetVersion.objects.get(pk=version.pk)


def _person(User, username: str):
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com"}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
        if username in NAMES:
            first, last, title = NAMES[username]
            teams.profile_update(actor=user, first_name=first, last_name=last, job_title=title)
    return user


def _path_to(stage: str) -> list[str]:
    order = ["prototyping", "deployment", "monitoring"]
    return order[1 : order.index(stage) + 1]
