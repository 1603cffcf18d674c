"""Who may call what in the deployment stage: one rule per route and method.

The rights come from the role (through the team, or through a share for an outside
auditor) and, for a token, from its scopes and its project binding:

- a read needs the view right: every role of the project, the outside auditor;
- creating a deployment, saving a plan, pushing metrics need the change right (business
  owner, ML engineer) and, from a token, the write scope; metrics may also come with a
  deployment's own token (the metrics scope, bound to that deployment), which can do
  nothing else but read (every token reads); making one is a signed-in person's act;
- starting, promoting, rolling back and aborting a rollout need the transition right
  (business owner, ML engineer) and, from a token, the transition scope; so do the release
  tools' calls that judge a step (Argo Rollouts) and every Flagger webhook, whose calls
  go on the trail that steers the rollout;
- signing a plan needs a signing role (business owner, ML engineer) and a signed-in
  person, never a token; revoking a sign-off is for the person who signed, never a token;
- recording a periodic review needs the change right (business owner, ML engineer) and,
  from a token, the write scope; the project must be in monitoring (the rule's ``prepare``
  moves it there and finishes the live rollout), else the review is refused (409).

Someone who does not see the project (another team, a token bound to another project)
gets 404; someone who sees it but may not do this, 403; nobody signed in, 401 from the
API and a redirect to log in from a page. A token counts in the ``Authorization``
header; in the body (``metadata.token``) only for Flagger's webhook, which cannot send
headers; a page takes none. A route's rule may name a ``busy`` object on which the same
call, once allowed, is refused by the object's state (409): the permission is decided
before the state is told.

``expected`` turns a rule and a caller into the status (and the error code) wanted; the
rights table here is written out, not read from ``portal.access``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from audits.models import MonitoringReport
from audits.services.monitoring_reports import monitoring_report_render, monitoring_report_request
from deployments.models import (
    Alert,
    AlertWebhook,
    Analysis,
    Deployment,
    DeploymentPlan,
    DeploymentToken,
    DriftCheck,
    LabelBatch,
    MetricBatch,
    MetricPoint,
    MonitoringReview,
    PlanSignOff,
    ProductionPeriod,
    Rollout,
    RolloutMove,
)
from deployments.services.alerts import alert_fire, alert_resolve
from deployments.services.drift import drift_check_request
from deployments.services.metrics import metrics_push
from deployments.services.performance import label_batch_create
from deployments.services.rollouts import rollout_promote, rollout_start
from projects.models import DatasetVersion, Event, Project, Role
from projects.services.signoffs import signoff_record, signoff_revoke
from tests.factories import (
    QUICK_STEPS,
    TeamWorld,
    healthy_points,
    make_dataset,
    make_deployment,
    make_production_period,
    make_version,
    plan_content,
    production_frame,
)

BO, MLE, AUD, VIE = Role.BUSINESS_OWNER, Role.ML_ENGINEER, Role.AUDITOR, Role.VIEWER
#: The person a project is shared with as auditor, from outside its team.
EXTERNAL = "external_auditor"

VIEW, CHANGE, TRANSITION, SIGN, REVOKE = "view", "change", "transition", "sign", "revoke"
#: What each caller's role gives on team A's project.
RIGHTS: dict[str, set[str]] = {
    BO: {VIEW, CHANGE, TRANSITION, SIGN},
    MLE: {VIEW, CHANGE, TRANSITION, SIGN},
    AUD: {VIEW},
    VIE: {VIEW},
    EXTERNAL: {VIEW},
}
#: The token scope each act needs (``None``: no token may do it).
SCOPE: dict[str, str | None] = {
    VIEW: "read",
    CHANGE: "write",
    TRANSITION: "transition",
    SIGN: None,
    REVOKE: None,
}


# --- The deployments each team's world gets ------------------------------------------


@dataclass
class Deployments:
    """One team's deployments, one in each state a route acts on."""

    #: Signed plan, a rollout active at its second step, one passed analysis on record.
    live: Deployment
    live_plan: DeploymentPlan
    rollout: Rollout
    analysis: Analysis
    #: The business owner's sign-off of ``live_plan``.
    signoff: PlanSignOff
    #: The business owner's first sign-off of ``ready_plan``, revoked (and signed again).
    revoked: PlanSignOff
    #: Signed plan, no rollout yet.
    ready: Deployment
    ready_plan: DeploymentPlan
    #: Plan v1, signed by nobody.
    draft: Deployment
    draft_plan: DeploymentPlan
    project: Project
    #: A production period of the project, and a drift check of it (queued) on ``live``.
    production: DatasetVersion
    drift_check: DriftCheck
    #: An alert firing on ``live``, and one resolved.
    alert: Alert
    resolved_alert: Alert
    #: A production period of ``live`` holding ``production`` (the week to PERIOD_END), and
    #: the next period's data, not yet recorded.
    period: ProductionPeriod
    next_production: DatasetVersion
    #: A monitoring report of ``live``'s last hour (rendered when the world asks for it).
    report: MonitoringReport
    #: A periodic review of ``live`` (written as a row: the world's project is not live).
    review: MonitoringReview
    #: Labels for ``period``'s predictions (by customer id), joined as a batch (queued), and
    #: a second file of them, not yet recorded.
    label_batch: LabelBatch
    next_labels: DatasetVersion


#: The recorded period ends two days ago at midnight; the next one, a day later, is over too.
PERIOD_END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
    days=2
)
NEXT_PERIOD = {"period_start": PERIOD_END, "period_end": PERIOD_END + timedelta(days=1)}


def healthy_window(deployment: Deployment, actor) -> None:
    """Let the active rollout's step run its one-minute window, with healthy metrics in it."""
    now = timezone.now()
    Rollout.objects.filter(deployment=deployment, status=Rollout.Status.ACTIVE).update(
        step_started_at=now - timedelta(minutes=2)
    )
    metrics_push(
        actor=actor,
        deployment=deployment,
        points=healthy_points(now - timedelta(seconds=50), now),
        idempotency_key=f"healthy-{now.timestamp()}",
    )


def deployments_build(w: TeamWorld, *, rendered: bool = False) -> Deployments:
    """Three deployments of the world's candidate (the project moves into deployment);
    with ``rendered``, the monitoring report's PDF is laid out too (WeasyPrint: a second)."""
    engineer = w.people[MLE]
    live, live_plan = make_deployment(w)
    rollout_start(
        actor=engineer,
        deployment=live,
        reason="First step.",
        now=timezone.now() - timedelta(minutes=5),
    )
    healthy_window(live, engineer)
    rollout, analysis = rollout_promote(actor=engineer, deployment=live, reason="Healthy.", step=0)
    assert rollout.step == 1 and rollout.status == Rollout.Status.ACTIVE
    ready, ready_plan = make_deployment(w)
    revoked = signoff_revoke(
        actor=w.people[BO],
        signoff=ready_plan.signoffs.get(signed_by=w.people[BO]),
        reason="Read it again.",
    )
    signoff_record(actor=w.people[BO], document=ready_plan, role=BO, decision="approve")
    draft, draft_plan = make_deployment(w, signed=False)
    production = make_version(
        make_dataset(w.project, engineer, name="production", purpose="production_sample"),
        engineer,
    )
    drift_check = drift_check_request(
        actor=engineer, deployment=live, reference=w.version, current=production
    )
    period = make_production_period(
        live,
        production,
        start=PERIOD_END - timedelta(days=7),
        end=PERIOD_END,
        id_column="customer_id",
    )
    labels = make_dataset(
        w.project,
        engineer,
        name="labels",
        purpose="production_sample",
        sensitive_columns=[],
        personal_data_columns=[],
    )
    label_batch = label_batch_create(
        actor=engineer,
        deployment=live,
        version=production,
        id_column="customer_id",
        label_column="defaulted",
    )
    next_labels = make_version(
        labels,
        engineer,
        production_frame(40, seed=5)[["customer_id", "defaulted"]].to_csv(index=False).encode(),
        name="labels.csv",
    )
    next_production = make_version(
        production.dataset,
        engineer,
        production_frame(60, seed=4).to_csv(index=False).encode(),
        name="next.csv",
    )
    alert, _ = alert_fire(
        deployment=live, source="spec", rule="Latency", key="spec:Latency", summary="Slow."
    )
    resolved_alert, _ = alert_fire(
        deployment=live, source="spec", rule="Errors", key="spec:Errors", summary="Errors."
    )
    alert_resolve(actor=None, alert=resolved_alert, reason="Over.")
    resolved_alert.refresh_from_db()
    now = timezone.now()
    report = monitoring_report_request(
        actor=engineer, deployment=live, period_start=now - timedelta(hours=1), period_end=now
    )
    if rendered:
        monitoring_report_render(report_id=report.pk)
        report.refresh_from_db()
    review = MonitoringReview.objects.create(
        deployment=live, cycle=live.cycle, outcome="continue", notes="Steady.", reviewed_by=engineer
    )
    return Deployments(
        live=live,
        live_plan=live_plan,
        rollout=rollout,
        analysis=analysis,
        signoff=live_plan.signoffs.get(signed_by=w.people[BO]),
        revoked=revoked,
        ready=ready,
        ready_plan=ready_plan,
        draft=draft,
        draft_plan=draft_plan,
        project=w.project,
        production=production,
        drift_check=drift_check,
        alert=alert,
        resolved_alert=resolved_alert,
        period=period,
        next_production=next_production,
        report=report,
        review=review,
        label_batch=label_batch,
        next_labels=next_labels,
    )


def deployment_state() -> dict:
    """What a refused call must leave as it was: the trail and every deployment row."""
    return {
        "events": Event.objects.count(),
        "deployments": Deployment.objects.count(),
        "plans": DeploymentPlan.objects.count(),
        "signoffs": sorted(PlanSignOff.objects.values_list("pk", "revoked_at")),
        "rollouts": sorted(Rollout.objects.values_list("pk", "status", "step", "traffic")),
        "moves": RolloutMove.objects.count(),
        "analyses": Analysis.objects.count(),
        "batches": MetricBatch.objects.count(),
        "points": MetricPoint.objects.count(),
        "tokens": DeploymentToken.objects.count(),
        "drift_checks": DriftCheck.objects.count(),
        "alerts": sorted(Alert.objects.values_list("pk", "state")),
        "webhooks": AlertWebhook.objects.count(),
        "production_periods": ProductionPeriod.objects.count(),
        "label_batches": LabelBatch.objects.count(),
        "monitoring_reports": MonitoringReport.objects.count(),
        "reviews": MonitoringReview.objects.count(),
    }


# --- Rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    #: The act: VIEW, CHANGE, TRANSITION, SIGN or REVOKE.
    act: str
    #: The ``Deployments`` attribute the URL names (``project``: the project's slug).
    target: str
    #: The status of an allowed call.
    done: int = 200
    #: The object on which an allowed call is refused by its state, and the code it gets.
    busy: str = ""
    busy_code: str = ""
    #: An allowed call goes on the trail (pushed metrics are counted on their batch).
    trail: bool = True
    #: What the world needs just before the call: (deployments, team world) -> None.
    prepare: Callable[[Deployments, TeamWorld], None] | None = None
    #: A webhook's hooks (the URL's ``hook``), each with what its allowed call answers:
    #: a hook's 409 holds the release tool back and goes on the trail like its 200.
    hooks: tuple[tuple[str, int], ...] = ()


def _promotable(d: Deployments, w: TeamWorld) -> None:
    healthy_window(d.live, w.people[MLE])


def in_monitoring(d: Deployments, w: TeamWorld | None = None) -> None:
    """The live rollout finished and the project in monitoring: ``live`` may be reviewed."""
    Rollout.objects.filter(pk=d.rollout.pk).update(
        status=Rollout.Status.FINISHED, traffic=100.0, finished_at=timezone.now()
    )
    Project.objects.filter(pk=d.project.pk).update(stage=Project.Stage.MONITORING)


RULES: dict[tuple[str, str], Rule] = {
    # --- REST API ---------------------------------------------------------------------
    ("api-deployment-list", "GET"): Rule(VIEW, "project"),
    ("api-deployment-list", "POST"): Rule(CHANGE, "project", done=201),
    ("api-deployment-detail", "GET"): Rule(VIEW, "live"),
    ("api-plan-list", "GET"): Rule(VIEW, "live"),
    # The live deployment's plan cannot change while its rollout runs.
    ("api-plan-list", "POST"): Rule(
        CHANGE, "draft", done=201, busy="live", busy_code="rollout_active"
    ),
    ("api-plan-detail", "GET"): Rule(VIEW, "live_plan"),
    ("api-plan-signoff-list", "GET"): Rule(VIEW, "live_plan"),
    # Each signer signs in their own role; the live plan is signed by both already.
    ("api-plan-signoff-list", "POST"): Rule(
        SIGN, "draft_plan", done=201, busy="live_plan", busy_code="signed_already"
    ),
    ("api-plan-signoff-detail", "GET"): Rule(VIEW, "signoff"),
    ("api-plan-signoff-revoke", "POST"): Rule(
        REVOKE, "signoff", busy="revoked", busy_code="revoked_already"
    ),
    ("api-rollout-list", "GET"): Rule(VIEW, "live"),
    ("api-rollout-list", "POST"): Rule(
        TRANSITION, "ready", done=201, busy="live", busy_code="rollout_active"
    ),
    ("api-rollout-detail", "GET"): Rule(VIEW, "rollout"),
    ("api-deployment-promote", "POST"): Rule(
        TRANSITION, "live", busy="ready", busy_code="no_rollout", prepare=_promotable
    ),
    ("api-deployment-rollback", "POST"): Rule(
        TRANSITION, "live", busy="ready", busy_code="no_rollout"
    ),
    ("api-deployment-abort", "POST"): Rule(
        TRANSITION, "live", busy="ready", busy_code="no_rollout"
    ),
    ("api-deployment-metrics", "POST"): Rule(CHANGE, "live", done=201, trail=False),
    ("api-analysis-detail", "GET"): Rule(VIEW, "analysis"),
    ("api-drift-check-list", "GET"): Rule(VIEW, "live"),
    ("api-drift-check-list", "POST"): Rule(CHANGE, "live", done=202),
    ("api-drift-check-detail", "GET"): Rule(VIEW, "drift_check"),
    ("api-production-period-list", "GET"): Rule(VIEW, "live"),
    ("api-production-period-list", "POST"): Rule(CHANGE, "live", done=202),
    ("api-production-period-detail", "GET"): Rule(VIEW, "period"),
    ("api-label-batch-list", "GET"): Rule(VIEW, "live"),
    ("api-label-batch-list", "POST"): Rule(CHANGE, "live", done=202),
    ("api-label-batch-detail", "GET"): Rule(VIEW, "label_batch"),
    ("api-monitoring-report-list", "GET"): Rule(VIEW, "live"),
    ("api-monitoring-report-list", "POST"): Rule(CHANGE, "live", done=202),
    ("api-monitoring-report-detail", "GET"): Rule(VIEW, "report"),
    ("api-monitoring-report-pdf", "GET"): Rule(VIEW, "report"),
    ("api-review-list", "GET"): Rule(VIEW, "live"),
    # Outside monitoring (the ready deployment, the project in deployment) a review waits.
    ("api-review-list", "POST"): Rule(
        CHANGE, "live", done=201, busy="ready", busy_code="not_monitoring", prepare=in_monitoring
    ),
    ("api-review-detail", "GET"): Rule(VIEW, "review"),
    ("api-alert-list", "GET"): Rule(VIEW, "live"),
    ("api-alert-detail", "GET"): Rule(VIEW, "alert"),
    ("api-alert-acknowledge", "POST"): Rule(
        CHANGE, "alert", busy="resolved_alert", busy_code="not_firing"
    ),
    ("api-alert-resolve", "POST"): Rule(
        CHANGE, "alert", busy="resolved_alert", busy_code="resolved_already"
    ),
    ("api-alert-webhook-list", "GET"): Rule(VIEW, "live"),
    ("api-alert-webhook-list", "POST"): Rule(CHANGE, "live", done=201),
    # The team's Alertmanager writes alerts on the record: the change right, the write scope.
    ("api-deployment-alertmanager", "POST"): Rule(CHANGE, "live"),
    # Argo Rollouts reads the current step's verdict, and asks for it to be judged (which
    # promotes the rollout when its analysis passes).
    ("api-deployment-analysis", "GET"): Rule(VIEW, "live"),
    ("api-deployment-analysis", "POST"): Rule(TRANSITION, "live", prepare=_promotable),
    # Flagger's webhooks. Every call goes on the trail, and the trail steers the rollout
    # (the first call's checksum binds it to one canary revision; the hooks Flagger was
    # answered decide its next step): so every hook needs the transition right, also
    # those that only read the rollout.
    ("api-deployment-flagger", "POST"): Rule(
        TRANSITION,
        "live",
        hooks=(
            ("confirm-rollout", 200),  # the rollout under way
            ("pre-rollout", 200),
            ("rollout", 200),
            # The rollout is at step 2, which Flagger never was let onto.
            ("confirm-traffic-increase", 409),
            ("confirm-promotion", 409),  # not at the last step
            ("post-rollout", 200),  # Flagger failed the canary: rolled back
            ("rollback", 409),  # nobody rolled it back here
            ("event", 200),
        ),
    ),
    # --- Web pages --------------------------------------------------------------------
    ("deployment", "GET"): Rule(VIEW, "live"),
    ("deployment-dashboard", "GET"): Rule(VIEW, "live"),
    ("deployment-dashboard-live", "GET"): Rule(VIEW, "live"),
    ("monitoring-report-create", "POST"): Rule(CHANGE, "live", done=302),
    ("monitoring-report", "GET"): Rule(VIEW, "report"),
    ("monitoring-report-status", "GET"): Rule(VIEW, "report"),
    ("monitoring-report-pdf", "GET"): Rule(VIEW, "report"),
    ("deployment-plan", "GET"): Rule(VIEW, "live_plan"),
    ("drift-check", "GET"): Rule(VIEW, "drift_check"),
    ("drift-check-status", "GET"): Rule(VIEW, "drift_check"),
    ("drift-check-create", "POST"): Rule(CHANGE, "live", done=302),
    ("production-period-create", "POST"): Rule(CHANGE, "live", done=302),
    ("review-create", "POST"): Rule(
        CHANGE, "live", done=302, busy="ready", busy_code="not_monitoring", prepare=in_monitoring
    ),
    ("label-batch-create", "POST"): Rule(CHANGE, "live", done=302),
    ("alert-acknowledge", "POST"): Rule(
        CHANGE, "alert", done=302, busy="resolved_alert", busy_code="not_firing"
    ),
    ("alert-resolve", "POST"): Rule(
        CHANGE, "alert", done=302, busy="resolved_alert", busy_code="resolved_already"
    ),
    # The page shows the new webhook's secret once: 200, not a redirect.
    ("alert-webhook-create", "POST"): Rule(CHANGE, "live"),
    # The page shows the new key once: 200, not a redirect.
    ("deployment-token-create", "POST"): Rule(CHANGE, "live"),
    ("deployment-create", "POST"): Rule(CHANGE, "project", done=302),
    ("deployment-plan-create", "POST"): Rule(
        CHANGE, "draft", done=302, busy="live", busy_code="rollout_active"
    ),
    ("plan-signoff-create", "POST"): Rule(
        SIGN, "draft_plan", done=302, busy="live_plan", busy_code="signed_already"
    ),
    ("plan-signoff-revoke", "POST"): Rule(
        REVOKE, "signoff", done=302, busy="revoked", busy_code="revoked_already"
    ),
    ("rollout-start", "POST"): Rule(
        TRANSITION, "ready", done=302, busy="live", busy_code="rollout_active"
    ),
    ("rollout-promote", "POST"): Rule(
        TRANSITION, "live", done=302, busy="ready", busy_code="no_rollout", prepare=_promotable
    ),
    ("rollout-rollback", "POST"): Rule(
        TRANSITION, "live", done=302, busy="ready", busy_code="no_rollout"
    ),
    ("rollout-abort", "POST"): Rule(
        TRANSITION, "live", done=302, busy="ready", busy_code="no_rollout"
    ),
}


# --- Callers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who calls: a person of team ``team`` in ``role`` (``EXTERNAL``: the outside auditor
    team A's project is shared with), signed in or through a token with ``scopes``."""

    key: str
    team: str | None = None  # None: nobody signed in
    role: str = ""
    scopes: tuple[str, ...] | None = None  # None: signed in, no token
    #: A token's binding: "" none, "here" team A's project, "elsewhere" another project of
    #: team A; a metrics token's deployment: "live" the live one, "ready" another one.
    bound: str = ""
    revoked: bool = False
    #: The token sent in the JSON body's ``metadata.token``, as Flagger sends it.
    in_body: bool = False

    @property
    def token(self) -> bool:
        return self.scopes is not None


ANONYMOUS = Caller("anonymous")
SIGNED_IN = [
    *(Caller(f"a-{role}", "a", role) for role in (BO, MLE, AUD, VIE, EXTERNAL)),
    *(Caller(f"b-{role}", "b", role) for role in (BO, MLE, AUD, VIE)),
]
#: Every token gets the read scope with the one asked for (``tokens.token_create``).
TOKENS = [
    *(
        Caller(f"a-{role}-token-{scope}", "a", role, (scope,))
        for role in (BO, MLE, AUD, VIE, EXTERNAL)
        for scope in ("read", "write", "transition")
    ),
    Caller("a-ml_engineer-token-bound-here", "a", MLE, ("write", "transition"), bound="here"),
    Caller(
        "a-business_owner-token-bound-elsewhere",
        "a",
        BO,
        ("write", "transition"),
        bound="elsewhere",
    ),
    Caller("b-business_owner-token", "b", BO, ("write", "transition")),
    Caller("a-ml_engineer-token-metrics-live", "a", MLE, ("metrics",), bound="live"),
    Caller("a-ml_engineer-token-metrics-ready", "a", MLE, ("metrics",), bound="ready"),
    Caller("a-business_owner-token-revoked", "a", BO, ("write", "transition"), revoked=True),
    Caller("a-ml_engineer-token-in-body", "a", MLE, ("write", "transition"), in_body=True),
]
#: The only route that reads a token from the body: Flagger cannot send headers.
TOKEN_IN_BODY = {"api-deployment-flagger"}
API_CALLERS = [*SIGNED_IN, *TOKENS, ANONYMOUS]
#: A page takes no token: with one and no session, the caller is nobody.
WEB_CALLERS = [
    *SIGNED_IN,
    Caller("a-ml_engineer-token-all", "a", MLE, ("write", "transition")),
    ANONYMOUS,
]


@dataclass(frozen=True)
class Wanted:
    status: int
    code: str = ""
    #: The call is allowed and does what it asks.
    allowed: bool = False


def expected(
    rule: Rule, caller: Caller, *, name: str, busy: bool = False, hook: str = ""
) -> Wanted:
    """The answer ``caller`` gets for ``rule`` on team A's object (or its busy one)."""
    api = name.startswith("api-")
    done = dict(rule.hooks)[hook] if hook else rule.done
    nobody = caller.team is None or caller.revoked or (caller.token and not api)
    if nobody or (caller.in_body and name not in TOKEN_IN_BODY):
        return Wanted(401) if api else Wanted(302)
    if caller.team != "a" or caller.bound == "elsewhere":
        return Wanted(404, "not_found")
    if rule.act == VIEW:
        return Wanted(done, allowed=True)
    rights = RIGHTS[caller.role]
    if rule.act in (SIGN, REVOKE):
        # A signature and its withdrawal are a person's own acts, whatever the token.
        if caller.token:
            return Wanted(403, "token_not_allowed")
        # The sign-off the world revokes is the business owner's.
        allowed = SIGN in rights if rule.act == SIGN else caller.role == BO
        if not allowed:
            return Wanted(403, "permission_denied")
    else:
        # The role first: when it does not allow this, no token would help.
        if rule.act not in rights:
            return Wanted(403, "permission_denied")
        pushing = name == "api-deployment-metrics"
        if caller.token and "metrics" in caller.scopes and pushing:
            if caller.bound != rule.target:
                return Wanted(403, "token_deployment")
        elif caller.token and SCOPE[rule.act] not in caller.scopes:
            return Wanted(403, "token_scope")
    return Wanted(409, rule.busy_code) if busy else Wanted(done, allowed=True)


# --- Requests --------------------------------------------------------------------------


def signing_role(caller: Caller) -> str:
    """The role a caller signs in: their own signing role, else the business owner's."""
    return "ml_engineer" if caller.role == MLE else "business_owner"


def url_kwargs(params: list[str], target: str, d: Deployments, hook: str = "") -> dict:
    kwargs = {}
    for param in params:
        if param == "hook":
            kwargs[param] = hook
        elif target == "project":
            kwargs[param] = d.project.slug
        else:
            kwargs[param] = getattr(d, target).pk
    return kwargs


def body(name: str, d: Deployments, w: TeamWorld, caller: Caller, hook: str = "") -> dict:
    """The body of a call that succeeds when allowed; pages get form fields."""
    slower = plan_content(
        kind="canary", steps=[{**step, "window_minutes": 2} for step in QUICK_STEPS]
    )
    now = timezone.now().isoformat()
    last_hour = {
        "period_start": (timezone.now() - timedelta(hours=1)).isoformat(),
        "period_end": now,
    }
    bodies = {
        "api-deployment-list": {
            "model_version": w.model.pk,
            "name": "scorer 1 staging",
            "environment": "staging",
        },
        "api-plan-list": {"content": slower, "note": "Two-minute windows."},
        "api-plan-signoff-list": {"role": signing_role(caller), "decision": "approve"},
        "api-plan-signoff-revoke": {"reason": "Signed too early."},
        "api-rollout-list": {"reason": "Go."},
        "api-deployment-promote": {"reason": "Healthy.", "step": 1},
        "api-deployment-rollback": {"reason": "Errors went up."},
        "api-deployment-abort": {"reason": "Stopped for the night."},
        "api-deployment-metrics": {
            "idempotency_key": "matrix-1",
            "points": [{"name": "latency_ms", "value": 42.0, "timestamp": now}],
        },
        "api-deployment-analysis": {"step": "1"},
        "api-drift-check-list": {"reference": w.version.pk, "current": d.production.pk},
        "api-production-period-list": {
            "dataset_version": d.next_production.pk,
            **{key: moment.isoformat() for key, moment in NEXT_PERIOD.items()},
        },
        "api-label-batch-list": {
            "dataset_version": d.next_labels.pk,
            "id_column": "customer_id",
            "label_column": "defaulted",
        },
        "label-batch-create": {
            "dataset_version": d.next_labels.pk,
            "id_column": "customer_id",
            "label_column": "defaulted",
        },
        "api-monitoring-report-list": last_hour,
        "api-review-list": {"outcome": "actions", "notes": "Pool resized; watch the p95."},
        "review-create": {"outcome": "actions", "notes": "Pool resized; watch the p95."},
        "monitoring-report-create": last_hour,
        "api-alert-resolve": {"reason": "Fixed."},
        # A public address given as such: nothing to resolve.
        "api-alert-webhook-list": {"url": "https://1.1.1.1/stagegate"},
        "api-deployment-alertmanager": {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "CanaryHighLatency"},
                    "fingerprint": "3f1c2a9b7d0e4c11",
                }
            ],
        },
        "api-deployment-flagger": {
            "name": "scorer",
            "namespace": "credit",
            "phase": "Failed" if hook == "post-rollout" else "Progressing",
            "checksum": "5d8f7c",
        },
        "deployment-create": {
            "model_version": w.model.pk,
            "name": "scorer 1 staging",
            "environment": "staging",
        },
        "deployment-plan-create": {"content": json.dumps(slower), "note": "Two-minute windows."},
        "plan-signoff-create": {"role": signing_role(caller), "decision": "approve"},
        "plan-signoff-revoke": {"reason": "Signed too early."},
        "rollout-start": {"reason": "Go."},
        "rollout-promote": {"reason": "Healthy.", "step": "1"},
        "rollout-rollback": {"reason": "Errors went up."},
        "rollout-abort": {"reason": "Stopped for the night."},
        "deployment-token-create": {"name": "exporter", "days": "30"},
        "drift-check-create": {"reference": w.version.pk, "current": d.production.pk},
        "production-period-create": {
            "dataset_version": d.next_production.pk,
            **{key: f"{moment:%Y-%m-%d %H:%M}" for key, moment in NEXT_PERIOD.items()},
        },
        "alert-resolve": {"reason": "Fixed."},
        "alert-webhook-create": {"url": "https://1.1.1.1/stagegate"},
    }
    return bodies.get(name, {})
