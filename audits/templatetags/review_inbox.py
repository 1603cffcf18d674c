"""The audits waiting for a person's review, for the home page's "Waiting for me": the
projects app's template loads it by name, so projects never imports audits."""

from __future__ import annotations

from django import template

from audits.models import AuditRun
from audits.selectors import audit_inbox, audits_waiting_for
from portal import access

register = template.Library()


@register.simple_tag
def audits_waiting(user) -> list[AuditRun]:
    return audits_waiting_for(user)


@register.simple_tag
def audit_inbox_link(user) -> dict:
    """Whether the top navigation offers the audit inbox (to someone who audits a project
    somewhere), and how many audits wait in it: one query to count, one more only when
    nothing waits."""
    waiting = audit_inbox(user).count()
    audits = waiting > 0 or access.projects_with_perm(user, access.AUDIT).exists()
    return {"shown": audits, "waiting": waiting}
