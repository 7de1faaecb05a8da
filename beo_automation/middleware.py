"""Request-scoped middleware: request id, API body limit, API exception envelope."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.urls import Resolver404, resolve, reverse

from beo_automation.errors import (
    ErrorDescription,
    PayloadTooLargeError,
    describe_or_log,
    is_api_request,
    json_error_response,
)
from beo_automation.ratelimit import request_client_ip

REQUEST_ID_HEADER = "X-Request-ID"
# Short and safe to echo into headers and logs: no spaces, quotes or control characters.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

GetResponse = Callable[[HttpRequest], HttpResponse]


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str | None:
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return None


class RequestIdMiddleware:
    """Accept a valid client X-Request-ID or generate one; expose it and echo it back.

    django-structlog's RequestMiddleware (next in the chain) reads the header we normalise
    here and binds it to every log line of the request and to tasks the request enqueues.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.META.get("HTTP_X_REQUEST_ID")) or new_request_id()
        request.META["HTTP_X_REQUEST_ID"] = request_id
        request.__dict__.pop("headers", None)  # rebuild request.headers from the cleaned META
        request.request_id = request_id  # type: ignore[attr-defined]
        request.started_at = time.perf_counter()  # type: ignore[attr-defined]
        # django-structlog binds request_id and user_id next, and clears them all at the end.
        structlog.contextvars.bind_contextvars(ip=request_client_ip(request))
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class ApiBodySizeLimitMiddleware:
    """Refuse API bodies over API_MAX_BODY_BYTES with 413 before reading them."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return json_error_response(
                    request,
                    ErrorDescription(
                        413,
                        f"{PayloadTooLargeError.default_message} "
                        f"({length} bytes, limit {limit} bytes)",
                    ),
                )
        return self.get_response(request)


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, except that an unsafe request to an /api/ path without its trailing slash is
    not redirected (a redirect drops the body, and with DEBUG on Django raises a RuntimeError
    instead): it gets the 404 envelope like any unknown API path."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if is_api_request(request) and request.method not in {"GET", "HEAD"}:
            return False
        return bool(super().should_redirect_with_slash(request))


ADMIN_ERROR_FLAG = "e"  # django.contrib.admin.views.main.ERROR_FLAG


class AdminQueryNulMiddleware:
    """A NUL character in an admin query string (a changelist filter or search, `?q=%00`)
    reaches PostgreSQL, which refuses NUL in text: the page would be a 500. A changelist
    answers it as Django's admin answers any bad lookup, with a redirect to `?e=1` (the
    unfiltered list); any other admin page with a 400."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.prefix is None:
            self.prefix = reverse("admin:index")
        if request.path.startswith(self.prefix) and _has_nul(request):
            try:
                url_name = resolve(request.path_info).url_name or ""
            except Resolver404:
                url_name = ""
            if url_name.endswith("_changelist"):
                return HttpResponseRedirect(f"{request.path}?{ADMIN_ERROR_FLAG}=1")
            return HttpResponseBadRequest("NUL characters are not allowed in the query string.")
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in request.GET.lists()
    )


class ApiExceptionMiddleware:
    """Exceptions from non-DRF views under /api/ get the same envelope as DRF views."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if not is_api_request(request):
            return None
        return json_error_response(request, describe_or_log(exception, request))
