"""Event list pages cached per user, never stale: the pages and the versions that retire them.

A page is stored under `events:list:<scope>:<version>:<query digest>`, where scope is the
owner's id (or GLOBAL for staff, who see everyone's events) and version is that scope's current
list version. Every write to an owner's events — API, admin, workers' claims and outcomes,
the archival — calls events_changed, which replaces the owner's and the global version after
its transaction commits, so a page cached before the write can no longer be found: the TTL
(EVENT_LIST_CACHE_TTL) only bounds how long unreachable pages occupy memory.

The version is read *before* the page is built: a page built from pre-commit data is stored
under the old version, which the commit's bump has already made unreachable.

The cache is an optimisation: if it is unreachable the page is built from the database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis
import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = structlog.get_logger(__name__)

T = TypeVar("T")

GLOBAL = "all"
CACHE_ERRORS = (redis.RedisError, OSError)


def _version_key(scope: int | str) -> str:
    return f"events:list-version:{scope}"


def events_list_version(*, scope: int | str) -> str:
    """The current version for an owner id (or GLOBAL); created on first use."""
    key = _version_key(scope)
    version = cache.get(key)
    if version is None:
        version = uuid.uuid4().hex
        # add(): when two readers race, both end up with the value that won.
        if not cache.add(key, version, timeout=None):
            version = cache.get(key) or version
    return str(version)


def events_new_versions(*, owner_ids: Iterable[int]) -> dict[str, str]:
    """The cache writes that invalidate these owners' lists and the staff lists (none for no
    owners). Written only after the change commits: see events_changed."""
    scopes: list[int | str] = sorted(set(owner_ids))
    if not scopes:
        return {}
    scopes.append(GLOBAL)
    return {_version_key(scope): uuid.uuid4().hex for scope in scopes}


def events_changed(*, owner_ids: Iterable[int]) -> None:
    """Invalidate the cached lists of these owners (and the staff lists) after commit."""
    versions = events_new_versions(owner_ids=owner_ids)
    if not versions:
        return

    def bump() -> None:
        cache.set_many(versions, timeout=None)

    transaction.on_commit(bump, robust=True)


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
