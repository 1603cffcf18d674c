"""The audits waiting for a person's review, for the home page's "Waiting for me": the
projects app's template loads it by name, so projects never imports audits."""

from __future__ import annotations

from django import template

from audits.models import AuditRun
from audits.selectors import audits_waiting_for

register = template.Library()


@register.simple_tag
def audits_waiting(user) -> list[AuditRun]:
    return audits_waiting_for(user)
