"""Automatic baselines trained by workers, and the failure-mode risk register."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audits.analysis.risks import CATEGORIES, severity, severity_band
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


class RiskItem(models.Model):
    """One failure mode in a project's register: how likely, how bad, what is done about it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MITIGATED = "mitigated", "Mitigated"
        ACCEPTED = "accepted", "Accepted"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="risks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=30, choices=CATEGORIES)
    likelihood = models.PositiveSmallIntegerField()
    impact = models.PositiveSmallIntegerField()
    mitigation = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.OPEN)
    rationale = models.TextField(blank=True, help_text="Why an accepted risk is acceptable.")
    #: The starter-list entry it came from, so the list is pulled in once.
    starter_key = models.CharField(max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(likelihood__gte=1, likelihood__lte=5, impact__gte=1, impact__lte=5),
                name="risk_scale_1_to_5",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | ~Q(rationale=""),
                name="risk_accepted_with_rationale",
            ),
            models.UniqueConstraint(
                fields=["project", "starter_key"],
                condition=~Q(starter_key=""),
                name="risk_starter_once",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def severity(self) -> int:
        return severity(self.likelihood, self.impact)

    @property
    def severity_band(self) -> str:
        return severity_band(self.severity)
