"""The Redis connection for request metrics and alert bookkeeping (shared by every process)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.lru_cache(maxsize=8)
def _client(url: str, timeout: float) -> redis.Redis:
    # redis-py's pool notices a fork and reconnects: safe in gunicorn and Celery children.
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def redis_client(*, timeout: float | None = None) -> redis.Redis | None:
    """A client for REDIS_URL, or None without Redis (the embedded default)."""
    if not settings.REDIS_URL:
        return None
    return _client(
        settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT if timeout is None else timeout
    )


def redis_client_for(url: str, *, timeout: float) -> redis.Redis:
    return _client(url, timeout)


def alerts_key(*parts: object) -> str:
    """A Redis key under this deployment's (or test run's) prefix."""
    return ":".join([settings.ALERTS_KEY_PREFIX, *(str(p) for p in parts)])
