"""What a person is called at work: the name and job title packs, trails and mail show."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A user's job title. The full name is the user's own first and last name; a user
    without a profile row simply has no title."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    job_title = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.job_title})" if self.job_title else str(self.user)
