"""The dataset registry: what data a project needs, its versions, their lineage."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from portal.jobs import Job
from portal.records import WriteOnce


class Dataset(models.Model):
    class Purpose(models.TextChoices):
        TRAINING = "training", "Training"
        VALIDATION = "validation", "Validation"
        TEST = "test", "Test"
        REFERENCE = "reference", "Reference for drift"
        PRODUCTION_SAMPLE = "production_sample", "Production sample"

    class Status(models.TextChoices):
        NEEDED = "needed", "Needed"
        COLLECTING = "collecting", "Being collected"
        AVAILABLE = "available", "Available"

    class Labeling(models.TextChoices):
        IN_HOUSE = "in_house", "In-house"
        OUTSOURCED = "outsourced", "Outsourced"
        CROWDSOURCED = "crowdsourced", "Crowdsourced"
        PROGRAMMATIC = "programmatic", "Programmatic"
        NOT_LABELLED = "not_labelled", "Not labelled"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="datasets"
    )
    name = models.CharField(max_length=120)
    purpose = models.CharField(max_length=20, choices=Purpose, default=Purpose.TRAINING)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.NEEDED)
    labeling_strategy = models.CharField(
        max_length=20, choices=Labeling, default=Labeling.NOT_LABELLED
    )
    labeling_notes = models.TextField(blank=True, help_text="Guidelines, vendor, quality checks.")
    label_column = models.CharField(max_length=200, blank=True)
    sensitive_columns = models.JSONField(default=list, blank=True)
    personal_data_columns = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=300, blank=True)
    licence = models.CharField(max_length=200, blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="Who answers for this data.")
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_name_per_project"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dataset-detail", args=[self.pk])


def version_upload_to(version: DatasetVersion, filename: str) -> str:
    return f"datasets/{version.dataset_id}/{version.sha256}/{filename}"


class DatasetVersion(Job):
    """One uploaded file of a dataset; a worker converts it to Parquet and profiles it."""

    task_name = "projects.dataset_version_ingest"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        CSV_GZ = "csv.gz", "CSV (gzip)"
        PARQUET = "parquet", "Parquet"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=version_upload_to, max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10, choices=Format)
    encoding = models.CharField(max_length=40, default="utf-8")
    delimiter = models.CharField(max_length=1, blank=True, help_text="Blank: detect.")
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    parquet = models.FileField(max_length=300, blank=True)
    rows = models.PositiveBigIntegerField(null=True, blank=True)
    schema = models.JSONField(default=list, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    # Provenance: where the bytes came from.
    source_uri = models.CharField(max_length=500, blank=True)
    collected_at = models.DateField(null=True, blank=True)
    collected_by = models.CharField(max_length=200, blank=True)
    labeling_batch = models.CharField(max_length=200, blank=True)
    # How it was made from its parents (see DatasetLineage).
    transformation = models.TextField(blank=True)
    code_reference = models.CharField(max_length=200, blank=True)
    command = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    parents = models.ManyToManyField(
        "self", through="DatasetLineage", symmetrical=False, related_name="children"
    )

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_number_once"),
            # The same bytes are one version, unless an earlier try at them failed.
            models.UniqueConstraint(
                fields=["dataset", "sha256"],
                condition=~Q(status="failed"),
                name="version_bytes_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    @property
    def project(self):
        return self.dataset.project

    @property
    def started_by(self):
        return self.uploaded_by

    def get_absolute_url(self) -> str:
        return reverse("version-detail", args=[self.pk])


class DatasetLineage(WriteOnce):
    """A parent of a version. Written with the version and never changed."""

    write_once_message = "lineage is immutable once recorded"

    child = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="lineage_edge_once"),
            models.CheckConstraint(condition=~Q(child=models.F("parent")), name="lineage_no_self"),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"
