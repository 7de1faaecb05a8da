"""X-Request-ID: generated or accepted, echoed, on every log line of a request and its tasks."""

from __future__ import annotations

import re
import uuid

import pytest

from beo_automation.ratelimit_config import parse_networks

# Registers the tests.log_marker task before any celery_worker starts: a worker knows only the
# tasks registered when it starts, and the URLconf is otherwise imported by the first request.
from tests.beo_automation import urls as _test_urls  # noqa: F401
from tests.logs import log_lines, wait_for_line

pytestmark = pytest.mark.django_db


def test_a_request_id_is_generated_when_missing(client):
    response = client.get("/api/health/live/")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_valid_client_request_id_is_used_and_echoed(client):
    response = client.get("/api/health/live/", HTTP_X_REQUEST_ID="booking-42.retry:1")
    assert response["X-Request-ID"] == "booking-42.retry:1"


@pytest.mark.parametrize(
    "bad",
    ["has space", 'quote"d', "x" * 65, "<script>", "-leading-dash", "line\nbreak"],
)
def test_an_unsafe_client_request_id_is_replaced(client, bad):
    response = client.get("/api/health/live/", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_the_access_line_carries_request_id_and_timing(client):
    request_id = f"access-{uuid.uuid4().hex[:8]}"
    client.get("/api/health/live/", HTTP_X_REQUEST_ID=request_id)
    line = wait_for_line(
        lambda entry: entry.get("request_id") == request_id and entry["event"] == "request_finished"
    )
    assert line["level"] == "http"
    assert line["method"] == "GET"
    assert line["path"] == "/api/health/live/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float | int)
    assert "user_id" in line
    assert line["service"] == "beo-automation"
    assert line["environment"] == "test"
    assert line["timestamp"].endswith("Z")


def test_the_access_line_names_the_authenticated_user(auth_client, user):
    request_id = f"user-{uuid.uuid4().hex[:8]}"
    auth_client.get("/api/health/live/", HTTP_X_REQUEST_ID=request_id)
    line = wait_for_line(
        lambda entry: entry.get("request_id") == request_id and entry["event"] == "request_finished"
    )
    # The liveness view does not authenticate, so no user is attached there.
    assert line["user_id"] is None


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [([], "203.0.113.9"), (["203.0.113.0/24"], "198.51.100.7")],
)
def test_the_access_line_ip_believes_forwarded_for_only_from_trusted_proxies(
    client, settings, trusted, expected
):
    settings.TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", trusted)
    request_id = f"ip-{uuid.uuid4().hex[:8]}"
    client.get(
        "/api/health/live/",
        HTTP_X_REQUEST_ID=request_id,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    line = wait_for_line(
        lambda entry: entry.get("request_id") == request_id and entry["event"] == "request_finished"
    )
    assert line["ip"] == expected


@pytest.mark.redis
@pytest.mark.urls("tests.beo_automation.urls")
def test_a_task_enqueued_by_a_request_logs_with_its_request_id(celery_worker, client):
    request_id = f"task-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    response = client.post(
        "/api/test/enqueue/",
        {"marker": marker},
        content_type="application/json",
        HTTP_X_REQUEST_ID=request_id,
    )
    assert response.status_code == 202
    line = wait_for_line(lambda entry: entry.get("marker") == marker, timeout=20)
    assert line["request_id"] == request_id
    assert line["event"] == "task log line"
    # The worker's own lifecycle lines for that task carry it too.
    started = wait_for_line(
        lambda entry: entry.get("event") == "task_started" and entry.get("request_id") == request_id
    )
    assert started["task"] == "tests.log_marker"


def test_every_line_logged_during_a_request_has_its_request_id(client):
    request_id = f"all-{uuid.uuid4().hex[:8]}"
    client.get("/api/does-not-exist/", HTTP_X_REQUEST_ID=request_id)
    mine = [line for line in log_lines() if line.get("request_id") == request_id]
    assert mine, "the request logged nothing"
    assert all(line["request_id"] == request_id for line in mine)
