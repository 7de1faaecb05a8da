"""django-auditlog's middleware with the project's idea of the client address, and a request's
audit context that ends with the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditlog.cid import correlation_id
from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.http import HttpRequest, HttpResponseBase

from beo_automation.ratelimit import request_client_ip


class AuditlogMiddleware(BaseAuditlogMiddleware):
    get_response: Callable[[HttpRequest], HttpResponseBase]

    def get_extra_data(self, request: HttpRequest) -> dict[str, Any]:
        # The client IP as the rate limiter sees it (trusted proxies only), not a raw
        # X-Forwarded-For anyone can forge; the forwarded port is just as forgeable.
        data: dict[str, Any] = super().get_extra_data(request)
        data["remote_addr"] = request_client_ip(request) or None
        data["remote_port"] = None
        return data

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # auditlog leaves the last request's actor, address and request id in its context
        # variables after the request; code that runs later in the same thread without a
        # request (a command, a test) would record them as its own. Restore what was there.
        context, cid = auditlog_value.set({}), correlation_id.set(None)
        try:
            response: HttpResponseBase = super().__call__(request)
            return response
        finally:
            correlation_id.reset(cid)
            auditlog_value.reset(context)
