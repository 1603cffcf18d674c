"""Success criteria: what business and ML agree success means, in versions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.records import WriteOnce
from projects.analysis.attachments import suffix_of


class CriteriaVersion(WriteOnce):
    """One version of a project's criteria set; an edit is a new version, never an update."""

    # Sign-offs bind to a version's content.
    write_once_message = "A criteria version cannot be changed; save a new version."

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="criteria_versions"
    )
    version = models.PositiveIntegerField()
    #: Cleaned criteria (projects.analysis.criteria.clean_criteria), in the author's order.
    criteria = models.JSONField()
    #: sha256 of the canonical JSON of ``criteria``: what a sign-off will bind to.
    content_sha256 = models.CharField(max_length=64)
    note = models.CharField(max_length=500, blank=True, help_text="What changed and why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="criteria_version_once")
        ]

    def __str__(self) -> str:
        return f"criteria v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("criteria-version", args=[self.pk])


class SignOff(models.Model):
    """A business owner's or ML engineer's decision on one criteria version.

    Bound to the version's content hash and to the evidence the signer was shown; only
    the revocation fields are ever written after creation (by the service, under the
    project's row lock)."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    class Role(models.TextChoices):
        BUSINESS_OWNER = "business_owner", "Business owner"
        ML_ENGINEER = "ml_engineer", "ML engineer"

    criteria_version = models.ForeignKey(
        CriteriaVersion, on_delete=models.PROTECT, related_name="signoffs"
    )
    role = models.CharField(max_length=20, choices=Role)
    decision = models.CharField(max_length=10, choices=Decision)
    comment = models.TextField(blank=True)
    content_sha256 = models.CharField(max_length=64)
    #: The candidate model, its evaluation and audit, and the dataset versions behind
    #: them, with their hashes, as the signer was shown them.
    evidence = models.JSONField()
    evidence_sha256 = models.CharField(max_length=64)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["criteria_version", "signed_by"],
                condition=models.Q(revoked_at__isnull=True),
                name="signoff_once_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signed_by} ({self.get_role_display()})"

    def get_absolute_url(self) -> str:
        return reverse("criteria-version", args=[self.criteria_version_id]) + f"#signoff-{self.pk}"

    @property
    def project(self):
        return self.criteria_version.project


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
