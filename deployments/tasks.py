from celery import shared_task

from deployments.services.alert_rules import alert_rules_evaluate
from deployments.services.alerts import alert_deliver, alert_deliveries_sweep
from deployments.services.drift import drift_check_run
from deployments.services.drift_schedule import drift_checks_schedule
from deployments.services.partitions import metric_points_upkeep
from deployments.services.performance import label_batch_run
from deployments.services.production import production_metrics_run
from deployments.services.rollups import rollups_refresh, rollups_sweep


@shared_task(name="deployments.drift_check")
def drift_check_task(check_id: int) -> None:
    drift_check_run(check_id=check_id)


@shared_task(name="deployments.production_metrics")
def production_metrics_task(period_id: int) -> None:
    production_metrics_run(period_id=period_id)


@shared_task(name="deployments.label_batch")
def label_batch_task(batch_id: int) -> None:
    label_batch_run(batch_id=batch_id)


@shared_task(name="deployments.drift_checks_schedule")
def drift_checks_schedule_task() -> None:
    drift_checks_schedule()


@shared_task(name="deployments.alert_deliver")
def alert_deliver_task(delivery_id: int) -> None:
    alert_deliver(delivery_id=delivery_id)


@shared_task(name="deployments.alert_deliveries_sweep")
def alert_deliveries_sweep_task() -> None:
    alert_deliveries_sweep()


@shared_task(name="deployments.rollups_refresh")
def rollups_refresh_task(deployment_id: int) -> None:
    rollups_refresh(deployment_id=deployment_id)


@shared_task(name="deployments.rollups_sweep")
def rollups_sweep_task() -> None:
    rollups_sweep()


@shared_task(name="deployments.alert_rules_evaluate")
def alert_rules_evaluate_task() -> None:
    alert_rules_evaluate()


@shared_task(name="deployments.metric_points_upkeep")
def metric_points_upkeep_task() -> None:
    metric_points_upkeep()
