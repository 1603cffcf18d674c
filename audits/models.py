"""Automatic baselines trained by workers (fairness audits and the risk register come later)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from portal.jobs import Job


class BaselineRun(Job):
    """Cross-validated dummy, linear and gradient-boosted baselines on a dataset version."""

    task_name = "audits.baseline_run"

    class Task(models.TextChoices):
        CLASSIFICATION = "classification", "Classification"
        REGRESSION = "regression", "Regression"

    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="baseline_runs"
    )
    target = models.CharField(max_length=200)
    #: Asked for by the person; blank means "detect from the target column".
    requested_task = models.CharField(max_length=20, choices=Task, blank=True)
    task = models.CharField(max_length=20, choices=Task, blank=True)
    row_cap = models.PositiveIntegerField()
    rows_used = models.PositiveBigIntegerField(null=True, blank=True)
    sampled = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"baseline run {self.pk} on {self.dataset_version}"

    @property
    def project(self):
        return self.dataset_version.dataset.project

    @property
    def started_by(self):
        return self.requested_by

    def get_absolute_url(self) -> str:
        return reverse("baseline-run-detail", args=[self.pk])
