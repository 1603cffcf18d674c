"""Reads for audits, always through the project the user sees."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from audits.analysis.audit_config import THRESHOLD_SPECS, placeholder_thresholds
from audits.analysis.audit_job import content_sha256
from audits.analysis.gates import FAILING_VERDICTS, AuditState, PackState, RegisterRow
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
from portal import access
from portal.exceptions import NotFound
from portal.once import once
from projects import selectors
from projects.models import ApiToken, Evaluation, Project


def baseline_run_get(user, pk: int, token: ApiToken | None = None) -> BaselineRun:
    run = (
        BaselineRun.objects.filter(
            pk=pk, dataset_version__dataset__project__in=selectors.project_list(user, token)
        )
        .select_related("dataset_version__dataset__project")
        .first()
    )
    if run is None:
        raise NotFound("No such baseline run.", unfiltered=BaselineRun.objects.filter(pk=pk))
    return run


@once
def trained_baseline_names(project: Project) -> list[str]:
    """The trained baselines on record: every baseline run that finished, oldest first."""
    runs = BaselineRun.objects.filter(
        dataset_version__dataset__project=project, status=BaselineRun.Status.SUCCEEDED
    ).select_related("dataset_version__dataset")
    return [f"trained on {run.dataset_version}" for run in runs.order_by("pk")]


def baseline_runs(project: Project) -> QuerySet[BaselineRun]:
    return (
        BaselineRun.objects.filter(dataset_version__dataset__project=project)
        .select_related("dataset_version__dataset", "requested_by")
        .order_by("-created_at")
    )


def risk_get(user, pk: int, token: ApiToken | None = None) -> RiskItem:
    risk = (
        RiskItem.objects.filter(pk=pk, project__in=selectors.project_list(user, token))
        .select_related("project__team")
        .first()
    )
    if risk is None:
        raise NotFound("No such risk.", unfiltered=RiskItem.objects.filter(pk=pk))
    return risk


@once
def risk_exceptions(project: Project) -> dict[int, PolicyException]:
    """The newest exception of each risk of ``project`` that has one, by risk id."""
    newest: dict[int, PolicyException] = {}
    rows = PolicyException.objects.filter(project=project, subject=PolicyException.Subject.RISK)
    for exception in rows.select_related("owner", "granted_by").order_by("created_at", "pk"):
        newest[exception.risk_id] = exception
    return newest


@once
def criterion_exceptions_newest(version) -> dict[str, PolicyException]:
    """The newest exception of each criterion of a criteria version, by criterion key."""
    newest: dict[str, PolicyException] = {}
    rows = PolicyException.objects.filter(
        criteria_version=version, subject=PolicyException.Subject.CRITERION
    )
    for exception in rows.select_related("owner", "granted_by").order_by("created_at", "pk"):
        newest[exception.criterion] = exception
    return newest


def criterion_exception_facts(version, today: date | None = None) -> dict[str, tuple[str, bool]]:
    """For the gate: each excepted criterion's last day, and whether it holds ``today``."""
    today = today or timezone.localdate()
    return {
        key: (e.expires_on.isoformat(), e.holds_on(today))
        for key, e in criterion_exceptions_newest(version).items()
    }


def risk_register_state(project: Project, today: date | None = None) -> list[RegisterRow]:
    """The register as the gate judges it, oldest risk first."""
    today = today or timezone.localdate()
    exceptions = risk_exceptions(project)
    rows = []
    for risk in project.risks.order_by("created_at", "pk"):
        exception = exceptions.get(risk.pk)
        rows.append(
            RegisterRow(
                title=risk.title,
                band=risk.severity_band,
                status=risk.status,
                owner=risk.owner,
                exception_until=exception.expires_on.isoformat() if exception else "",
                exception_holds=exception.holds_on(today) if exception else False,
            )
        )
    return rows


def risk_list(project: Project) -> list[RiskItem]:
    """The register, most severe first, then newest."""
    risks = project.risks.select_related("created_by")
    return sorted(risks, key=lambda r: (-r.severity, -r.created_at.timestamp()))


def audit_get(user, pk: int, token: ApiToken | None = None) -> AuditRun:
    audit = (
        AuditRun.objects.filter(pk=pk, config__project__in=selectors.project_list(user, token))
        .select_related(
            "config__project__team",
            "evaluation__model_version",
            "evaluation__dataset_version__dataset",
            "requested_by",
        )
        .first()
    )
    if audit is None:
        raise NotFound("No such audit.", unfiltered=AuditRun.objects.filter(pk=pk))
    return audit


def mitigation_latest(audit: AuditRun) -> Mitigation | None:
    """The audit's newest mitigation: the one in use, or the last failed try after it."""
    return audit.mitigations.select_related("requested_by").order_by("-created_at", "-pk").first()


def mitigation_get(user, audit_pk: int, token: ApiToken | None = None) -> Mitigation:
    """The newest mitigation of an audit the user sees; 404 for an audit they do not see
    and for one that has none yet."""
    audit = audit_get(user, audit_pk, token)
    mitigation = mitigation_latest(audit)
    if mitigation is None:
        raise NotFound(f"Audit {audit.pk} has no mitigation options yet; ask for them first.")
    mitigation.audit = audit  # already fetched with its project
    return mitigation


def audit_runs(project: Project) -> QuerySet[AuditRun]:
    return (
        AuditRun.objects.filter(config__project=project)
        .select_related("config", "evaluation__model_version", "requested_by")
        .prefetch_related("reviews__reviewer")
        .order_by("-created_at")
    )


def audit_reviews(audit: AuditRun) -> QuerySet[AuditReview]:
    return audit.reviews.select_related(
        "reviewer", "exception__owner", "exception__granted_by", "exception__project"
    ).order_by("-created_at", "-pk")


@once
def audit_config_current(project: Project) -> AuditConfig | None:
    return project.audit_configs.order_by("-version").first()


def audit_configs(project: Project) -> QuerySet[AuditConfig]:
    return project.audit_configs.select_related("created_by").order_by("-version")


#: An audit the gate still looks at: under the project's newest configuration, of the
#: candidate model's newest finished evaluation (on :func:`audits_awaiting_review`'s rows).
GATE_LOOKS_AT = (
    Q(config_id=F("newest_config"))
    & Q(evaluation__model_version_id=F("config__project__candidate_model"))
    & Q(evaluation_id=F("newest_evaluation"))
)


def audits_awaiting_review(audits: QuerySet[AuditRun]) -> QuerySet[AuditRun]:
    """The finished ones of ``audits`` waiting for a review: never reviewed, or asked for
    again since the newest review. Each carries its newest request's reviewer
    (``review_reviewer_id``, ``review_reviewer``: the username) and ``review_due_on``,
    ``last_review_at`` when it was reviewed before, and ``is_current`` when the gate still
    looks at it (:data:`GATE_LOOKS_AT`)."""
    reviews = AuditReview.objects.filter(audit=OuterRef("pk")).order_by("-created_at", "-pk")
    requests = ReviewRequest.objects.filter(audit=OuterRef("pk")).order_by("-created_at", "-pk")
    configs = AuditConfig.objects.filter(project=OuterRef("config__project")).order_by("-version")
    evaluations = Evaluation.objects.filter(
        model_version=OuterRef("evaluation__model_version"), status=Evaluation.Status.SUCCEEDED
    ).order_by("-created_at", "-pk")
    return (
        audits.filter(status=AuditRun.Status.SUCCEEDED)
        .annotate(
            last_review_at=Subquery(reviews.values("created_at")[:1]),
            last_request_at=Subquery(requests.values("created_at")[:1]),
            review_reviewer_id=Subquery(requests.values("reviewer")[:1]),
            review_reviewer=Subquery(requests.values("reviewer__username")[:1]),
            review_due_on=Subquery(requests.values("due_on")[:1]),
            newest_config=Subquery(configs.values("pk")[:1]),
            newest_evaluation=Subquery(evaluations.values("pk")[:1]),
        )
        .annotate(is_current=ExpressionWrapper(GATE_LOOKS_AT, output_field=BooleanField()))
        .filter(Q(last_review_at__isnull=True) | Q(last_request_at__gt=F("last_review_at")))
        .select_related("config__project", "evaluation__model_version", "requested_by")
    )


def audit_inbox(user, token: ApiToken | None = None) -> QuerySet[AuditRun]:
    """Audits waiting for a review (:func:`audits_awaiting_review`) that the user may
    review: in projects they audit and do not build, and none whose evidence they produced
    (they asked for the audit or the evaluation, or registered the model). The ones
    assigned to the user first, then by due date and age."""
    projects = access.projects_with_perm(user, access.AUDIT, token)
    builds = access.projects_with_perm(user, access.CHANGE, token)
    audits = (
        AuditRun.objects.filter(config__project__in=projects)
        .exclude(config__project__in=builds)
        .exclude(requested_by=user)
        .exclude(evaluation__requested_by=user)
        .exclude(evaluation__model_version__created_by=user)
    )
    return (
        audits_awaiting_review(audits)
        .annotate(
            mine=Case(
                When(review_reviewer_id=user.pk, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("mine", F("review_due_on").asc(nulls_last=True), "finished_at", "pk")
    )


def audits_waiting_for(user) -> list[AuditRun]:
    """The inbox's audits that are the user's to do: the gate still looks at them, and
    nobody else is assigned."""
    waiting = (
        audit_inbox(user)
        .filter(GATE_LOOKS_AT)
        .filter(Q(review_reviewer_id__isnull=True) | Q(review_reviewer_id=user.pk))
    )
    return list(waiting)


def review_request_current(audit: AuditRun) -> ReviewRequest | None:
    return (
        audit.review_requests.select_related("reviewer", "requested_by")
        .order_by("-created_at", "-pk")
        .first()
    )


def review_thread(audit: AuditRun) -> list[tuple[str, object]]:
    """The audit's review history in the order it happened: ("request", ReviewRequest),
    ("review", AuditReview) and ("comment", ReviewComment) entries."""
    entries: list[tuple[str, object]] = [
        *(("request", r) for r in audit.review_requests.select_related("reviewer", "requested_by")),
        *(("review", r) for r in audit_reviews(audit)),
        *(
            ("comment", c)
            for c in ReviewComment.objects.filter(audit=audit).select_related("author")
        ),
    ]
    return sorted(entries, key=lambda entry: (entry[1].created_at, entry[1].pk))


def audit_superseded(audit: AuditRun) -> str:
    """Why the gate no longer looks at ``audit`` ("" while it does): a newer configuration,
    a newer evaluation of the model, or another candidate model."""
    project = audit.config.project
    current = audit_config_current(project)
    if current is not None and current.pk != audit.config_id:
        return f"audit configuration v{current.version} replaced v{audit.config.version}"
    model = selectors.candidate_model(project)
    if model is None or model.pk != audit.evaluation.model_version_id:
        return f"{model} is the candidate now" if model else "no model is the candidate"
    newest = selectors.newest_evaluation(model)
    if newest is not None and newest.pk != audit.evaluation_id:
        return f"evaluation {newest.pk} is newer than evaluation {audit.evaluation_id}"
    return ""


def reviewed_by(user, limit: int = 50) -> QuerySet[AuditReview]:
    """The user's own reviews on projects they still see, newest first."""
    return (
        AuditReview.objects.filter(
            reviewer=user, audit__config__project__in=selectors.project_list(user)
        )
        .select_related("audit__config__project", "audit__evaluation__model_version")
        .order_by("-created_at", "-pk")[:limit]
    )


@once
def audit_gate_state(project: Project, today: date | None = None) -> AuditState:
    """Where the candidate's audit stands (:func:`_audit_state`), and which thresholds of the
    current configuration still carry the portal's default rationale."""
    config = audit_config_current(project)
    state = _audit_state(project, config, today)
    placeholders = placeholder_thresholds(config.as_dict()) if config is not None else []
    if not placeholders:
        return state
    labels = tuple(THRESHOLD_SPECS[name].label for name in placeholders)
    return replace(state, config_version=config.version, placeholders=labels)


def _audit_state(project: Project, config, today: date | None = None) -> AuditState:
    """Where the candidate model's fairness audit stands, for the deployment gate.

    The candidate is the model version the team marked; its newest finished evaluation
    must be audited under the current configuration, and the latest review of that audit
    must approve the very result stored (its hash recomputed).
    """
    model = selectors.candidate_model(project)
    if model is None:
        return AuditState()
    candidate = str(model)
    evaluation = selectors.newest_evaluation(model)
    if evaluation is None:
        return AuditState(candidate, "not_evaluated", model_id=model.pk)
    audit = (
        AuditRun.objects.filter(evaluation=evaluation, config=config)
        .order_by("-created_at")
        .first()
        if config is not None
        else None
    )
    if audit is None:
        version = f"v{config.version}" if config else "the default configuration"
        return AuditState(
            candidate,
            "not_run",
            detail=f"evaluation {evaluation.pk}, {version}",
            model_id=model.pk,
            evaluation_id=evaluation.pk,
        )
    if audit.status != AuditRun.Status.SUCCEEDED:
        return AuditState(candidate, audit.status, audit.pk)
    if content_sha256(audit.result) != audit.result_sha256:
        return AuditState(candidate, "tampered", audit.pk)
    review = (
        audit.reviews.select_related("reviewer", "exception__owner")
        .order_by("-created_at", "-pk")
        .first()
    )
    if review is None or review.result_sha256 != audit.result_sha256:
        return AuditState(candidate, "waiting", audit.pk, verdict=audit.verdict)
    state = AuditState(
        candidate,
        review.decision,
        audit.pk,
        verdict=audit.verdict,
        reviewer=review.reviewer.username,
        detail=review.rationale,
    )
    if review.decision != AuditReview.Decision.APPROVE or audit.verdict not in FAILING_VERDICTS:
        return state
    exception = review_exception(review)
    if exception is None:
        return replace(state, status="no_exception")
    holds = exception.holds_on(today or timezone.localdate())
    return replace(
        state,
        status="exception" if holds else "exception_expired",
        exception_until=exception.expires_on.isoformat(),
        exception_owner=exception.owner.username,
    )


def review_exception(review: AuditReview) -> PolicyException | None:
    """The exception that qualifies ``review``, if it has one."""
    try:
        return review.exception
    except PolicyException.DoesNotExist:
        return None


@once
def candidate_audit(project: Project) -> AuditRun | None:
    """The finished audit the deployment gate looks at, if there is one."""
    state = audit_gate_state(project)
    if state.audit_id is None:
        return None
    return AuditRun.objects.filter(pk=state.audit_id, status=AuditRun.Status.SUCCEEDED).first()


WORST_FIRST = ("fail", "insufficient_evidence", "pass")


def audit_check_statuses(audit: AuditRun | None) -> dict[str, str]:
    """Each threshold's worst verdict over the features of ``audit``."""
    found: dict[str, str] = {}
    for verdict in audit.result.get("verdicts", []) if audit else []:
        name, status = verdict["threshold"], verdict["status"]
        if name not in found or WORST_FIRST.index(status) < WORST_FIRST.index(found[name]):
            found[name] = status
    return found


def risks_watched(project: Project) -> dict[str, list[RiskItem]]:
    """Audit threshold -> the risks it watches."""
    watched: dict[str, list[RiskItem]] = {}
    for risk in project.risks.exclude(audit_checks=[]).order_by("title"):
        for name in risk.audit_checks:
            watched.setdefault(name, []).append(risk)
    return watched


# --- Approval packs ----------------------------------------------------------------------
def pack_newest(project: Project) -> ApprovalPack | None:
    return project.approval_packs.order_by("-created_at", "-pk").first()


def pack_gate_state(project: Project) -> PackState:
    """The newest pack, and whether it was taken from the project exactly as it is now."""
    from audits.snapshot import pack_state, state_sha256

    newest = pack_newest(project)
    if newest is None:
        return PackState()
    digest = state_sha256(pack_state(project))
    # Any pack of exactly this state counts, however old: a project can come back to a
    # state it had (and asking for a pack of it reuses that one).
    match = (
        project.approval_packs.filter(state_sha256=digest)
        .exclude(status=ApprovalPack.Status.FAILED)
        .order_by("-created_at", "-pk")
        .first()
    )
    if match is not None:
        succeeded = match.status == ApprovalPack.Status.SUCCEEDED
        return PackState("current" if succeeded else match.status, match.pk)
    if newest.status == ApprovalPack.Status.FAILED and newest.state_sha256 == digest:
        return PackState("failed", newest.pk)
    return PackState("stale", newest.pk)


def packs_of(project: Project) -> QuerySet[ApprovalPack]:
    return project.approval_packs.select_related("requested_by").order_by("-created_at", "-pk")


def pack_get(user, pk: int, token: ApiToken | None = None) -> ApprovalPack:
    pack = (
        ApprovalPack.objects.filter(pk=pk, project__in=access.projects_visible(user, token))
        .select_related("project__team", "requested_by")
        .first()
    )
    if pack is None:
        raise NotFound("No such approval pack.", unfiltered=ApprovalPack.objects.filter(pk=pk))
    return pack


def monitoring_report_get(user, pk: int, token: ApiToken | None = None) -> MonitoringReport:
    report = (
        MonitoringReport.objects.filter(
            pk=pk, deployment__project__in=access.projects_visible(user, token)
        )
        .select_related("deployment__project__team", "requested_by")
        .first()
    )
    if report is None:
        raise NotFound(
            "No such monitoring report.", unfiltered=MonitoringReport.objects.filter(pk=pk)
        )
    return report


def monitoring_reports_of(deployment) -> QuerySet[MonitoringReport]:
    return deployment.monitoring_reports.select_related("requested_by")


def project_exceptions(project: Project) -> QuerySet[PolicyException]:
    """Every exception granted on ``project``, the soonest to expire first."""
    return PolicyException.objects.filter(project=project).select_related(
        "project", "owner", "granted_by", "review__audit", "risk"
    )


def exceptions_visible(user, token: ApiToken | None = None) -> QuerySet[PolicyException]:
    """Every exception on a project the caller sees, the soonest to expire first."""
    return PolicyException.objects.filter(
        project__in=selectors.project_list(user, token)
    ).select_related("project__team", "owner", "granted_by", "review__audit", "risk")


def exception_get(user, pk: int, token: ApiToken | None = None) -> PolicyException:
    found = exceptions_visible(user, token).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such exception.", unfiltered=PolicyException.objects.filter(pk=pk))
    return found
