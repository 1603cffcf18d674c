"""Which queue each Celery task goes to, and the limits each queue's tasks run under.

Jobs of one class wait only behind jobs of the same class: a long training run does not
hold up an alert delivery, and a worker sized for PDF rendering need not be sized for
training. Settings build Celery's ``task_queues``, ``task_routes`` and
``task_annotations`` from here; a worker started without ``-Q`` serves every queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

#: Tasks not routed below (Celery's own, a test's) go to Celery's usual default queue.
DEFAULT_QUEUE = "celery"

#: Each job class and its tasks, by name. A task added to an app must be placed here;
#: a test fails for any task of ours that would fall to the default queue.
QUEUE_TASKS: dict[str, tuple[str, ...]] = {
    # Reading uploaded files: dataset versions, predictions, production labels.
    "ingest": (
        "projects.dataset_version_ingest",
        "projects.evaluation_run",
        "deployments.label_batch",
    ),
    # Fitting models: the baselines and the mitigations.
    "train": ("audits.baseline_run", "audits.mitigation_run"),
    # The fairness audit with its bootstrap intervals.
    "audit": ("audits.audit_run",),
    # Files made for people to download: packs, monitoring reports, trail exports.
    "render": (
        "audits.pack_render",
        "audits.monitoring_report_render",
        "projects.event_export_run",
    ),
    # Production monitoring and housekeeping: due on time, so never behind a long job.
    "monitor": (
        "deployments.drift_check",
        "deployments.production_metrics",
        "deployments.drift_checks_schedule",
        "deployments.alert_rules_evaluate",
        "deployments.alert_deliver",
        "deployments.alert_deliveries_sweep",
        "deployments.rollups_refresh",
        "deployments.rollups_sweep",
        "deployments.metric_points_upkeep",
        "portal.jobs_sweep",
        "portal.incoming_sweep",
        "projects.events_checkpoint",
        "audits.exceptions_remind",
    ),
}
QUEUES: tuple[str, ...] = tuple(QUEUE_TASKS)


@dataclass(frozen=True)
class QueueLimits:
    """What one queue's tasks may use: seconds before the soft limit raises in the task,
    seconds before the hard limit kills its pool process, and the resident memory (MiB)
    above which a pool process is replaced once its task ends."""

    soft_time_limit: int
    time_limit: int
    max_memory_mb: int


#: Defaults: soft time limit (seconds) and memory (MiB) per queue; see docs/operations.md.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "ingest": (1800, 2048),
    "train": (1800, 3072),
    "audit": (900, 2048),
    "render": (300, 1024),
    "monitor": (600, 2048),
}


def task_queues() -> tuple[Queue, ...]:
    """Every queue, the default one included: a worker without ``-Q`` consumes them all."""
    return tuple(
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in (*QUEUES, DEFAULT_QUEUE)
    )


def task_routes() -> dict[str, dict[str, str]]:
    return {task: {"queue": queue} for queue, tasks in QUEUE_TASKS.items() for task in tasks}


def task_annotations(limits: dict[str, QueueLimits]) -> dict[str, dict[str, int]]:
    """Each routed task's time limits: the worker applies them whoever published the task."""
    return {
        task: {
            "soft_time_limit": limits[queue].soft_time_limit,
            "time_limit": limits[queue].time_limit,
        }
        for queue, tasks in QUEUE_TASKS.items()
        for task in tasks
    }


def queue_of(task_name: str) -> str:
    """The queue ``task_name`` is routed to (the default queue for one not listed)."""
    for queue, tasks in QUEUE_TASKS.items():
        if task_name in tasks:
            return queue
    return DEFAULT_QUEUE


def worker_max_memory_kib(limits: dict[str, QueueLimits], served: list[str] | None) -> int:
    """The memory limit per pool process of a worker serving ``served`` (all when None):
    the largest of its queues', since any of them may run in any of its processes."""
    names = [name for name in (served or QUEUES) if name in limits] or list(QUEUES)
    return max(limits[name].max_memory_mb for name in names) * 1024
