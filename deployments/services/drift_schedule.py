"""Drift checks at the monitoring spec's cadence: the newest production period of each
deployment in monitoring, against the reference, without anyone asking."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deployments import selectors
from deployments.analysis.plan_monitoring import DEFAULT_DRIFT_DAYS
from deployments.analysis.production import drift_check_due
from deployments.models import Deployment, DriftCheck, ProductionPeriod
from deployments.services.drift import drift_check_request
from portal.exceptions import ApplicationError
from projects.models import Dataset, DatasetVersion, Evaluation, Project

log = logging.getLogger(__name__)

#: Where the reference is looked for when the deployment was never checked, in this order.
REFERENCE_PURPOSES = (Dataset.Purpose.REFERENCE, Dataset.Purpose.VALIDATION)


def drift_reference(deployment: Deployment, current: DatasetVersion) -> DatasetVersion | None:
    """What a scheduled check compares with: the reference the deployment's last drift
    check used (the team chose it); else the newest profiled version of a dataset of
    purpose reference, then validation; else the data the deployed model was evaluated on;
    else the newest training data."""
    last = deployment.drift_checks.exclude(reference=current).order_by("-created_at", "-pk")
    chosen = last.select_related("reference__dataset").first()
    if chosen is not None:
        return chosen.reference
    ready = DatasetVersion.objects.filter(
        dataset__project=deployment.project, status=DatasetVersion.Status.SUCCEEDED
    ).exclude(pk=current.pk)
    for purpose in REFERENCE_PURPOSES:
        found = ready.filter(dataset__purpose=purpose).order_by("-created_at", "-pk").first()
        if found is not None:
            return found
    evaluation = (
        Evaluation.objects.filter(
            model_version=deployment.model_version,
            status=Evaluation.Status.SUCCEEDED,
            dataset_version__status=DatasetVersion.Status.SUCCEEDED,
        )
        .exclude(dataset_version=current)
        .select_related("dataset_version__dataset")
        .first()
    )
    if evaluation is not None:
        return evaluation.dataset_version
    training = ready.filter(dataset__purpose=Dataset.Purpose.TRAINING)
    return training.order_by("-created_at", "-pk").first()


def _cadence(deployment: Deployment) -> int:
    plan = selectors.plan_current(deployment)
    monitoring = (plan.content.get("monitoring") or {}) if plan else {}
    # Plans saved before the cadence existed have none: the default holds for them.
    return int(monitoring.get("drift_cadence_days") or DEFAULT_DRIFT_DAYS)


def _schedule_one(deployment_id: int, now: datetime) -> DriftCheck | None:
    with transaction.atomic():
        # The deployment's row first: a second beat at the same moment waits here, then
        # finds the check this one made and makes none.
        deployment = (
            Deployment.objects.select_for_update()
            .select_related("project", "model_version")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            return None
        newest = (
            ProductionPeriod.objects.filter(deployment=deployment)
            .select_related("dataset_version__dataset")
            .order_by("-period_end", "-pk")
            .first()
        )
        if newest is None:
            return None
        checks = DriftCheck.objects.filter(deployment=deployment)
        last = checks.order_by("-created_at").values_list("created_at", flat=True).first()
        due = drift_check_due(
            newest_period_checked=checks.filter(current=newest.dataset_version_id).exists(),
            last_check_at=last,
            cadence_days=_cadence(deployment),
            now=now,
        )
        if not due:
            return None
        current = newest.dataset_version
        reference = drift_reference(deployment, current)
        if reference is None:
            log.warning("deployment %s: no reference to compare its periods with", deployment.pk)
            return None
        try:
            return drift_check_request(
                actor=None,
                deployment=deployment,
                reference=reference,
                current=current,
                scheduled=True,
            )
        except ApplicationError as exc:
            # Refused before anything was written: the period's columns do not fit the
            # reference. A person sees it when they ask for the check themselves.
            log.warning("deployment %s: scheduled drift check refused: %s", deployment.pk, exc)
            return None


def drift_checks_schedule(*, now: datetime | None = None) -> list[DriftCheck]:
    """Request a drift check for every deployment in monitoring that is due one."""
    now = now or timezone.now()
    # Deployments of an earlier cycle of the project stay on record, unwatched.
    ids = Deployment.objects.filter(
        project__stage=Project.Stage.MONITORING, cycle=F("project__cycle")
    ).values_list("pk", flat=True)
    made = [_schedule_one(pk, now) for pk in ids.order_by("pk")]
    return [check for check in made if check is not None]
