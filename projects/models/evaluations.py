"""Baselines on record, registered model versions and their evaluations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.jobs import Job


class Metric(models.TextChoices):
    """The metric set reported for baselines and evaluations (projects.analysis.metrics)."""

    ACCURACY = "accuracy", "Accuracy"
    BALANCED_ACCURACY = "balanced_accuracy", "Balanced accuracy"
    PRECISION = "precision", "Precision"
    RECALL = "recall", "Recall"
    F1 = "f1", "F1"
    ROC_AUC = "roc_auc", "ROC AUC"
    LOG_LOSS = "log_loss", "Log loss"
    MAE = "mae", "MAE"
    RMSE = "rmse", "RMSE"
    R2 = "r2", "R²"


class Baseline(models.Model):
    """A baseline recorded by a person: what the model has to beat, with its evidence."""

    class Kind(models.TextChoices):
        HUMAN_LEVEL = "human_level", "Human-level performance"
        LITERATURE = "literature", "Literature / state of the art"
        QUICK_AND_DIRTY = "quick_and_dirty", "Quick-and-dirty implementation"
        PREVIOUS_SYSTEM = "previous_system", "Previous system"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="baselines"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    name = models.CharField(max_length=120)
    metric = models.CharField(max_length=20, choices=Metric)
    value = models.FloatField()
    citation = models.CharField(max_length=500, blank=True)
    evidence = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "metric", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_metric_display()} {self.value:g})"


class ModelVersion(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60)
    artifact_uri = models.CharField(max_length=500, blank=True)
    code_commit = models.CharField(max_length=100, blank=True)
    framework = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    #: The dataset version the model learnt from, a version of the same project (checked in
    #: projects.services.evaluations.model_register): the gate into deployment asks that
    #: the candidate is evaluated on data that is neither this version nor derived from it.
    training_data = models.ForeignKey(
        "projects.DatasetVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trained_models",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name", "version"], name="model_version_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("model-detail", args=[self.pk])


class Evaluation(Job):
    """A model's predictions on a dataset version; a worker computes the metric set."""

    task_name = "projects.evaluation_run"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="evaluations"
    )
    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="evaluations"
    )
    file = models.FileField(upload_to="predictions/", max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    #: Which column holds what: y_pred, y_true (optional), y_score (optional), row_id
    #: (optional), sensitive (a list); without y_true, label_column names the dataset
    #: version's column that holds the true value, as it was at upload.
    mapping = models.JSONField(default=dict)
    task = models.CharField(max_length=20, blank=True)
    rows = models.PositiveBigIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    #: Curve data for the charts (projects.analysis.curves), computed with the metrics;
    #: empty for evaluations scored before the curves were kept.
    curves = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.model_version}"

    @property
    def project(self):
        return self.model_version.project

    @property
    def started_by(self):
        return self.requested_by

    def get_absolute_url(self) -> str:
        return reverse("evaluation-detail", args=[self.pk])
