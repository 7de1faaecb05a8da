"""Rate limiting, checked by driving the rate-limit middleware until it answers 429."""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import secrets

from django.conf import settings

from beo_automation.ratelimit_config import rate_split
from maintenance.services.security.result import CheckResult


def _rate_limit_middleware() -> type | None:
    for dotted in settings.MIDDLEWARE:
        if "ratelimit" in dotted.lower():
            module, _, name = dotted.rpartition(".")
            middleware: type = getattr(importlib.import_module(module), name)
            return middleware
    return None


def check_rate_limiting() -> CheckResult:
    from django.http import HttpResponse
    from django.test import RequestFactory

    if not getattr(settings, "RATELIMIT_ENABLE", False):
        return CheckResult(name="", status="fail", reason="RATELIMIT_ENABLE is off")
    middleware = _rate_limit_middleware()
    rate = getattr(settings, "RATELIMIT_API", None)
    if middleware is None or rate is None:
        throttles = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES")
        if throttles:
            return CheckResult(name="", status="pass", reason=f"DRF throttles: {throttles}")
        return CheckResult(
            name="", status="fail", reason="no rate-limit middleware and no DRF throttles"
        )
    limit, window = rate_split(rate)
    if limit > 2000:
        return CheckResult(
            name="",
            status="warn",
            reason=f"RATELIMIT_API={rate} is configured but too high to exercise here",
        )
    handler = middleware(lambda request: HttpResponse(status=200))
    factory = RequestFactory()
    # Twice at most: the counter's fixed window may end in the middle of the first burst (its
    # count starts again), which cannot happen twice in a row for bursts far shorter than it.
    for _burst in range(2):
        # A random address from the IPv6 documentation range: no real client shares its counter.
        address = str(
            ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8::")) + secrets.randbits(64))
        )
        for attempt in range(1, limit + 2):
            response = handler(factory.get("/api/events/", REMOTE_ADDR=address))
            if response.status_code == 429:
                cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
                result = CheckResult(
                    name="",
                    status="pass",
                    reason=f"RATELIMIT_API={rate} per client IP on /api/: request {attempt} from "
                    f"one address was refused with 429 (counters in {cache})",
                )
                if cache == "LocMemCache" and not settings.DEBUG:
                    return dataclasses.replace(
                        result,
                        status="warn",
                        reason=result.reason + "; a local-memory cache counts per process — set "
                        "REDIS_URL when running several processes",
                    )
                return result
    return CheckResult(
        name="",
        status="fail",
        reason=f"{limit + 1} requests from one address within {window} s were all let through "
        f"(RATELIMIT_API={rate}): is the cache reachable?",
    )
