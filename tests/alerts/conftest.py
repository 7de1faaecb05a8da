"""Alerts tests: each test gets its own Redis key prefix and no notification channels unless
it configures a local receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.alerts.receiver import Receiver


@pytest.fixture(autouse=True)
def alerts_isolated(settings) -> Iterator[str]:
    """Redis keys of this test's own (request buckets, counters, held alerts). Yields the
    CACHE_KEY_PREFIX a child process (gunicorn, manage.py) needs to share them."""
    from alerts.redis_client import redis_client

    cache_prefix = f"{settings.CACHE_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"
    # What settings.py derives from CACHE_KEY_PREFIX in a child started with cache_prefix.
    settings.ALERTS_KEY_PREFIX = f"{cache_prefix}:alerts"
    settings.ALERT_NOTIFY_URLS = ""
    # Evaluations in tests sample CPU briefly; the production default is 1 s.
    settings.ALERT_CPU_SAMPLE_SECONDS = 0.1
    # ...and ping the workers briefly (no worker runs in most tests; production: 1 s).
    settings.WORKERS_PING_TIMEOUT = 0.2
    yield cache_prefix
    from beo_automation.metrics.requests import request_metrics_flush

    request_metrics_flush()  # so nothing of this test lands after its keys are gone
    client = redis_client()
    if client is not None:
        try:
            keys = list(client.scan_iter(match=f"{cache_prefix}:alerts:*", count=500))
            if keys:
                client.delete(*keys)
        except Exception:  # noqa: BLE001,S110 - a test that took Redis away
            pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def channel(settings, receiver) -> Receiver:
    """One notification channel: Apprise's JSON webhook to the local receiver."""
    settings.ALERT_NOTIFY_URLS = receiver.url()
    return receiver


@pytest.fixture
def probe_client(client, settings):
    """The test client on the probe URLs (tests/alerts/urls.py), with the real middleware."""
    settings.ROOT_URLCONF = "tests.alerts.urls"
    client.raise_request_exception = False
    return client
