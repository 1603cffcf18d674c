"""Success criteria: saving a new version of a project's criteria set."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from django.db import transaction

from portal.exceptions import ApplicationError, Conflict
from projects.analysis.criteria import CriteriaError, clean_criteria, content_sha256, diff
from projects.analysis.criteria_templates import TEMPLATES
from projects.models import CriteriaVersion, Project
from projects.services.events import event_record
from projects.services.signoffs import project_lock, signoff_request_notify

if TYPE_CHECKING:
    from projects.models import ApiToken


def criteria_save(
    *,
    actor,
    project: Project,
    criteria: list[dict],
    note: str = "",
    token: ApiToken | None = None,
) -> CriteriaVersion:
    """Store ``criteria`` as the project's next version; the event says what changed."""
    try:
        clean = clean_criteria(criteria)
    except CriteriaError as exc:
        raise ApplicationError(str(exc), code="invalid_criteria") from None
    digest = content_sha256(clean)
    with transaction.atomic():
        # The same lock as sign-offs: a sign-off racing an edit lands before or after it.
        project = project_lock(project)
        previous = project.criteria_versions.order_by("-version").first()
        if previous is not None and previous.content_sha256 == digest:
            raise Conflict(
                f"These are the criteria of v{previous.version} already; change one to make "
                "a new version.",
                code="unchanged",
            )
        number = previous.version + 1 if previous is not None else 1
        version = CriteriaVersion.objects.create(
            project=project,
            version=number,
            criteria=clean,
            content_sha256=digest,
            note=note[:500],
            created_by=actor,
        )
        changes = diff(previous.criteria, clean) if previous is not None else []
        asked = signoff_request_notify(version)
        event_record(
            actor=actor,
            verb="criteria.saved",
            target=version,
            project=project,
            token=token,
            payload={
                "version": number,
                "sha256": digest,
                "note": note,
                "criteria": clean,
                "changes": [asdict(c) for c in changes],
                "signoff_asked": asked,
            },
        )
        return version


def criteria_from_template(
    *, actor, project: Project, template: str, token: ApiToken | None = None
) -> CriteriaVersion:
    if template not in TEMPLATES:
        raise ApplicationError(
            f"Unknown template {template!r}; the templates are {', '.join(TEMPLATES)}.",
            code="unknown_template",
        )
    return criteria_save(
        actor=actor,
        project=project,
        criteria=TEMPLATES[template],
        note=f"Started from the template {template!r}.",
        token=token,
    )
