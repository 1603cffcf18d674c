"""Rows that are recorded once and never changed or removed: events, lineage, signatures."""

from __future__ import annotations

from django.db import models


class AppendOnlyError(ValueError):
    """A write-once row was about to be changed or deleted."""


class WriteOnce(models.Model):
    """Refuses ``save`` of a row already stored and any ``delete``; the fix is a new row."""

    #: Says what the row is and what to do instead, for the error.
    write_once_message = "this record cannot be changed once stored"

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError(self.write_once_message)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(self.write_once_message)
