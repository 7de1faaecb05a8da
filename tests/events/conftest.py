"""Fixtures for the events tests."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis


@pytest.fixture
def isolated_cache(settings: Any) -> Iterator[str]:
    """This test's own namespace in the shared cache (Redis when configured).

    Cached list pages and their versions would otherwise outlive the test's database: a later
    test could be served a page cached by an earlier one. The keys are removed afterwards (list
    versions never expire on their own).
    """
    caches = copy.deepcopy(settings.CACHES)
    prefix = f"{caches['default']['KEY_PREFIX']}:t{uuid.uuid4().hex[:12]}"
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches
    yield prefix
    if settings.REDIS_URL:
        # Straight to the server: the test may have pointed CACHES elsewhere.
        with redis.Redis.from_url(settings.REDIS_URL) as client:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
