"""API tokens: minted with the key shown once, stored as a sha256 digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.exceptions import ApplicationError, Conflict
from projects.models import ApiToken, Project
from projects.services.events import event_record

KEY_PREFIX = "sg_"
MAX_DAYS = 366


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(
    *,
    user,
    name: str,
    scopes: list[str],
    project: Project | None = None,
    days: int | None = None,
    bound_to: dict | None = None,
) -> tuple[ApiToken, str]:
    """Mint a token and return it with its key, which is not stored anywhere.

    ``bound_to`` names what an app binds the token to within its project (recorded on the
    trail): only such a token may carry the metrics scope, and the app stores the binding
    in the same transaction."""
    scopes = sorted(set(scopes))
    general = [s for s in ApiToken.Scope.values if s != ApiToken.Scope.METRICS]
    unknown = set(scopes) - set(general if bound_to is None else ApiToken.Scope.values)
    if ApiToken.Scope.METRICS in unknown:
        raise ApplicationError(
            "The metrics scope is for a deployment's own token: make it on the deployment's page.",
            code="invalid_scope",
        )
    if not scopes or unknown:
        raise ApplicationError(
            f"Scopes must be some of {', '.join(general)}"
            + (f"; unknown: {', '.join(sorted(unknown))}." if unknown else "."),
            code="invalid_scope",
        )
    if bound_to is not None and project is None:
        raise ApplicationError("A bound token belongs to one project.", code="invalid_project")
    # Every token reads what its user may read: a pipeline that moves a project
    # must also see it, and a 404 for a missing read scope only confuses.
    scopes = sorted({*scopes, ApiToken.Scope.READ})
    days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise ApplicationError(f"A token lives 1 to {MAX_DAYS} days.", code="invalid_expiry")
    if project is not None and not access.has_project_perm(user, project, access.VIEW):
        raise ApplicationError("You have no access to that project.", code="invalid_project")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip() or "token",
            prefix=f"{KEY_PREFIX}{prefix}",
            digest=token_digest(key),
            project=project,
            scopes=scopes,
            expires_at=timezone.now() + timedelta(days=days),
        )
        event_record(
            actor=user,
            verb="token.created",
            target=token,
            project=project,
            payload={
                "name": token.name,
                "prefix": token.prefix,
                "scopes": scopes,
                "expires_at": token.expires_at,
                **({"bound_to": bound_to} if bound_to is not None else {}),
            },
        )
    return token, key


def token_revoke(*, actor, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            raise Conflict("The token is revoked already.", code="already_revoked")
        token.refresh_from_db()
        event_record(
            actor=actor,
            verb="token.revoked",
            target=token,
            project=token.project,
            payload={"prefix": token.prefix},
        )
        return token


def token_authenticate(key: str) -> ApiToken | None:
    """The usable token for ``key``, or None. Touches last_used_at at most once a minute."""
    if not key.startswith(KEY_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "project").filter(digest=token_digest(key)).first()
    )
    if token is None or not token.is_usable():
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
