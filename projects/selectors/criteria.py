"""Success criteria: the candidate model, criteria versions, business measurements, and
how each criterion is met."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.once import once
from projects.analysis.criteria import Measurement, assess, diff, metric_spec
from projects.analysis.metrics import HIGHER_IS_BETTER, METRIC_LABELS
from projects.analysis.signoffs import criteria_refusal
from projects.measures import measured
from projects.models import (
    ApiToken,
    BusinessMeasurement,
    CriteriaVersion,
    Evaluation,
    ModelVersion,
    Project,
    SignOff,
)
from projects.selectors.datasets import _trained_entries, _visible, baselines_recorded
from projects.signing import DocumentKind


@once
def candidate_model(project: Project) -> ModelVersion | None:
    """The model the gate and the criteria judge: the one the team marked as candidate
    (read from the database, so a project object loaded earlier cannot give an old one)."""
    marked = Project.objects.filter(pk=project.pk).values("candidate_model")
    return ModelVersion.objects.filter(pk__in=marked).first()


@once
def newest_evaluation(model: ModelVersion | None) -> Evaluation | None:
    if model is None:
        return None
    finished = model.evaluations.filter(status=Evaluation.Status.SUCCEEDED)
    return finished.order_by("-created_at", "-pk").first()


@once
def criteria_current(project: Project) -> CriteriaVersion | None:
    return project.criteria_versions.order_by("-version").first()


def criteria_versions(project: Project) -> QuerySet[CriteriaVersion]:
    return project.criteria_versions.select_related("created_by").order_by("-version")


@once
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


@once
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


def _measure(criterion: dict, evaluation, business=None) -> tuple[Measurement, str]:
    """The value a criterion of projects' own sources is judged on, and the URL of its
    evidence; other apps' sources answer through projects.measures."""
    metric, source = criterion["metric"], criterion["source"]
    if source in ("evaluation", "baseline"):
        if evaluation is None:
            return Measurement(None, reason="the candidate model has no finished evaluation"), ""
        value = (evaluation.metrics or {}).get(metric)
        why = "" if value is not None else f"the evaluation does not report {metric}"
        url = evaluation.get_absolute_url()
        return Measurement(value, evidence=f"evaluation {evaluation.pk}", reason=why), url
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
    project = version.project
    evaluation = newest_evaluation(candidate_model(project))
    best = _best_baselines(project)
    business = business_latest(project)
    # Sources another app measures, each asked once for all its criteria.
    by_source: dict[str, list[int]] = {}
    for number, criterion in enumerate(version.criteria):
        by_source.setdefault(criterion["source"], []).append(number)
    elsewhere: dict[int, tuple[Measurement, str]] = {}
    for source, numbers in by_source.items():
        found = measured(project, source, [version.criteria[n] for n in numbers])
        for number, f in zip(numbers, found or (), strict=False):
            elsewhere[number] = (f.measurement, f.url)
    rows = []
    for number, criterion in enumerate(version.criteria):
        measurement, url = elsewhere.get(number) or _measure(criterion, evaluation, business)
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


def measurement_get(user, pk: int, token: ApiToken | None = None) -> BusinessMeasurement:
    return _visible(
        BusinessMeasurement.objects.select_related("project"),
        "project",
        user,
        pk,
        token,
        "measurement",
    )


def _change_text(change) -> str:
    fields = ", ".join(sorted(change.fields)) if change.kind == "changed" else ""
    return f"{change.metric} {change.kind}" + (f" ({fields})" if fields else "")


def criteria_signing_kind() -> DocumentKind:
    """Criteria versions as a signed document (registered by the app at start-up)."""

    def current(version: CriteriaVersion) -> CriteriaVersion | None:
        return criteria_current(version.project)

    def in_force(project: Project) -> list[CriteriaVersion]:
        version = criteria_current(project)
        return [version] if version is not None else []

    def changes(old: CriteriaVersion, new: CriteriaVersion) -> str:
        return "; ".join(_change_text(c) for c in diff(old.criteria, new.criteria))

    return DocumentKind(
        key="criteria",
        name="criteria",
        plural=True,
        heading="success criteria",
        api_view="api-criteria-version-detail",
        document_model=CriteriaVersion,
        signature_model=SignOff,
        current=current,
        in_force=in_force,
        changes=changes,
        refusal=lambda version, evidence: criteria_refusal(version.criteria, evidence),
    )
