"""The API's OpenAPI schema and its interactive docs (Swagger UI): both behind a login
(``SERVE_PERMISSIONS``), and the docs page with no inline script or style, so the
portal's Content-Security-Policy holds on it too."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer


class ApiSchemaView(SpectacularAPIView):
    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        response = super().handle_exception(exc)
        # A refusal is the API's JSON error, not a YAML document shaped like one.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI whose start-up script is served by this same view (``?script``) instead
    of inline, and whose page takes its styles from a static file."""

    template_name = "api/swagger_ui.html"

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        # A person who is not logged in is sent to log in, as every other page does;
        # the schema itself answers 401 in the API's JSON.
        if isinstance(exc, exceptions.NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
