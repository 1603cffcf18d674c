from celery import shared_task

from deployments.services.alert_rules import alert_rules_evaluate
from deployments.services.alerts import alert_deliver, alert_deliveries_sweep
from deployments.services.drift import drift_check_run


@shared_task(name="deployments.drift_check")
def drift_check_task(check_id: int) -> None:
    drift_check_run(check_id=check_id)


@shared_task(name="deployments.alert_deliver")
def alert_deliver_task(delivery_id: int) -> None:
    alert_deliver(delivery_id=delivery_id)


@shared_task(name="deployments.alert_deliveries_sweep")
def alert_deliveries_sweep_task() -> None:
    alert_deliveries_sweep()


@shared_task(name="deployments.alert_rules_evaluate")
def alert_rules_evaluate_task() -> None:
    alert_rules_evaluate()
