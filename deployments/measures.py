"""What deployments measures for success criteria, registered when the app starts: a
software criterion measured in deployment (source ``deployment``) is judged on the
analysis that finished the rollout, at full traffic, as the gate into monitoring judges it.
Until then its row says what the newest analysis saw."""

from __future__ import annotations

from django.urls import reverse

from deployments import selectors
from deployments.analysis.window import number_text
from deployments.models import Analysis, Rollout
from projects.analysis.criteria import NOT_DEPLOYED, Measurement, target_text
from projects.measures import Found, measurement_source
from projects.models import Project


def _url(analysis: Analysis, deployment_id: int) -> str:
    return reverse("deployment", args=[deployment_id]) + f"?analysis={analysis.pk}#analyses"


def _seen(analysis: Analysis | None, key: str) -> str:
    """What ``analysis`` observed of the criterion ``key`` at its step, if it checked it."""
    if analysis is None:
        return ""
    check = next(
        (
            c
            for k, c in selectors.criterion_checks(analysis).items()
            if k == key or k.startswith(f"{key},")
        ),
        None,
    )
    if check is None or check.get("observed") is None:
        return ""
    unit = f" {check['unit']}" if check.get("unit") else ""
    return (
        f"; analysis {analysis.pk}, at {analysis.traffic:g} %, observed "
        f"{number_text(check['observed'])}{unit} ({check['status']})"
    )


@measurement_source("deployment")
def rollout_measures(project: Project, criteria: list[dict]) -> list[Found]:
    deployment = selectors.deployment_for_gate(project)
    rollout = selectors.rollout_newest(deployment) if deployment is not None else None
    if rollout is None:
        reason = NOT_DEPLOYED if deployment is None else "measured once a rollout runs"
        return [Found(Measurement(None, reason=reason))] * len(criteria)
    finishing = selectors.finishing_analysis(rollout)
    if finishing is None:
        newest = rollout.analyses.first()
        state = (
            f"rollout {rollout.pk} is at {rollout.traffic:g} % of traffic"
            if rollout.status == Rollout.Status.ACTIVE
            else f"rollout {rollout.pk} was {rollout.get_status_display().lower()}"
        )
        found = []
        for criterion in criteria:
            key = f"{criterion['metric']} {target_text(criterion)}"
            reason = f"measured by the analysis that finishes the rollout; {state}"
            found.append(
                Found(
                    Measurement(None, reason=reason + _seen(newest, key)),
                    _url(newest, deployment.pk) if newest else "",
                )
            )
        return found
    checks = selectors.criterion_checks(finishing)
    evidence = f"analysis {finishing.pk}, which finished rollout {rollout.pk}"
    found = []
    for criterion in criteria:
        check = checks.get(f"{criterion['metric']} {target_text(criterion)}")
        if check is None or check.get("observed") is None:
            why = f"analysis {finishing.pk}, which finished the rollout, did not measure it"
            found.append(Found(Measurement(None, reason=why), _url(finishing, deployment.pk)))
        else:
            measurement = Measurement(float(check["observed"]), evidence=evidence)
            found.append(Found(measurement, _url(finishing, deployment.pk)))
    return found
