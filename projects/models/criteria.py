"""Success criteria: what business and ML agree success means, in versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class CriteriaVersion(models.Model):
    """One version of a project's criteria set; an edit is a new version, never an update."""

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

    def save(self, *args, **kwargs) -> None:
        # Sign-offs bind to a version's content, so a version is never edited.
        if self.pk is not None:
            raise ValueError("A criteria version cannot be changed; save a new version.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("criteria-version", args=[self.pk])
