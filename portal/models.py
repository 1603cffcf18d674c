"""The portal's own rows."""

from __future__ import annotations

from django.db import models


class Lease(models.Model):
    """A named lock held by one process until ``expires_at``; its holder renews it while
    it lives, so a holder that dies frees it once it expires."""

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
