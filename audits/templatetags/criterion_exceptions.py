"""The criteria page's exception part, per criterion: projects' template loads it by name,
so projects never imports audits."""

from __future__ import annotations

from django import template

from audits.forms import ExceptionForm
from audits.selectors import criterion_exceptions_newest
from audits.services.exceptions import exception_owners
from portal import access
from projects.analysis.gates import criterion_key

register = template.Library()


@register.inclusion_tag("audits/_criterion_exception.html", takes_context=True)
def criterion_exception(context, version, row, current) -> dict:
    """The criterion's newest exception, and for a business owner looking at an unmet
    criterion of the version in force, the form to accept it as one."""
    key = criterion_key(row["criterion"]["metric"], row["criterion"]["source"])
    cache = context.render_context.setdefault("criterion_exceptions", {})
    if version.pk not in cache:
        cache[version.pk] = criterion_exceptions_newest(version)
    exception = cache[version.pk].get(key)
    user = context["request"].user
    may_accept = (
        current is not None
        and version.pk == current.pk
        and row["outcome"].status == "not_met"
        and (exception is None or not exception.holds)
        and access.has_project_perm(user, version.project, access.SIGN_BUSINESS)
    )
    return {
        "key": key,
        "version": version,
        "exception": exception,
        "form": ExceptionForm(owners=exception_owners(version.project)) if may_accept else None,
        "csrf_token": context.get("csrf_token"),
    }
