"""Per-client-IP rate limits on the API, counted in the shared cache.

Two limits, both keyed by the client's IP address:
- RATELIMIT_API on every /api/ request except the public probes and the API docs, enforced by
  ApiRateLimitMiddleware *before* authentication, so a flood of bad tokens or unknown paths
  counts too;
- RATELIMIT_LOGIN on the token endpoints (`login_rate_limit_enforce`, called by their views),
  on top of the API limit: password guessing gets far fewer tries than ordinary calls.

Over a limit the client gets the 429 envelope "Too many requests" with `Retry-After` (seconds
until its window ends).

The counter is this module's own, a fixed window per client, group and rate, in the default
cache (Redis when REDIS_URL is set, so every gunicorn worker and every host sees the same
count). On Redis a hit is one atomic Lua call (INCR, and EXPIRE when the window starts) on
django-redis's client: django-ratelimit's public `get_usage` takes two round trips (add, then
incr), and under load that second wait shows in the API's throughput (bench/ratelimit.py
measures both). Other caches count with the cache API's add and incr (the embedded default's
local-memory cache, one process).

If the cache is unreachable the request is let through and an error is logged: ingestion must
not stop because the rate limiter's store is down (the health check reports the cache).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import time
import zlib
from collections.abc import Callable

import redis
import structlog
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis.commands.core import Script

from beo_automation.errors import TooManyRequests, describe_exception, json_error_response
from beo_automation.ratelimit_config import rate_split

logger = structlog.get_logger(__name__)

API_GROUP = "api"
LOGIN_GROUP = "login"

# Public and never limited: probes must always answer, and the docs are static reading.
EXEMPT_PREFIXES = ("/api/health/", "/api/schema/", "/api/docs/")
API_PREFIX = "/api/"

# A counter outlives its window by a few seconds, so a hit at the window's last second still
# finds it.
EXPIRY_SLACK = 5

# One hit: the window's counter, created with its expiry on the window's first hit.
WINDOW_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


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


@dataclasses.dataclass(frozen=True)
class RateLimitUsage:
    count: int  # this request included
    limit: int
    seconds_left: int  # until the window ends

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


def window_end(value: str, period: int, *, now: int) -> int:
    """The epoch second at which `value`'s current window of `period` seconds ends. Windows are
    offset per client, so that not every client's budget refills in the same second."""
    end = now - now % period + zlib.crc32(value.encode()) % period
    return end if end >= now else end + period


@functools.lru_cache(maxsize=8)
def _window_hit(client: redis.Redis) -> Script:
    return client.register_script(WINDOW_HIT)


def _count(key: str, *, timeout: int) -> int:
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = get_redis_connection("default")
        return int(_window_hit(client)(keys=[cache.make_and_validate_key(key)], args=[timeout]))
    cache.add(key, 0, timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between the two calls: a new window, this its first hit
        return 1


def rate_limit_usage(request: HttpRequest, *, group: str, rate: str) -> RateLimitUsage:
    """Count this request in its client's current window for `group` at `rate`."""
    limit, period = rate_split(rate)
    value = request_client_ip(request)
    now = int(time.time())
    end = window_end(value, period, now=now)
    key = f"{settings.RATELIMIT_CACHE_PREFIX}{group}:{limit}/{period}:{value}:{end}"
    count = _count(key, timeout=period + EXPIRY_SLACK)
    return RateLimitUsage(count=count, limit=limit, seconds_left=end - now)


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
    if usage.exceeded:
        if usage.count == usage.limit + 1:
            # Once per client and window: a flood must not become a flood of log lines.
            logger.warning(
                "Rate limit exceeded",
                group=group,
                client_ip=request_client_ip(request),
                limit=usage.limit,
                path=request.path,
            )
        raise TooManyRequests(retry_after=max(1, usage.seconds_left))


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
