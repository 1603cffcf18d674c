"""The base for API viewsets: the caller's token and the access helpers at hand."""

from __future__ import annotations

from rest_framework import viewsets

from projects.models import ApiToken


class ApiViewSet(viewsets.GenericViewSet):
    @property
    def token(self) -> ApiToken | None:
        auth = self.request.auth
        return auth if isinstance(auth, ApiToken) else None
