"""Reads. Everything a user is shown starts from portal.access."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from portal import access
from portal.exceptions import NotFound
from projects.analysis.chain import (
    ChainBreak,
    ChainReport,
    Link,
    chain_genesis,
    verify_chain,
    verify_checkpoint,
)
from projects.analysis.criteria import (
    ML,
    Measurement,
    assess,
    content_sha256,
    diff,
    metric_spec,
)
from projects.analysis.gates import (
    CriteriaState,
    GateResult,
    ProjectState,
    evaluate_gate,
)
from projects.analysis.metrics import HIGHER_IS_BETTER, METRIC_LABELS
from projects.analysis.signoffs import (
    ROLE_LABELS,
    Signature,
    Summary,
    evidence_changes,
    summarise,
)
from projects.models import (
    ApiToken,
    Baseline,
    BusinessMeasurement,
    CriteriaVersion,
    Dataset,
    DatasetLineage,
    DatasetVersion,
    Evaluation,
    Event,
    EventExport,
    EventHead,
    Membership,
    Metric,
    ModelVersion,
    Project,
    ProjectShare,
    Role,
    SignOff,
    Team,
)
from projects.services.events import event_body


def project_list(user, token: ApiToken | None = None) -> QuerySet[Project]:
    return access.projects_visible(user, token).select_related("team").order_by("name")


def people_in_role(project: Project, role: str) -> list[str]:
    """Usernames holding ``role`` on the project, through its team or a share."""
    shared_teams = ProjectShare.objects.filter(project=project, role=role, team__isnull=False)
    # A shared team's members take the shared role, whatever their role at home.
    names = set(
        Membership.objects.filter(
            team_id=project.team_id, role=role, user__is_active=True
        ).values_list("user__username", flat=True)
    )
    names |= set(
        Membership.objects.filter(
            team__in=shared_teams.values("team"), user__is_active=True
        ).values_list("user__username", flat=True)
    )
    names |= set(
        ProjectShare.objects.filter(project=project, role=role, user__is_active=True).values_list(
            "user__username", flat=True
        )
    )
    return sorted(names)


def baseline_names(project: Project) -> list[str]:
    """Every baseline on record: the ones entered and the trained ones that finished."""
    from audits.models import BaselineRun

    names = [f"{b.name} ({b.get_kind_display().lower()})" for b in project.baselines.all()]
    runs = BaselineRun.objects.filter(
        dataset_version__dataset__project=project, status=BaselineRun.Status.SUCCEEDED
    ).select_related("dataset_version__dataset")
    names += [f"trained on {run.dataset_version}" for run in runs.order_by("pk")]
    return names


#: Data whose labels the model learns or is judged on.
LABELLED_PURPOSES = (
    Dataset.Purpose.TRAINING,
    Dataset.Purpose.VALIDATION,
    Dataset.Purpose.TEST,
)


def labelled_datasets(project: Project) -> list[tuple[str, str]]:
    """(name, labeling strategy) of each dataset holding data the model learns or is judged
    on; a dataset still being collected has no labels to account for yet."""
    rows = (
        project.datasets.filter(purpose__in=LABELLED_PURPOSES, versions__isnull=False)
        .distinct()
        .order_by("name")
    )
    return [
        (
            d.name,
            ""
            if d.labeling_strategy == Dataset.Labeling.NOT_LABELLED
            else d.get_labeling_strategy_display(),
        )
        for d in rows
    ]


def criteria_state(project: Project) -> CriteriaState:
    version = criteria_current(project)
    if version is None:
        return CriteriaState()
    summary = signoff_summary(version)
    ml = tuple(
        (
            f"{row['label']} {row['outcome'].target_text}",
            row["outcome"].status,
            row["outcome"].detail or row["outcome"].status.replace("_", " "),
        )
        for row in criteria_assessment(version)
        if row["criterion"]["category"] == ML
    )
    return CriteriaState(version.version, summary.passed, summary.detail, ml)


def project_state(project: Project, *, with_pack: bool = True) -> ProjectState:
    """Everything the gates judge. ``with_pack=False`` leaves out the approval pack: the
    checklist a pack shows, and the state a pack is matched against."""
    from audits.selectors import audit_gate_state, pack_gate_state  # audits builds on projects

    threshold = settings.RISK_GATE_SEVERITY
    severe = [
        risk.title
        for risk in project.risks.filter(status="open").order_by("created_at")
        if risk.severity >= threshold
    ]
    return ProjectState(
        stage=project.stage,
        description=project.description,
        business_owners=tuple(people_in_role(project, Role.BUSINESS_OWNER)),
        ml_engineers=tuple(people_in_role(project, Role.ML_ENGINEER)),
        severe_open_risks=tuple(severe),
        risk_threshold=threshold,
        audit=audit_gate_state(project),
        criteria=criteria_state(project),
        baselines=tuple(baseline_names(project)),
        labelled_datasets=tuple(labelled_datasets(project)),
        pack=pack_gate_state(project) if with_pack else None,
    )


def project_gate(
    project: Project, target: str | None = None, reason: str = "", *, with_pack: bool = True
) -> GateResult:
    return evaluate_gate(project_state(project, with_pack=with_pack), target, reason)


def project_events(project: Project) -> QuerySet[Event]:
    return Event.objects.filter(project=project).select_related("actor").order_by("-id")


def team_list(user, token: ApiToken | None = None) -> QuerySet[Team]:
    return access.teams_visible(user, token).order_by("name")


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def membership_get(user, pk: int, token: ApiToken | None = None) -> Membership:
    """A membership of a team the user sees (404 otherwise); the caller checks the right."""
    membership = (
        Membership.objects.filter(pk=pk, team__in=team_list(user, token))
        .select_related("team", "user")
        .first()
    )
    if membership is None:
        raise NotFound("No such membership.", unfiltered=Membership.objects.filter(pk=pk))
    return membership


def token_list(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at")


def token_get(user, pk: int) -> ApiToken:
    """One of the user's own tokens (404 otherwise)."""
    found = token_list(user).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such token.", unfiltered=ApiToken.objects.filter(pk=pk))
    return found


def _chain_verify(key: str, head: EventHead | None) -> ChainReport:
    events = Event.objects.filter(chain=key).order_by("seq").iterator(chunk_size=2000)
    links = (Link(e.seq, e.prev_hash, e.hash, event_body(e)) for e in events)
    report = verify_chain(links, chain_genesis(key))
    if not report.ok:
        return report
    if head is None and report.checked:
        lost = ChainBreak(report.head_seq, "the chain's recorded head is missing")
        return ChainReport(report.checked, report.head_seq, report.head_hash, lost)
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        missing = ChainBreak(report.head_seq + 1, "the chain ends before its recorded head")
        return ChainReport(report.checked, report.head_seq, report.head_hash, missing)
    return report


def events_verify(chains: list[str] | None = None) -> dict[str, ChainReport]:
    """Check each chain (all of them by default) and that its tip matches its head."""
    heads = {h.key: h for h in EventHead.objects.all()}
    if chains is None:
        recorded = Event.objects.values_list("chain", flat=True).distinct()
        chains = sorted(set(heads) | set(recorded))
    return {key: _chain_verify(key, heads.get(key)) for key in chains}


def checkpoint_verify(checkpoint: dict) -> str | None:
    """None when every head in ``checkpoint`` is still in the trail, else what is not."""

    def hash_at(chain: str, seq: int) -> str | None:
        found = Event.objects.filter(chain=chain, seq=seq).values_list("hash", flat=True)
        return found.first()

    return verify_checkpoint(checkpoint, hash_at)


def active_user(username: str):
    """The active person with this username, or None."""
    return get_user_model().objects.filter(username=username, is_active=True).first()


def team_by_slug(slug: str) -> Team | None:
    """Any team, by slug: sharing names a team the sharer need not belong to."""
    return Team.objects.filter(slug=slug).first()


def share_get(user, pk: int, token: ApiToken | None = None) -> ProjectShare:
    """A share of a project the user sees (404 otherwise); the caller checks SHARE."""
    share = (
        ProjectShare.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project", "team", "user")
        .first()
    )
    if share is None:
        raise NotFound("No such share.", unfiltered=ProjectShare.objects.filter(pk=pk))
    return share


def export_get(user, pk: int, token: ApiToken | None = None) -> EventExport:
    """An audit-trail export of a project the user sees (404 otherwise)."""
    export = (
        EventExport.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project")
        .first()
    )
    if export is None:
        raise NotFound("No such export.", unfiltered=EventExport.objects.filter(pk=pk))
    return export


# --- Datasets, models, evaluations ----------------------------------------------------
def _visible(queryset: QuerySet, path: str, user, pk: int, token, what: str):
    """One object of ``queryset`` whose project (at ``path``) the user sees; 404 otherwise."""
    found = queryset.filter(pk=pk, **{f"{path}__in": project_list(user, token)}).first()
    if found is None:
        raise NotFound(f"No such {what}.", unfiltered=queryset.filter(pk=pk))
    return found


def dataset_get(user, pk: int, token: ApiToken | None = None) -> Dataset:
    return _visible(
        Dataset.objects.select_related("project__team"), "project", user, pk, token, "dataset"
    )


def version_get(user, pk: int, token: ApiToken | None = None) -> DatasetVersion:
    return _visible(
        DatasetVersion.objects.select_related("dataset__project__team", "uploaded_by"),
        "dataset__project",
        user,
        pk,
        token,
        "dataset version",
    )


def model_get(user, pk: int, token: ApiToken | None = None) -> ModelVersion:
    return _visible(
        ModelVersion.objects.select_related("project__team"), "project", user, pk, token, "model"
    )


def evaluation_get(user, pk: int, token: ApiToken | None = None) -> Evaluation:
    return _visible(
        Evaluation.objects.select_related(
            "model_version__project__team", "dataset_version__dataset"
        ),
        "model_version__project",
        user,
        pk,
        token,
        "evaluation",
    )


def version_choices(project: Project) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(dataset__project=project)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def ready_versions(project: Project) -> QuerySet[DatasetVersion]:
    """Versions that are profiled: parents for new ones, data for evaluations."""
    return version_choices(project).filter(status=DatasetVersion.Status.SUCCEEDED)


def lineage_graph(version: DatasetVersion) -> dict:
    """The version's ancestors and descendants: ``{"nodes": [...], "edges": [[parent, child]]}``."""
    edges: set[tuple[int, int]] = set()
    seen = {version.pk}
    for direction in ("up", "down"):
        frontier = {version.pk}
        while frontier:
            if direction == "up":
                found = DatasetLineage.objects.filter(child__in=frontier)
            else:
                found = DatasetLineage.objects.filter(parent__in=frontier)
            pairs = set(found.values_list("parent_id", "child_id"))
            edges |= pairs
            ends = {p if direction == "up" else c for p, c in pairs}
            frontier = ends - seen
            seen |= ends
    versions = DatasetVersion.objects.filter(pk__in=seen).select_related("dataset")
    nodes = [
        {
            "id": v.pk,
            "dataset": v.dataset.name,
            "dataset_id": v.dataset_id,
            "number": v.number,
            "sha256": v.sha256,
            "status": v.status,
            "transformation": v.transformation,
            "code_reference": v.code_reference,
            "command": v.command,
            "current": v.pk == version.pk,
        }
        for v in sorted(versions, key=lambda v: (v.created_at, v.pk))
    ]
    return {"nodes": nodes, "edges": sorted([p, c] for p, c in edges)}


#: Profile entries that show a column's values: extremes, quantiles, frequent values.
VALUE_FIELDS = ("min", "max", "mean", "std", "quantiles", "histogram", "top")


def profile_without_personal_values(profile: dict, personal: list[str]) -> dict:
    """The profile with no values of personal-data columns; their counts stay."""
    columns = [
        {**c, **dict.fromkeys(VALUE_FIELDS)} if c["name"] in personal else c
        for c in profile.get("columns", [])
    ]
    groups = {
        name: _numbered(values, "group") if name in personal else values
        for name, values in (profile.get("groups") or {}).items()
    }
    label = profile.get("label")
    if label and label.get("column") in personal and label.get("classes"):
        label = {**label, "classes": _numbered(label["classes"], "class")}
    return {**profile, "columns": columns, "groups": groups, "label": label}


def _numbered(entries: list[dict], word: str) -> list[dict]:
    """Entries with their values replaced by "group 1", "group 2", ..."""
    return [{**e, "value": f"{word} {i}"} for i, e in enumerate(entries, start=1)]


def version_profile(version: DatasetVersion) -> dict:
    """The version's profile as people may see it: no values of personal-data columns,
    also of columns declared personal after it was computed."""
    return profile_without_personal_values(
        version.profile or {}, version.dataset.personal_data_columns
    )


def baselines_recorded(project: Project) -> QuerySet[Baseline]:
    return project.baselines.select_related("recorded_by").order_by("metric", "-created_at", "pk")


def _trained_entries(project: Project, version: DatasetVersion | None) -> list[dict]:
    from audits.models import BaselineRun

    runs = BaselineRun.objects.filter(
        dataset_version__dataset__project=project, status=BaselineRun.Status.SUCCEEDED
    ).select_related("dataset_version__dataset")
    if version is not None:
        runs = runs.filter(dataset_version=version)
    entries = []
    for run in runs:
        for model in run.result.get("models", []):
            for metric, summary in model["metrics"].items():
                if summary.get("mean") is not None:
                    entries.append(
                        {
                            "label": f"{model['label']} · {run.dataset_version}",
                            "kind": "trained",
                            "metric": metric,
                            "value": summary["mean"],
                            "std": summary.get("std"),
                        }
                    )
    return entries


def comparison(
    project: Project, evaluations: list[Evaluation], version: DatasetVersion | None = None
) -> list[dict]:
    """Per metric: the evaluations' values beside every recorded baseline and the
    trained ones (only those on ``version`` when given: scores on other data are not
    comparable).

    Only metrics that at least one baseline or evaluation reports appear, in the
    metric set's order."""
    entries = [
        {
            "label": f"{b.name} ({b.get_kind_display()})",
            "kind": "baseline",
            "metric": b.metric,
            "value": b.value,
            "std": None,
        }
        for b in project.baselines.all()
    ]
    entries += _trained_entries(project, version)
    for evaluation in evaluations:
        for metric, value in (evaluation.metrics or {}).items():
            if value is not None:
                entries.append(
                    {
                        "label": str(evaluation.model_version),
                        "kind": "model",
                        "metric": metric,
                        "value": value,
                        "std": None,
                    }
                )
    rows = []
    for metric, label in Metric.choices:
        found = [
            {k: v for k, v in e.items() if k != "metric"} for e in entries if e["metric"] == metric
        ]
        if found:
            rows.append(
                {
                    "metric": metric,
                    "label": label,
                    "higher_is_better": HIGHER_IS_BETTER[metric],
                    "entries": found,
                }
            )
    return rows


def evaluation_comparison(evaluation: Evaluation) -> list[dict]:
    if evaluation.status != Evaluation.Status.SUCCEEDED:
        return []
    rows = comparison(evaluation.model_version.project, [evaluation], evaluation.dataset_version)
    # Only the metrics this model reports are compared.
    return [row for row in rows if any(e["kind"] == "model" for e in row["entries"])]


def latest_evaluations(project: Project) -> list[Evaluation]:
    """The newest finished evaluation of each model version."""
    latest: dict[int, Evaluation] = {}
    finished = Evaluation.objects.filter(
        model_version__project=project, status=Evaluation.Status.SUCCEEDED
    ).select_related("model_version", "dataset_version__dataset")
    for evaluation in finished.order_by("created_at"):
        latest[evaluation.model_version_id] = evaluation
    return list(latest.values())


# --- Success criteria ---------------------------------------------------------------
def candidate_model(project: Project) -> ModelVersion | None:
    """The model the gate and the criteria judge: the one the team marked as candidate
    (read from the database, so a project object loaded earlier cannot give an old one)."""
    marked = Project.objects.filter(pk=project.pk).values("candidate_model")
    return ModelVersion.objects.filter(pk__in=marked).first()


def newest_evaluation(model: ModelVersion | None) -> Evaluation | None:
    if model is None:
        return None
    finished = model.evaluations.filter(status=Evaluation.Status.SUCCEEDED)
    return finished.order_by("-created_at", "-pk").first()


def criteria_current(project: Project) -> CriteriaVersion | None:
    return project.criteria_versions.order_by("-version").first()


def criteria_versions(project: Project) -> QuerySet[CriteriaVersion]:
    return project.criteria_versions.select_related("created_by").order_by("-version")


def _best_baselines(project: Project) -> dict[str, tuple[float, str]]:
    """Per metric, the best baseline on record or trained: (value, its name)."""
    entries = [
        {"metric": b.metric, "value": b.value, "label": b.name} for b in baselines_recorded(project)
    ] + _trained_entries(project, None)
    best: dict[str, tuple[float, str]] = {}
    for entry in entries:
        metric, value = entry["metric"], entry["value"]
        higher = HIGHER_IS_BETTER.get(metric, True)
        if (
            metric not in best
            or (higher and value > best[metric][0])
            or (not higher and value < best[metric][0])
        ):
            best[metric] = (value, entry["label"])
    return best


def business_latest(project: Project) -> dict[str, BusinessMeasurement]:
    """The newest business measurement of each metric."""
    latest: dict[str, BusinessMeasurement] = {}
    for entry in project.business_measurements.select_related("entered_by").order_by(
        "created_at", "pk"
    ):
        latest[entry.metric] = entry
    return latest


def business_measurements(project: Project) -> QuerySet[BusinessMeasurement]:
    return project.business_measurements.select_related("entered_by").order_by("-created_at", "-pk")


def _measure(criterion: dict, evaluation, audit, business=None) -> tuple[Measurement, str]:
    """The value a criterion is judged on, and the URL of its evidence."""
    metric, source = criterion["metric"], criterion["source"]
    if source in ("evaluation", "baseline"):
        if evaluation is None:
            return Measurement(None, reason="the candidate model has no finished evaluation"), ""
        value = (evaluation.metrics or {}).get(metric)
        why = "" if value is not None else f"the evaluation does not report {metric}"
        url = evaluation.get_absolute_url()
        return Measurement(value, evidence=f"evaluation {evaluation.pk}", reason=why), url
    if source == "audit":
        if audit is None:
            return Measurement(None, reason="the candidate model has no finished audit"), ""
        gaps = [
            f["summary"][metric]["value"]
            for f in audit.result.get("features", [])
            if f.get("summary", {}).get(metric, {}).get("value") is not None
        ]
        # The largest gap over every sensitive feature and intersection is the one judged.
        value = max(gaps) if gaps else None
        why = "" if gaps else f"the audit reports no {metric}"
        return Measurement(
            value, evidence=f"audit {audit.pk}", reason=why
        ), audit.get_absolute_url()
    if source == "business":
        entry = (business or {}).get(metric)
        if entry is None:
            return Measurement(None, reason="no business measurement recorded yet"), ""
        who = f"entered by {entry.entered_by.username}" + (
            f" for {entry.period}" if entry.period else ""
        )
        return Measurement(entry.value, evidence=who), entry.get_absolute_url()
    return Measurement(None), ""


def criteria_assessment(version: CriteriaVersion) -> list[dict]:
    """Each criterion of ``version`` with its measured value, met / not met / not yet
    measured, and a link to the evidence, for the candidate model."""
    from audits.selectors import candidate_audit  # audits builds on projects

    project = version.project
    evaluation = newest_evaluation(candidate_model(project))
    audit = candidate_audit(project)
    best = _best_baselines(project)
    business = business_latest(project)
    rows = []
    for criterion in version.criteria:
        measurement, url = _measure(criterion, evaluation, audit, business)
        baseline = best.get(criterion["metric"])
        outcome = assess(criterion, measurement, baseline[0] if baseline else None)
        rows.append(
            {
                "criterion": criterion,
                "label": METRIC_LABELS.get(criterion["metric"])
                or metric_spec(criterion["metric"], criterion["category"]).label,
                "outcome": outcome,
                "evidence": measurement.evidence,
                "evidence_url": url,
                "baseline": baseline[1] if baseline and criterion["source"] == "baseline" else "",
            }
        )
    return rows


def criteria_version_get(user, pk: int, token: ApiToken | None = None) -> CriteriaVersion:
    return _visible(
        CriteriaVersion.objects.select_related("project__team", "created_by"),
        "project",
        user,
        pk,
        token,
        "criteria version",
    )


def criteria_changes(version: CriteriaVersion) -> list:
    """What changed from the version before (empty for the first)."""
    previous = (
        version.project.criteria_versions.filter(version__lt=version.version)
        .order_by("-version")
        .first()
    )
    return diff(previous.criteria, version.criteria) if previous is not None else []


# --- Sign-offs --------------------------------------------------------------------------
def signoff_evidence(project: Project) -> dict:
    """What a sign-off is given: the candidate model, its newest evaluation, its audit and
    the dataset versions behind them, each with its hash."""
    from audits.selectors import candidate_audit  # audits builds on projects

    model = candidate_model(project)
    evaluation = newest_evaluation(model)
    audit = candidate_audit(project)
    versions = []
    if evaluation is not None:
        dataset_version = evaluation.dataset_version
        versions = [dataset_version, *dataset_version.parents.select_related("dataset")]
    return {
        "model": {"id": model.pk, "name": str(model)} if model else None,
        "evaluation": {
            "id": evaluation.pk,
            "name": f"evaluation {evaluation.pk}",
            "sha256": evaluation.sha256,
        }
        if evaluation
        else None,
        "audit": {
            "id": audit.pk,
            "name": f"audit {audit.pk}",
            "result_sha256": audit.result_sha256,
        }
        if audit
        else None,
        "datasets": [{"id": v.pk, "name": str(v), "sha256": v.sha256} for v in versions],
    }


def evidence_sha256(evidence: dict) -> str:
    """The hash a sign-off binds to: ids and content hashes, not display names (renaming a
    dataset changes no evidence)."""

    def bare(item):
        if isinstance(item, dict):
            return {k: bare(v) for k, v in item.items() if k != "name"}
        if isinstance(item, list):
            return [bare(v) for v in item]
        return item

    return content_sha256([bare(evidence)])


def _change_text(change) -> str:
    fields = ", ".join(sorted(change.fields)) if change.kind == "changed" else ""
    return f"{change.metric} {change.kind}" + (f" ({fields})" if fields else "")


def signoff_staleness(
    signoff: SignOff, current: CriteriaVersion | None, evidence_now: dict
) -> list[str]:
    """Why ``signoff`` no longer counts: the criteria moved on, or its evidence changed."""
    reasons = []
    version = signoff.criteria_version
    if current is None or current.pk != version.pk:
        changes = diff(version.criteria, current.criteria) if current else []
        what = "; ".join(_change_text(c) for c in changes)
        reasons.append(
            f"criteria changed: v{version.version} → v{current.version}"
            + (f" ({what})" if what else "")
            if current
            else "criteria withdrawn"
        )
    elif signoff.content_sha256 != version.content_sha256:
        reasons.append("the criteria content no longer matches the signed hash")
    if signoff.evidence_sha256 != evidence_sha256(evidence_now):
        reasons += evidence_changes(signoff.evidence, evidence_now) or ["evidence changed"]
    signer = signoff.signed_by
    if not access.has_project_perm(signer, version.project, access.SIGN_AS[signoff.role]):
        reasons.append(f"{signer.username} no longer holds the {ROLE_LABELS[signoff.role]} role")
    return reasons


def signoff_rows(
    version: CriteriaVersion,
    current: CriteriaVersion | None = None,
    evidence_now: dict | None = None,
) -> list[dict]:
    """Every sign-off of ``version`` (revoked ones too), newest first, with why it is stale.
    ``current`` and ``evidence_now`` may be passed in when listing several versions."""
    project = version.project
    current = current or criteria_current(project)
    evidence_now = evidence_now if evidence_now is not None else signoff_evidence(project)
    rows = []
    for signoff in version.signoffs.select_related("signed_by", "revoked_by"):
        stale = [] if signoff.revoked_at else signoff_staleness(signoff, current, evidence_now)
        rows.append({"signoff": signoff, "stale": stale})
    return rows


def _summary(rows: list[dict]) -> Summary:
    return summarise(
        Signature(
            user=row["signoff"].signed_by.username,
            role=row["signoff"].role,
            decision=row["signoff"].decision,
            stale=tuple(row["stale"]),
            comment=row["signoff"].comment,
        )
        for row in rows
        if row["signoff"].revoked_at is None
    )


def signoff_summary(version: CriteriaVersion) -> Summary:
    """Whether ``version`` is agreed now (fresh approvals from both roles)."""
    return _summary(signoff_rows(version))


def signoff_roles(user, project: Project) -> list[str]:
    """The signing roles ``user`` holds on ``project``."""
    return [
        role
        for role, perm in access.SIGN_AS.items()
        if access.has_project_perm(user, project, perm)
    ]


def signoff_inbox(user, token: ApiToken | None = None) -> list[dict]:
    """Current criteria versions waiting for ``user``'s sign-off, across their projects: they
    hold a signing role and have no fresh sign-off on it."""
    projects = access.projects_visible(user, token).exclude(stage=Project.Stage.RETIRED)
    waiting = []
    for project in projects.select_related("team").order_by("name"):
        roles = signoff_roles(user, project)
        version = criteria_current(project) if roles else None
        if version is None:
            continue
        rows = signoff_rows(version)
        mine = [
            row
            for row in rows
            if row["signoff"].signed_by_id == user.pk and row["signoff"].revoked_at is None
        ]
        if any(not row["stale"] for row in mine):
            continue
        missing = _summary(rows).missing
        # Wanted: a role of theirs still lacks an approval, or their own signature went stale.
        if mine or any(role in missing for role in roles):
            waiting.append(
                {"project": project, "version": version, "roles": roles, "stale": bool(mine)}
            )
    return waiting


def signoff_get(user, pk: int, token: ApiToken | None = None) -> SignOff:
    return _visible(
        SignOff.objects.select_related("criteria_version__project__team", "signed_by"),
        "criteria_version__project",
        user,
        pk,
        token,
        "sign-off",
    )


def measurement_get(user, pk: int, token: ApiToken | None = None) -> BusinessMeasurement:
    return _visible(
        BusinessMeasurement.objects.select_related("project"),
        "project",
        user,
        pk,
        token,
        "measurement",
    )
