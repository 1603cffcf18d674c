"""The project page's monitoring checklist: each live deployment's periodic review, drift
checks and unacknowledged alerts. A template tag, so the projects app shows it without
importing the deployments app."""

from __future__ import annotations

from django import template
from django.utils import timezone

from deployments.reviews import project_checklists
from projects.models import Project

register = template.Library()


@register.inclusion_tag("deployments/_monitoring_checklist.html")
def monitoring_checklist(project: Project) -> dict:
    return {"project": project, "rows": project_checklists(project, now=timezone.now())}
