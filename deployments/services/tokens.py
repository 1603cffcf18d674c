"""A deployment's own token, for the exporters that push its live metrics."""

from __future__ import annotations

from django.db import transaction

from deployments.models import Deployment, DeploymentToken
from projects.models import ApiToken
from projects.services.tokens import token_create


def deployment_token_create(
    *, actor, deployment: Deployment, name: str = "", days: int | None = None
) -> tuple[ApiToken, str]:
    """Mint a token bound to ``deployment`` (the metrics scope, with read on its project)
    and return it with its key, which is not stored anywhere. It is listed, and revoked,
    with its maker's other tokens."""
    with transaction.atomic():
        token, key = token_create(
            user=actor,
            name=(name or "").strip() or f"metrics for {deployment}",
            scopes=[ApiToken.Scope.METRICS],
            project=deployment.project,
            days=days,
            bound_to={"deployment": deployment.pk},
        )
        DeploymentToken.objects.create(token=token, deployment=deployment)
    return token, key
