"""Success criteria: what business and ML agree success means, in versions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.records import WriteOnce
from projects.analysis.attachments import suffix_of
from projects.models.signing import Signature, SignedDocument


class CriteriaVersion(SignedDocument):
    """One version of a project's criteria set; an edit is a new version, never an update."""

    # Sign-offs bind to a version's content.
    write_once_message = "A criteria version cannot be changed; save a new version."

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="criteria_versions"
    )
    #: Cleaned criteria (projects.analysis.criteria.clean_criteria), in the author's order.
    criteria = models.JSONField()

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="criteria_version_once")
        ]

    def __str__(self) -> str:
        return f"criteria v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("criteria-version", args=[self.pk])


class SignOff(Signature):
    """A sign-off of one criteria version."""

    document_field = "criteria_version"

    criteria_version = models.ForeignKey(
        CriteriaVersion, on_delete=models.PROTECT, related_name="signoffs"
    )

    class Meta(Signature.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["criteria_version", "signed_by"],
                condition=models.Q(revoked_at__isnull=True),
                name="signoff_once_per_person",
            )
        ]


def measurement_upload_to(entry: BusinessMeasurement, filename: str) -> str:
    """A generated path: the file's digest and an accepted suffix. The person's file name
    is kept on the row (``attachment_name``), never in the path."""
    stem = entry.attachment_sha256 or uuid.uuid4().hex
    return f"measurements/{entry.project_id}/{stem}{suffix_of(filename) or ''}"


class BusinessMeasurement(WriteOnce):
    """A business figure a business owner entered, with the evidence behind it.

    A correction is a new entry; the newest entry of a metric is its value."""

    write_once_message = "A business measurement cannot be changed; enter a new one."

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="business_measurements"
    )
    metric = models.CharField(max_length=60)
    value = models.FloatField()
    period = models.CharField(max_length=100, blank=True, help_text="For example 2026-Q3.")
    evidence = models.TextField(help_text="Where the figure comes from and how it was computed.")
    attachment = models.FileField(upload_to=measurement_upload_to, max_length=300, blank=True)
    #: The name the file came with, shown and offered on download (blank for files stored
    #: before it was kept: their stored name is the one they came with).
    attachment_name = models.CharField(max_length=255, blank=True)
    attachment_sha256 = models.CharField(max_length=64, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(evidence=""), name="measurement_evidence")
        ]

    def __str__(self) -> str:
        return f"{self.metric} = {self.value:g}"

    def get_absolute_url(self) -> str:
        return reverse("criteria", args=[self.project.slug]) + f"#measurement-{self.pk}"

    @property
    def attachment_display_name(self) -> str:
        if not self.attachment:
            return ""
        return self.attachment_name or self.attachment.name.rsplit("/", 1)[-1]
