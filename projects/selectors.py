"""Reads. Everything a user is shown starts from portal.access."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from portal import access
from portal.exceptions import NotFound
from projects.analysis.chain import ChainBreak, ChainReport, Link, verify_chain
from projects.analysis.criteria import Measurement, assess, diff
from projects.analysis.gates import GateResult, ProjectState, evaluate_gate
from projects.analysis.metrics import HIGHER_IS_BETTER
from projects.models import (
    ApiToken,
    Baseline,
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


def project_state(project: Project) -> ProjectState:
    from audits.selectors import audit_gate_state  # audits builds on projects

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
    )


def project_gate(project: Project, target: str | None = None, reason: str = "") -> GateResult:
    return evaluate_gate(project_state(project), target, reason)


def project_events(project: Project) -> QuerySet[Event]:
    return Event.objects.filter(project=project).select_related("actor").order_by("-seq")


def team_list(user, token: ApiToken | None = None) -> QuerySet[Team]:
    return access.teams_visible(user, token).order_by("name")


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def token_list(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at")


def events_verify() -> ChainReport:
    """Check the whole chain, and that its tip matches the recorded head."""
    links = (
        Link(seq=e.seq, prev_hash=e.prev_hash, hash=e.hash, body=event_body(e))
        for e in Event.objects.order_by("seq").iterator(chunk_size=2000)
    )
    report = verify_chain(links)
    head = EventHead.objects.filter(pk=1).first()
    if not report.ok:
        return report
    if head is None and report.checked:
        lost = ChainBreak(report.head_seq, "the chain's recorded head is missing")
        return ChainReport(report.checked, report.head_seq, report.head_hash, lost)
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        missing = ChainBreak(report.head_seq + 1, "the chain ends before its recorded head")
        return ChainReport(report.checked, report.head_seq, report.head_hash, missing)
    return report


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
        raise NotFound("No such share.")
    return share


def export_get(user, pk: int, token: ApiToken | None = None) -> EventExport:
    """An audit-trail export of a project the user sees (404 otherwise)."""
    export = (
        EventExport.objects.filter(pk=pk, project__in=project_list(user, token))
        .select_related("project")
        .first()
    )
    if export is None:
        raise NotFound("No such export.")
    return export


# --- Datasets, models, evaluations ----------------------------------------------------
def _visible(queryset: QuerySet, path: str, user, pk: int, token, what: str):
    """One object of ``queryset`` whose project (at ``path``) the user sees; 404 otherwise."""
    found = queryset.filter(pk=pk, **{f"{path}__in": project_list(user, token)}).first()
    if found is None:
        raise NotFound(f"No such {what}.")
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
    return project.baselines.select_related("recorded_by").order_by("metric", "-created_at")


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
    """The model the gate and the criteria judge: the one the team marked as candidate."""
    return project.candidate_model


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


def _measure(criterion: dict, evaluation, audit) -> tuple[Measurement, str]:
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
        return Measurement(None, reason="no business measurement recorded yet"), ""
    return Measurement(None), ""


def criteria_assessment(version: CriteriaVersion) -> list[dict]:
    """Each criterion of ``version`` with its measured value, met / not met / not yet
    measured, and a link to the evidence, for the candidate model."""
    from audits.selectors import candidate_audit  # audits builds on projects

    project = version.project
    evaluation = newest_evaluation(candidate_model(project))
    audit = candidate_audit(project)
    best = _best_baselines(project)
    rows = []
    for criterion in version.criteria:
        measurement, url = _measure(criterion, evaluation, audit)
        baseline = best.get(criterion["metric"])
        outcome = assess(criterion, measurement, baseline[0] if baseline else None)
        rows.append(
            {
                "criterion": criterion,
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
