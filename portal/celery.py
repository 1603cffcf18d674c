"""The Celery application: settings come from Django's, under the CELERY_ prefix."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

log = logging.getLogger(__name__)

app = Celery("stagegate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_init.connect
def deliveries_pulse(**kwargs: Any) -> None:
    """A pool process's deliveries keep their heartbeat while their work runs."""
    from portal.jobs import pulse_deliveries

    pulse_deliveries()


@signals.celeryd_init.connect
def worker_queue_limits(conf: Any, options: dict, **kwargs: Any) -> None:
    """Give a worker's pool processes the memory limit of the queues it serves, unless
    ``--max-memory-per-child`` or the setting gives one."""
    from django.conf import settings

    from portal import queues

    served = list(options.get("queues") or [])
    if options.get("max_memory_per_child") is None and conf.worker_max_memory_per_child is None:
        conf.worker_max_memory_per_child = queues.worker_max_memory_kib(
            settings.JOB_QUEUES, served or None
        )
    log.info(
        "serving queues %s; a pool process is replaced after a task leaves it above %d MiB",
        ", ".join(served or (queue.name for queue in conf.task_queues)),
        (options.get("max_memory_per_child") or conf.worker_max_memory_per_child) // 1024,
    )
