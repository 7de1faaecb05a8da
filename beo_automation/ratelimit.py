"""Per-client-IP rate limits on the API, counted by django-ratelimit in the shared cache.

Two limits, both keyed by the client's IP address:
- RATELIMIT_API on every /api/ request except the public probes and the API docs, enforced by
  ApiRateLimitMiddleware *before* authentication, so a flood of bad tokens or unknown paths
  counts too;
- RATELIMIT_LOGIN on the token endpoints (`login_rate_limit_enforce`, called by their views),
  on top of the API limit: password guessing gets far fewer tries than ordinary calls.

Over a limit the client gets the 429 envelope "Too many requests" with `Retry-After` (seconds
until its window ends). django-ratelimit counts, through its public `get_usage`, in fixed
windows in the cache RATELIMIT_USE_CACHE: with REDIS_URL, Redis through django-redis (a backend
it supports), so every gunicorn worker and every host sees the same count.

If the cache is unreachable the request is let through and an error is logged: ingestion must
not stop because the rate limiter's store is down (the health check reports the cache).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import redis
import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from beo_automation.errors import TooManyRequests, describe_exception, json_error_response

logger = structlog.get_logger(__name__)

API_GROUP = "api"
LOGIN_GROUP = "login"

# Public and never limited: probes must always answer, and the docs are static reading.
EXEMPT_PREFIXES = ("/api/health/", "/api/schema/", "/api/docs/")
API_PREFIX = "/api/"


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`."""
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The client's address: the direct peer, unless that peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right (the hop our proxy appended)
    leftwards, skipping trusted proxies; the first address that is not one is the client.
    Entries left of it were written by the client itself and are never believed.
    """
    peer = request.META.get("REMOTE_ADDR") or ""
    peer_ip = _parse_ip(peer)
    if peer_ip is None or not settings.TRUSTED_PROXIES or not _trusted(peer_ip):
        return str(peer_ip) if peer_ip is not None else peer
    client = peer_ip
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            # Garbage where a trusted proxy should have written an address: stop at the last
            # address a trusted proxy vouched for (conservative: it shares that proxy's bucket).
            break
        client = hop_ip
        if not _trusted(hop_ip):
            break
    return str(client)


def request_client_ip(request: HttpRequest) -> str:
    """client_ip(), computed once per request (logging and the rate limiter both need it)."""
    cached: str | None = getattr(request, "_client_ip", None)
    if cached is None:
        cached = client_ip(request)
        request._client_ip = cached  # type: ignore[attr-defined]
    return cached


def _client_ip_key(group: str, request: HttpRequest) -> str:
    return request_client_ip(request)


def rate_limit_usage(request: HttpRequest, *, group: str, rate: str) -> dict[str, Any] | None:
    """Count this request in its client's window: django-ratelimit's usage dict (count, limit,
    should_limit, time_left), or None when it let the request through uncounted."""
    usage: dict[str, Any] | None = get_usage(
        request, group=group, key=_client_ip_key, rate=rate, increment=True
    )
    return usage


def rate_limit_enforce(request: HttpRequest, *, group: str, rate: str) -> None:
    """Count this request against `group` for its client IP; TooManyRequests over the rate."""
    if not settings.RATELIMIT_ENABLE:
        return
    try:
        usage = rate_limit_usage(request, group=group, rate=rate)
    except (redis.RedisError, OSError) as exc:
        logger.error(
            "Rate limit not enforced: the cache is unreachable",
            group=group,
            error=f"{type(exc).__name__}: {exc}",
        )
        return
    if usage is not None and usage["should_limit"]:
        if usage["count"] == usage["limit"] + 1:
            # Once per client and window: a flood must not become a flood of log lines.
            logger.warning(
                "Rate limit exceeded",
                group=group,
                client_ip=request_client_ip(request),
                limit=usage["limit"],
                path=request.path,
            )
        raise TooManyRequests(retry_after=max(1, int(usage["time_left"])))


def login_rate_limit_enforce(request: HttpRequest) -> None:
    """The token endpoints' tighter limit (RATELIMIT_LOGIN), shared by obtain and refresh."""
    rate_limit_enforce(request, group=LOGIN_GROUP, rate=settings.RATELIMIT_LOGIN)


def rate_limited_path(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(EXEMPT_PREFIXES)


class ApiRateLimitMiddleware:
    """RATELIMIT_API per client IP on every /api/ path except health, schema and docs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if rate_limited_path(request.path_info):
            try:
                rate_limit_enforce(request, group=API_GROUP, rate=settings.RATELIMIT_API)
            except TooManyRequests as exc:
                described = describe_exception(exc)
                assert described is not None  # an AppError is always described
                return json_error_response(request, described)
        return self.get_response(request)
