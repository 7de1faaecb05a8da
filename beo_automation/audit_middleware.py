"""django-auditlog's middleware with the project's idea of the client address."""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.http import HttpRequest

from beo_automation.ratelimit import request_client_ip


class AuditlogMiddleware(BaseAuditlogMiddleware):
    """The client IP as the rate limiter sees it (trusted proxies only), not a raw
    X-Forwarded-For anyone can forge."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return request_client_ip(request) or None
