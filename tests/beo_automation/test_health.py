"""GET /api/health/ (readiness), /api/health/live/ (liveness) and `manage.py health_check`."""

from __future__ import annotations

import json
import time
from typing import Any

import psutil
import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from beo_automation.health import health_report
from beo_automation.metrics.resources import disks_measure
from tests.redis_server import throwaway_redis
from tests.server import gunicorn
from tests.subprocess_env import manage

pytestmark = pytest.mark.django_db

CLOSED_PORT_DB = "postgres://postgres@127.0.0.1:1/beo_unreachable"


def test_health_is_200_with_every_check_ok(client):
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["timestamp"].endswith("+00:00")
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["latency_ms"] >= 0
    assert set(checks["memory"]) >= {"status", "rss_mb", "percent"}
    assert set(checks["diskSpace"]) >= {"status", "free_gb", "percent"}


@pytest.mark.redis
def test_health_includes_cache_and_broker_when_redis_is_configured(client):
    checks = client.get("/api/health/").json()["checks"]
    assert checks["cache"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok"
    assert checks["broker"]["latency_ms"] >= 0


def test_health_is_public_and_never_cached(client):
    response = client.get("/api/health/")
    assert "no-store" in response["Cache-Control"]


def test_a_disk_over_the_threshold_is_a_warning_and_a_503(client, settings):
    settings.HEALTH_DISK_WARN_PCT = 0.01
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["diskSpace"]["status"] == "warning"
    assert "disk usage" in body["checks"]["diskSpace"]["message"]
    assert body["checks"]["database"]["status"] == "ok"


def test_memory_over_the_threshold_is_a_warning_and_a_503(client, settings):
    settings.HEALTH_MEMORY_WARN_PCT = 0.01
    response = client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["memory"]["status"] == "warning"


@pytest.mark.redis
def test_an_unreachable_broker_is_an_error_within_the_timeout(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    response = client.get("/api/health/")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["status"] == "error"
    assert "Unable to connect to Redis" in broker["message"]


def test_liveness_answers_without_touching_dependencies(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/api/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_answers_503_fast_when_the_database_is_down():
    """A real server whose DATABASE_URL points at a closed port: 503, bounded, never a 500."""
    with gunicorn(DATABASE_URL=CLOSED_PORT_DB, REDIS_URL=None) as (base, _):
        started = time.monotonic()
        response = requests.get(f"{base}/api/health/", timeout=15)
        elapsed = time.monotonic() - started
        live = requests.get(f"{base}/api/health/live/", timeout=5)
    assert response.status_code == 503
    assert elapsed < 6, f"health took {elapsed:.1f}s"
    database = response.json()["checks"]["database"]
    assert database["status"] == "error"
    assert database["message"]
    assert "127.0.0.1" not in database["message"], "the message must not leak the address"
    assert live.status_code == 200


def test_health_check_command_passes_when_healthy(capsys):
    call_command("health_check")
    out = capsys.readouterr().out
    assert "database" in out
    assert "healthy" in out


def test_health_check_command_fails_when_a_check_is_not_ok(settings):
    settings.HEALTH_DISK_WARN_PCT = 0.01
    with pytest.raises(CommandError, match="Unhealthy: diskSpace"):
        call_command("health_check")


def test_health_check_command_exits_non_zero_when_the_database_is_down():
    result = manage("health_check", DATABASE_URL=CLOSED_PORT_DB, REDIS_URL=None, timeout=60)
    assert result.returncode == 1
    assert "Unhealthy: database" in result.stderr
    assert "Traceback" not in result.stderr


def test_health_check_json_prints_only_the_report_on_stdout(capsys):
    call_command("health_check", "--json")
    report = json.loads(capsys.readouterr().out)  # nothing but the JSON
    assert report["status"] == "ok"
    assert report["checks"]["diskSpace"]["path"] in map(str, settings.HEALTH_DISK_PATHS)


def test_the_command_answers_what_the_endpoint_answers_plus_paths(client):
    endpoint = client.get("/api/health/").json()
    report = health_report(internals=True)
    assert list(report["checks"]) == list(endpoint["checks"])
    for name, check in endpoint["checks"].items():
        assert set(report["checks"][name]) - set(check) <= {"path"}, name


def test_a_threshold_of_zero_disables_the_warning(client, settings):
    # django-health-check's psutil checks: a falsy threshold turns the check off.
    settings.HEALTH_DISK_WARN_PCT = 0
    settings.HEALTH_MEMORY_WARN_PCT = 0
    checks = client.get("/api/health/").json()["checks"]
    assert checks["diskSpace"]["status"] == "ok"
    assert checks["memory"]["status"] == "ok"


def test_health_and_the_disk_alert_report_the_same_figure_for_one_disk(client, settings):
    # One definition of "disk use" (df's, as django-health-check's Disk check counts it): the
    # probe and the alert rule read the same function, moments apart.
    settings.ALERT_DISK_PATHS = list(map(str, settings.HEALTH_DISK_PATHS))
    health = client.get("/api/health/").json()["checks"]["diskSpace"]
    (alerts,) = disks_measure()
    assert abs(alerts.percent - health["percent"]) < 1
    assert abs(alerts.percent - psutil.disk_usage(settings.HEALTH_DISK_PATHS[0]).percent) < 1


def test_the_framework_s_other_formats_are_not_served(client):
    # django-health-check's text, feed and OpenMetrics renderings name checks by their repr.
    for query in ("", "?format=text", "?format=openmetrics", "?format=rss"):
        response = client.get(f"/api/health/{query}", HTTP_ACCEPT="*/*")
        assert response["Content-Type"] == "application/json", query
        assert "Database(" not in response.content.decode(), query
    assert client.get("/api/health/").json()["checks"]["database"]["status"] == "ok"


@pytest.mark.redis
def test_the_kept_broker_client_sees_an_outage_and_the_recovery(client, settings):
    # The broker check keeps one client per process between probes: a Redis that went away
    # is an error at the next probe, and the same client is fine again once Redis is back.
    with throwaway_redis() as server:
        settings.CELERY_BROKER_URL = server.url

        def broker() -> dict[str, Any]:
            checks: dict[str, Any] = client.get("/api/health/").json()["checks"]
            return checks["broker"]

        assert broker()["status"] == "ok"
        server.stop()
        assert broker()["status"] == "error"
        server.start()  # the same port
        assert broker()["status"] == "ok"
