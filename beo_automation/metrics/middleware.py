"""Request metrics middleware: duration and status of every request, for alerts and /metrics.

First in MIDDLEWARE, so the time measured covers the whole middleware chain and the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from beo_automation.metrics.requests import METHODS, RequestSample, request_record


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request (bounded label values), not the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return str(match.route)
    static = "/" + str(settings.STATIC_URL).lstrip("/")
    if request.path.startswith(static):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration = time.perf_counter() - started
        method = request.method if request.method in METHODS else "OTHER"
        excluded = any(request.path.startswith(p) for p in settings.METRICS_EXCLUDE_PATHS)
        request_record(
            RequestSample(
                method=method or "OTHER",
                route=route_of(request),
                status=response.status_code,
                duration_s=duration,
                in_window=not excluded,
            )
        )
        return response
