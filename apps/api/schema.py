"""OpenAPI extras: OAuth2 scopes per operation, the Idempotency-Key header, problem+json errors,
and the paginated envelope of list endpoints."""

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers


class ApiClientOAuth2Scheme(DjangoOAuthToolkitScheme):
    """Our views name their scopes in `required_scopes` (checked by IsApiClient)."""

    priority = 1

    def get_security_requirement(self, auto_schema):
        return {self.name: list(getattr(auto_schema.view, "required_scopes", ()))}


def paginated(serializer_class, name: str):
    return inline_serializer(name=f"Paginated{name}", fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    })


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("page_size", int, description="Items per page (default 50, at most 500)"),
]

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string", "description": "Stable machine-readable code"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "row": {"type": "integer", "nullable": True}, "field": {"type": "string", "nullable": True},
            "message": {"type": "string"},
            "code": {"type": "string", "nullable": True,
                     "description": "Why, for a program: e.g. required, invalid, max_value, RECEIVED_BEFORE_LOAN"}}}},
    },
    "required": ["type", "title", "status", "detail", "code"],
}
_ERRORS = {
    "400": "Invalid input (row-level `errors` for imports)", "401": "Missing or invalid access token",
    "403": "The token lacks a scope, or the client may not call this", "404": "Unknown id, or another tenant's",
    "409": "Not allowed in the current state, or the Idempotency-Key is in flight",
    "422": "Idempotency-Key reused with a different request",
}
_IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 255},
    "description": "Retry-safe POST: the same key and body replays the stored response (Idempotent-Replayed: true); "
                   "a different body gets 422; a concurrent duplicate gets 409.",
}


def add_problems_and_idempotency(result, generator, request, public):
    """Postprocessing hook: document the header and the error responses every operation shares."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method == "post":
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
            for status, description in _ERRORS.items():
                operation["responses"].setdefault(status, {"description": description, "content": problem})
    return result
