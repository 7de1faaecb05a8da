"""One error envelope for the whole API, produced in one place.

Every error under /api/ is
    {"success": false, "error": {"code": <status>, "message": "...", "details"?: {...},
                                 "request_id": "..."}}
Typed exceptions are raised anywhere (services, views, middleware); `describe_exception`
turns any exception into (status, message, details, headers), and the DRF exception handler,
the API middleware and the 404/500 handlers all render through it. Unknown exceptions give a
bare "Internal server error": never a message, class name or trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.views import csrf, defaults
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from beo_automation.renderers import JSONRenderer

logger = structlog.get_logger(__name__)

API_PREFIX = "/api/"
INTERNAL_ERROR_MESSAGE = "Internal server error"


class AppError(Exception):
    """An error whose message is safe to show to the API client."""

    status_code = 500
    default_message = INTERNAL_ERROR_MESSAGE

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}
        super().__init__(self.message)


class ValidationError(AppError):
    status_code = 400
    default_message = "Validation failed"


class UnauthorizedError(AppError):
    status_code = 401
    default_message = "Unauthorized"


class ForbiddenError(AppError):
    status_code = 403
    default_message = "Forbidden"


class NotFoundError(AppError):
    status_code = 404
    default_message = "Not found"

    def __init__(self, resource: str | None = None, *, message: str | None = None) -> None:
        super().__init__(message or (f"{resource} not found" if resource else None))


class ConflictError(AppError):
    status_code = 409
    default_message = "Conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    default_message = "Request body too large"


class TooManyRequests(AppError):  # noqa: N818 - the name the API contract uses
    status_code = 429
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(max(1, retry_after))} if retry_after is not None else None
        super().__init__(message, headers=headers)


class InternalServerError(AppError):
    status_code = 500
    default_message = INTERNAL_ERROR_MESSAGE


@dataclasses.dataclass(frozen=True)
class ErrorDescription:
    status: int
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _plain(detail: Any) -> Any:
    """DRF ErrorDetail trees to plain JSON (str, list, dict)."""
    if isinstance(detail, Mapping):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list | tuple):
        return [_plain(v) for v in detail]
    return str(detail)


def validation_details(detail: Any) -> dict[str, Any]:
    """Field errors as {"field": ["message", ...]}; a list body's errors keyed by index."""
    plain = _plain(detail)
    if isinstance(plain, dict):
        return {k: v if isinstance(v, list | dict) else [v] for k, v in plain.items()}
    if isinstance(plain, list):
        if plain and all(isinstance(item, dict | list) for item in plain):
            # A list serializer: keep only the items that failed, keyed by their index.
            return {str(i): item for i, item in enumerate(plain) if item}
        return {"non_field_errors": plain}
    return {"non_field_errors": [plain]}


def describe_exception(exc: BaseException) -> ErrorDescription | None:
    """Map a known exception to what the client may see; None for an unknown one."""
    if isinstance(exc, AppError):
        return ErrorDescription(exc.status_code, exc.message, exc.details, exc.headers)
    if isinstance(exc, Ratelimited):
        return ErrorDescription(429, TooManyRequests.default_message)
    if isinstance(exc, drf.ValidationError):
        return ErrorDescription(400, "Validation failed", validation_details(exc.detail))
    if isinstance(exc, drf.ParseError):
        return ErrorDescription(400, "Malformed JSON request body")
    if isinstance(exc, drf.Throttled):
        wait = getattr(exc, "wait", None)
        headers = {"Retry-After": str(int(wait))} if wait is not None else {}
        return ErrorDescription(429, TooManyRequests.default_message, headers=headers)
    if isinstance(exc, drf.NotAuthenticated):
        headers = _auth_header(exc)
        return ErrorDescription(401, "Missing or invalid authorization header", headers=headers)
    if isinstance(exc, drf.APIException):
        headers = _auth_header(exc)
        message = exc.detail if isinstance(exc.detail, str) else exc.default_detail
        return ErrorDescription(exc.status_code, str(message), headers=headers)
    if isinstance(exc, Http404):
        return ErrorDescription(404, "Not found")
    if isinstance(exc, DjangoPermissionDenied):
        return ErrorDescription(403, "Forbidden")
    if isinstance(exc, RequestDataTooBig):
        return ErrorDescription(413, PayloadTooLargeError.default_message)
    if isinstance(exc, SuspiciousOperation):
        return ErrorDescription(400, "Bad request")
    return None


def _auth_header(exc: drf.APIException) -> dict[str, str]:
    header = getattr(exc, "auth_header", None)
    return {"WWW-Authenticate": header} if header else {}


def request_id_of(request: HttpRequest | None) -> str | None:
    return getattr(request, "request_id", None) if request is not None else None


def envelope(
    *, status: int, message: str, details: Mapping[str, Any] | None, request_id: str | None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message}
    if details:
        error["details"] = dict(details)
    if request_id:
        error["request_id"] = request_id
    return {"success": False, "error": error}


def describe_or_log(exc: BaseException, request: HttpRequest | None) -> ErrorDescription:
    described = describe_exception(exc)
    if described is None:
        logger.error(
            "Unhandled exception",
            path=request.path if request is not None else None,
            method=request.method if request is not None else None,
            exc_info=exc,
        )
        return ErrorDescription(500, INTERNAL_ERROR_MESSAGE)
    if described.status >= 500:
        logger.error(
            "Server error",
            path=request.path if request is not None else None,
            method=request.method if request is not None else None,
            status=described.status,
            exc_info=exc,
        )
    return described


def json_error_response(request: HttpRequest | None, described: ErrorDescription) -> HttpResponse:
    # The API's renderer, as DRF views use: whatever the details echo renders as valid JSON.
    body = envelope(
        status=described.status,
        message=described.message,
        details=described.details,
        request_id=request_id_of(request),
    )
    response = HttpResponse(
        JSONRenderer().render(body), status=described.status, content_type="application/json"
    )
    for name, value in described.headers.items():
        response[name] = value
    return response


def api_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception raised in an API view becomes the envelope."""
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    described = describe_or_log(exc, django_request)
    set_rollback()
    return Response(
        envelope(
            status=described.status,
            message=described.message,
            details=described.details,
            request_id=request_id_of(django_request),
        ),
        status=described.status,
        headers=described.headers,
    )


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(request, ErrorDescription(404, "Not found"))
    return defaults.page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(request, ErrorDescription(500, INTERNAL_ERROR_MESSAGE))
    return defaults.server_error(request)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(request, ErrorDescription(403, "Forbidden"))
    return defaults.permission_denied(request, exception or DjangoPermissionDenied())


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(request, ErrorDescription(400, "Bad request"))
    return defaults.bad_request(request, exception or SuspiciousOperation())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: under /api/ the envelope (API views use no cookies, so a CSRF check
    there only meets paths no view serves); elsewhere Django's page."""
    if is_api_request(request):
        return json_error_response(request, ErrorDescription(403, "Forbidden"))
    return csrf.csrf_failure(request, reason=reason)
