"""The request metrics middleware: what it records, what it leaves out, and that a Redis
outage never costs a request."""

from __future__ import annotations

import time

import pytest

from beo_automation.metrics import requests as request_metrics
from beo_automation.metrics.requests import request_counters, request_window
from tests.alerts.helpers import send

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def test_each_request_lands_in_the_current_minute_bucket(probe_client):
    send(probe_client, "/probe/slow/?ms=20", 2)
    send(probe_client, "/probe/broken/", 1)

    window = request_window(minutes=1)

    assert window is not None
    assert window.avg_ms is not None
    assert window.requests == 3
    assert window.errors == 1
    assert window.avg_ms >= 20 * 2 / 3


def test_the_route_pattern_is_the_label_not_the_raw_path(probe_client):
    probe_client.get("/probe/slow/?ms=1")
    probe_client.get("/no/such/page/")

    routes = {route for _, route, _ in request_counters().requests}

    assert "probe/slow/" in routes
    assert "unmatched" in routes
    assert not any("no/such" in r for r in routes)


def test_unusual_methods_share_one_label(probe_client):
    probe_client.generic("BREW", "/probe/ok/")
    assert {m for m, _, _ in request_counters().requests} == {"OTHER"}


def test_a_redis_outage_never_fails_or_slows_a_request(probe_client, settings, monkeypatch):
    monkeypatch.setattr(request_metrics, "_suspended_until", 0.0)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    dropped_before = request_metrics.dropped_samples()

    started = time.monotonic()
    responses = [probe_client.get("/probe/ok/") for _ in range(20)]
    elapsed = time.monotonic() - started

    assert {r.status_code for r in responses} == {200}
    assert elapsed < 5  # requests only count in memory; Redis is the flusher's business
    assert request_metrics.request_metrics_flush() == 0
    assert request_metrics.dropped_samples() - dropped_before == 20
    # After a failed flush the next ones do not even try for a while.
    probe_client.get("/probe/ok/")
    started = time.monotonic()
    request_metrics.request_metrics_flush()
    assert time.monotonic() - started < 0.1


def test_counts_reach_redis_within_a_second_without_anyone_asking(probe_client):
    from alerts.redis_client import alerts_key, redis_client

    send(probe_client, "/probe/ok/", 4)
    client = redis_client()
    assert client is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if client.hget(alerts_key("http_requests"), '["GET", "probe/ok/", "200"]') == b"4":
            return
        time.sleep(0.1)
    raise AssertionError("the background flusher did not write the counts")


def test_without_redis_the_process_keeps_its_own_counts(probe_client, settings):
    settings.REDIS_URL = ""
    before = request_counters().requests.get(("GET", "probe/ok/", "200"), 0)
    send(probe_client, "/probe/ok/", 3)
    assert request_counters().requests[("GET", "probe/ok/", "200")] == before + 3
    assert request_window() is None  # not shared: the evaluation says "not measured"
