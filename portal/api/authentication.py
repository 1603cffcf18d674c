"""Token authentication against hashed keys."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.api.throttling import InvalidTokenThrottle
from projects.models import ApiToken
from projects.services.tokens import token_authenticate

QUERY_KEYS = ("token", "access_token", "api_key", "key")


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token sg_…`` (or ``Bearer``); the key is looked up by its digest."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        if any(key in request.query_params for key in QUERY_KEYS):
            # A key in a URL ends up in logs and browser history.
            raise exceptions.AuthenticationFailed(
                "Send the token in the Authorization header, never in the URL."
            )
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            key = ""  # no token has it: refused and counted like any other wrong key
        token = self.lookup(request, key)
        return token.user, token

    def lookup(self, request, key: str) -> ApiToken:
        """The usable token for ``key``; 401 alike for unknown, expired and revoked keys,
        and 429 for an address that sent too many of them lately."""
        throttle = InvalidTokenThrottle()
        wait = throttle.wait_before_lookup(request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        token = token_authenticate(key) if key else None
        if token is None:
            throttle.record_refusal()
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token

    def authenticate_header(self, request) -> str:
        return "Token"


class WebhookMetadataTokenAuthentication(HashedTokenAuthentication):
    """The header, or for a POST that cannot carry one the token in the JSON body's
    ``metadata.token``: Flagger's webhooks send a fixed body and no custom headers."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is not None or request.method != "POST":
            return found
        metadata = request.data.get("metadata") if hasattr(request.data, "get") else None
        key = metadata.get("token") if isinstance(metadata, dict) else None
        if not isinstance(key, str) or not key:
            return None
        token = self.lookup(request, key)
        return token.user, token


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = HashedTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Send "Token sg_…"; create tokens on the API tokens page.',
        }


class WebhookMetadataTokenScheme(HashedTokenScheme):
    target_class = WebhookMetadataTokenAuthentication
    name = "webhookTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            **super().get_security_definition(auto_schema),
            "description": 'Send "Token sg_…"; a webhook that cannot send headers (Flagger) '
            "may put the key in its JSON body as metadata.token.",
        }
