"""The OpenAPI schema of every operation: drf-spectacular's, plus the errors it answers.

Every error comes from one handler (``portal.api.errors``) in one shape, the ``Error``
component; which statuses an operation can answer follows from what it is:

* every call: 401 (no credentials, or a bad token), 429 (throttled), 503 (database busy);
* a path with an object in it, or a page of a list: 404 (not found, not visible, a page
  past the last);
* a write (POST, PATCH, PUT, DELETE): 400 (refused by a rule), 403 (the role or the token
  does not allow it), 404 (an object it names, in the path or the body, is not found),
  409 (the object's state does not allow it now);
* a request body: 413 (too large) and 415 (a content type the operation does not read);
* a read with query parameters beyond paging: 400 (a value it does not know).

A view states only what differs (a gate's 409 with its checks, a download's 409 until the
file exists).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PAGING = {"page", "page_size"}

ERRORS = {
    "400": "Malformed or invalid: `detail` says what to fix; for invalid input `errors` "
    "holds the messages by field.",
    "401": "No credentials, or a token that is invalid, expired or revoked.",
    "403": "The caller's role or the token's scopes do not allow this.",
    "404": "No such object, or not visible to the caller; or a page past the last.",
    "409": "The object's current state does not allow this.",
    "413": "The body or an uploaded file is larger than the portal reads.",
    "415": "The body's content type is not one this operation reads.",
    "429": "Too many requests; retry after the seconds in `Retry-After`.",
    "503": "The database is busy or unreachable; nothing was written, retry after the "
    "seconds in `Retry-After`.",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}


@extend_schema_field(
    {
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "array", "items": {}},
        ],
        "description": "The messages by field (a list of messages, or the messages of a "
        "nested field by its name or position); a list when the body as a whole is refused.",
    }
)
class FieldErrors(serializers.JSONField):
    pass


def json_of(
    shape: dict | type[serializers.Serializer] | serializers.Field, **kwargs: Any
) -> serializers.JSONField:
    """A JSON value passed through as it is stored, declared in the schema as ``shape``:
    a JSON Schema, a serializer that describes it, or a field that would."""
    field_class = type("DeclaredJSONField", (serializers.JSONField,), {})
    return extend_schema_field(shape)(field_class)(**kwargs)


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers. Some add a key of their own (a transition refused by
    its gate adds the failing checks)."""

    code = serializers.CharField(help_text="Stable, for programs: invalid, not_found, ...")
    detail = serializers.CharField(help_text="One sentence for a person.")
    errors = FieldErrors(required=False)

    class Meta:
        ref_name = "Error"


#: A download's answer until its file exists.
NOT_READY = OpenApiResponse(ErrorSerializer, description="Not finished yet; try again later.")


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            if code not in responses:
                responses[code] = self._error_response(code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict) -> list[str]:
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        codes = ["401", "429", "503"]
        if self.method not in SAFE_METHODS:
            codes += ["400", "403", "404", "409"]
        else:
            if "{" in self.path or "page" in query:
                codes.append("404")
            if query - PAGING:
                codes.append("400")
        if "requestBody" in operation:
            codes += ["413", "415"]
        return codes

    def _error_response(self, code: str) -> dict:
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        media_types = self.map_renderers("media_type")
        response = {
            "content": {media_type: {"schema": error} for media_type in media_types},
            "description": ERRORS[code],
        }
        if code in ("429", "503"):
            response["headers"] = RETRY_AFTER
        return response
