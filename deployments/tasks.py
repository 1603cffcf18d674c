from celery import shared_task

from deployments.services.drift import drift_check_run


@shared_task(name="deployments.drift_check")
def drift_check_task(check_id: int) -> None:
    drift_check_run(check_id=check_id)
