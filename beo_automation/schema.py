"""OpenAPI: the error envelope as a component, and the error responses every endpoint can give.

Views declare their own outcomes (`error_responses(400, 404, 409)` next to their success
response); EnvelopeAutoSchema adds what applies to every endpoint of a kind, so no view can
forget it:
- 401 on every endpoint that requires authentication;
- 413 on every request with a body (API_MAX_BODY_BYTES);
- 429 with `Retry-After` on every rate-limited path.

It also states in the schema what the API enforces, so that clients (and schemathesis, which
generates "valid" requests from it: bench/fuzz.py) need not learn it from 400s:
- a request body whose serializer refuses unknown fields (`refuses_unknown_fields = True`)
  is an object with `additionalProperties: false`;
- an array body has the ListSerializer's `min_length`/`max_length` (`allow_empty=False` is
  a minimum of one) as `minItems`/`maxItems`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from beo_automation.ratelimit import rate_limited_path


class BearerJWTScheme(SimpleJWTScheme):
    """Our authentication class is documented as the bearer JWT scheme simplejwt's is (this
    module is loaded, as DEFAULT_SCHEMA_CLASS, before any schema is generated)."""

    target_class = "beo_automation.authentication.BearerJWTAuthentication"


class ErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="The HTTP status code, repeated.")
    message = serializers.CharField(help_text="What went wrong, safe to show.")
    details = serializers.DictField(
        required=False,
        help_text=(
            "Validation errors: a list of messages per field; for a bulk request, the "
            "failed items' errors keyed by their index in the array."
        ),
    )
    request_id = serializers.CharField(
        required=False, help_text="The X-Request-ID of this request, for support and logs."
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always false.")
    error = ErrorSerializer()


DEFAULT_DESCRIPTIONS = {
    400: "Validation failed: `details` lists the messages for each bad field.",
    401: (
        "Not authenticated: `Missing or invalid authorization header`, `Token expired` or "
        "`Invalid token`."
    ),
    403: "Forbidden.",
    404: "Not found.",
    409: "Conflict with the current state of the resource.",
    413: "Request body too large (API_MAX_BODY_BYTES).",
    415: "Unsupported media type: send `Content-Type: application/json`.",
    429: "Too many requests: retry after the number of seconds in `Retry-After`.",
}

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds until the client's rate-limit window ends.",
    }
}


def error_responses(*codes: int | tuple[int, str]) -> dict[int, OpenApiResponse]:
    """`{status: envelope response}` for extend_schema; a (status, description) pair overrides
    the default description."""
    responses: dict[int, OpenApiResponse] = {}
    for item in codes:
        code, description = item if isinstance(item, tuple) else (item, DEFAULT_DESCRIPTIONS[item])
        responses[code] = OpenApiResponse(ErrorEnvelopeSerializer, description=description)
    return responses


class EnvelopeAutoSchema(AutoSchema):
    def _process_override_parameters(self, direction: Any = "request") -> Any:
        parameters = super()._process_override_parameters(direction)
        for (_, location), parameter in parameters.items():
            # Every multi-valued query filter is a comma list (beo_automation.pagination).
            if location == OpenApiParameter.QUERY and parameter["schema"].get("type") == "array":
                parameter["style"] = "form"
                parameter["explode"] = False
        return parameters

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema

    def _get_request_for_media_type(self, serializer: Any, direction: Any = "request") -> Any:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, serializers.ListSerializer) and isinstance(schema, dict):
            # DRF's ListSerializer has both; its stubs do not.
            min_length = getattr(serializer, "min_length", None)
            max_length = getattr(serializer, "max_length", None)
            if min_length is None and not serializer.allow_empty:
                min_length = 1
            if min_length is not None:
                schema["minItems"] = min_length
            if max_length is not None:
                schema["maxItems"] = max_length
        return schema, required

    def _requires_authentication(self) -> bool:
        permissions = getattr(self.view, "permission_classes", [])
        authenticators = getattr(self.view, "authentication_classes", [])
        return bool(authenticators) and not any(
            isinstance(p, type) and issubclass(p, AllowAny) for p in permissions
        )

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        implied: list[int] = []
        if self._requires_authentication():
            implied.append(401)
        if self.method in {"POST", "PUT", "PATCH"}:
            implied.append(413)
        if rate_limited_path(self.path):
            implied.append(429)
        for code, response in error_responses(*implied).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    response, str(code), direction=direction
                )
        if "429" in responses:
            responses["429"].setdefault("headers", {}).update(RETRY_AFTER_HEADER)
        return responses
