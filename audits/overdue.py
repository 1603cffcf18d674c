"""Audit reviews past their due date, for the home and team pages' overdue list."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditRun
from audits.selectors import GATE_LOOKS_AT, audits_awaiting_review
from projects.models import Project
from projects.overdue import OverdueReview, overdue_source


@overdue_source
def overdue_audit_reviews(projects: QuerySet[Project], now: datetime) -> list[OverdueReview]:
    """Audits of ``projects`` that the gate still looks at, waiting for the review asked
    for by a day now past: one query. A superseded one is nobody's to review any more."""
    today = timezone.localdate(now)
    audits = AuditRun.objects.filter(config__project__in=projects)
    waiting = audits_awaiting_review(audits).filter(GATE_LOOKS_AT, review_due_on__lt=today)
    return [
        OverdueReview(
            subject=f"Fairness audit {audit.pk} of {audit.evaluation.model_version}",
            url=reverse("audit-detail", args=[audit.pk]) + "#review",
            project=audit.config.project,
            due_at=timezone.make_aware(datetime.combine(audit.review_due_on, time())),
            days_overdue=(today - audit.review_due_on).days,
        )
        for audit in waiting.order_by("review_due_on", "pk")
    ]
