"""Signed documents: versions a business owner and an ML engineer must both agree on.

A document (criteria version, deployment plan) is never edited: a change is a new version.
A signature binds to a version's content hash and to the evidence its signer was shown;
only its revocation fields are ever written after creation (by the service, under the
project's row lock). Each kind of document has its own tables, and one service, one set of
selectors and one set of rules (``projects.signing``, ``projects.analysis.signoffs``) serve
them all.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.records import WriteOnce


class SignedDocument(WriteOnce):
    """One version of a document two people sign."""

    version = models.PositiveIntegerField()
    #: sha256 of the canonical JSON of the content: what a signature binds to.
    content_sha256 = models.CharField(max_length=64)
    note = models.CharField(max_length=500, blank=True, help_text="What changed and why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Signature(models.Model):
    """A business owner's or ML engineer's decision on one version of a signed document.

    Concrete classes add the foreign key to their document, with ``related_name="signoffs"``,
    and name it in ``document_field``."""

    document_field = ""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    class Role(models.TextChoices):
        BUSINESS_OWNER = "business_owner", "Business owner"
        ML_ENGINEER = "ml_engineer", "ML engineer"

    role = models.CharField(max_length=20, choices=Role)
    decision = models.CharField(max_length=10, choices=Decision)
    comment = models.TextField(blank=True)
    content_sha256 = models.CharField(max_length=64)
    #: The candidate model, its evaluation and audit, and the dataset versions behind
    #: them (and what else the document's kind adds), with their hashes, as the signer was
    #: shown them.
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
        abstract = True
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signed_by} ({self.get_role_display()})"

    def get_absolute_url(self) -> str:
        return self.document.get_absolute_url() + f"#signoff-{self.pk}"

    @property
    def document(self) -> SignedDocument:
        return getattr(self, self.document_field)

    @property
    def project(self):
        return self.document.project
