"""List pages cached per user, as the operations guide's caching strategy asks, never stale.

A page is stored under `events:list:<scope>:<version>:<query digest>` where scope is the
owner's id (or events.cache.GLOBAL for staff, who see everyone's events) and version is that
scope's current list version. Every write to an owner's events — API, admin, workers' claims
and outcomes — replaces the owner's and the global version after its transaction commits
(events.cache.events_changed), so a page cached before the write can no longer be found: the
TTL (EVENT_LIST_CACHE_TTL) only bounds how long unreachable pages occupy memory.

The version is read *before* the page is built: a page built from pre-commit data is stored
under the old version, which the commit's bump has already made unreachable.

The cache is an optimisation: if it is unreachable the page is built from the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
import structlog
from django.conf import settings
from django.core.cache import cache

from events.cache import events_list_version

logger = structlog.get_logger(__name__)

T = TypeVar("T")

CACHE_ERRORS = (redis.RedisError, OSError)


def _digest(params: Mapping[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def list_page_cached(*, scope: int | str, params: Mapping[str, Any], build: Callable[[], T]) -> T:
    """The cached page for (scope, params), or `build()` stored for EVENT_LIST_CACHE_TTL."""
    ttl = settings.EVENT_LIST_CACHE_TTL
    if ttl <= 0:
        return build()
    try:
        key = f"events:list:{scope}:{events_list_version(scope=scope)}:{_digest(params)}"
        cached = cache.get(key)
    except CACHE_ERRORS as exc:
        logger.warning("Event list cache unavailable", error=f"{type(exc).__name__}: {exc}")
        return build()
    if cached is not None:
        return cached
    page = build()
    try:
        cache.set(key, page, timeout=ttl)
    except CACHE_ERRORS as exc:
        logger.warning("Event list cache unavailable", error=f"{type(exc).__name__}: {exc}")
    return page
