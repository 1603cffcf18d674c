"""Success criteria: what business and ML agree success means, in versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.records import WriteOnce


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
