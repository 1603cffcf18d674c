"""The base for API viewsets: the caller's token and the access helpers at hand."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.response import Response

from projects.models import ApiToken


class ApiViewSet(viewsets.GenericViewSet):
    @property
    def token(self) -> ApiToken | None:
        auth = self.request.auth
        return auth if isinstance(auth, ApiToken) else None

    @staticmethod
    def located(body: dict, code: int) -> Response:
        """A response that points at the resource it made or started (``Location``).

        The URL is passed as plain ``str``: WSGI servers refuse DRF's ``Hyperlink``."""
        return Response(body, status=code, headers={"Location": str(body["url"])})
