"""What the top navigation offers a person."""

from __future__ import annotations

from django import template

from portal import access

register = template.Library()


@register.simple_tag
def may_hold_tokens(user) -> bool:
    """A token reads and does only what its person may, on projects they see: someone who
    sees no project has no use for one (unless they hold one still, to revoke it)."""
    return access.projects_visible(user).exists() or user.api_tokens.exists()
