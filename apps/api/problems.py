"""RFC 9457 problem+json for every API error, with a stable machine-readable `code`."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.urls import is_valid_path
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"

_DRF_CODES = [
    (exceptions.ParseError, "MALFORMED_REQUEST", "Malformed request body"),
    (exceptions.ValidationError, "VALIDATION_ERROR", "Invalid input"),
    (exceptions.NotAuthenticated, "UNAUTHENTICATED", "Authentication required"),
    (exceptions.AuthenticationFailed, "UNAUTHENTICATED", "Authentication failed"),
    (exceptions.PermissionDenied, "FORBIDDEN", "Not allowed"),
    (exceptions.NotFound, "NOT_FOUND", "Not found"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE", "Not acceptable"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    (exceptions.Throttled, "RATE_LIMITED", "Too many requests"),
]


def _problem(*, status: int, code: str, title: str, detail: str, instance: str = "", errors=None) -> dict:
    body = {"type": f"/problems/{code.lower().replace('_', '-')}", "title": title, "status": status,
            "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def problem_response(*, status: int, code: str, title: str, detail: str, instance: str = "", errors=None, headers=None):
    return Response(_problem(status=status, code=code, title=title, detail=detail, instance=instance, errors=errors),
                    status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# Django's handlers for what never reaches a view (no route matched, an unhandled error): under /api/ a client reads
# problem+json there too, not the site's HTML page.
def not_found(request, exception):
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    detail = f"No API endpoint at {request.path}; the endpoints are listed at /api/docs/."
    if not request.path.endswith("/") and is_valid_path(f"{request.path_info}/", getattr(request, "urlconf", None)):
        detail = f"No API endpoint at {request.path}; did you mean {request.path}/ (every address ends with a slash)?"
    return JsonResponse(_problem(status=404, code="NOT_FOUND", title="Not found", instance=request.get_full_path(),
                                 detail=detail),
                        status=404, content_type=PROBLEM_CONTENT_TYPE)


def server_error(request):
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return JsonResponse(_problem(status=500, code="INTERNAL_ERROR", title="Internal error", instance=request.get_full_path(),
                                 detail="The request failed on our side; retry it later (a POST with the same "
                                        "Idempotency-Key runs once)."),
                        status=500, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(detail, path=""):
    """DRF's nested validation detail → [{"field": "rows.3.date", "message": "..."}]."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _flatten(value, f"{path}.{key}" if path else str(key))]
    if isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            return [{"field": path or None, "message": str(item), "code": getattr(item, "code", None)} for item in detail]
        return [e for i, item in enumerate(detail) for e in _flatten(item, f"{path}.{i}" if path else str(i))]
    return [{"field": path or None, "message": str(detail), "code": getattr(detail, "code", None)}]


def problem_exception_handler(exc, context):
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
    if isinstance(exc, DomainError):
        return problem_response(status=exc.status, code=exc.code, title=exc.title, detail=exc.message,
                                instance=instance, errors=[{**error, "code": error.get("code")} for error in exc.errors])
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code, title = next(((c, t) for cls, c, t in _DRF_CODES if isinstance(exc, cls)), ("ERROR", "Request failed"))
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors[:5])
        # One rule of the domain refused it (RECEIVED_BEFORE_LOAN, say): its code, as when a service raises it.
        domain_codes = {e["code"] for e in errors if e["code"] and e["code"].isupper()}
        if len(domain_codes) == 1 and len(errors) == 1:
            code = domain_codes.pop()
    else:
        errors = None
        detail = str(exc.detail)
        if isinstance(exc, exceptions.NotAuthenticated) and request is not None and "Authorization" in request.headers:
            # The token was sent but not accepted (DRF's message would say none was provided).
            detail = "The access token is invalid or has expired; request a new one at /o/token/."
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
    return problem_response(status=response.status_code, code=code, title=title, detail=detail,
                            instance=instance, errors=errors, headers=headers)
