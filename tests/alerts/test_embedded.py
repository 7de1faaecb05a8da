"""The embedded default (SQLite, no Redis, tasks run in-process): alerts still work, and what
cannot be measured there says so."""

from __future__ import annotations

import json

import pytest

from tests.subprocess_env import manage, python


@pytest.fixture
def embedded(tmp_path, channel) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "REDIS_URL": None,
        "ALERT_NOTIFY_URLS": channel.url(),
        "ALERT_NOTIFY_RETRY_BACKOFF": "0.1",
        "ALERT_NOTIFY_RETRY_BACKOFF_MAX": "0.1",
        "ALERT_CPU_SAMPLE_SECONDS": "0.1",
    }
    migrated = manage("migrate", "--no-input", timeout=120, **env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def test_on_sqlite_connections_and_request_metrics_are_not_measured(embedded):
    result = manage("evaluate_alerts", "--json", timeout=60, **embedded)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["db_connections"]["not_measured"] == "sqlite has no connection pool to measure"
    assert "needs Redis" in rules["error_rate"]["not_measured"]
    assert rules["broker"]["not_measured"].startswith("no broker")
    assert rules["memory"]["not_measured"] is None
    assert rules["database"]["checks"][0]["firing"] is False


def test_in_process_delivery_and_retry_without_a_broker(embedded, channel):
    channel.fail_next(500)
    code = (
        "import django, time; django.setup()\n"
        "from alerts.services import send_alert\n"
        "from alerts.models import Notification\n"
        "from alerts.tasks import retry_notifications\n"
        "send_alert(name='Backup Failed', severity='critical', message='exit 1')\n"
        "print('after first attempt:', Notification.objects.get().status)\n"
        "time.sleep(0.3)\n"
        "retry_notifications.delay()\n"
        "print('after retry:', Notification.objects.get().status)\n"
    )
    result = python(code, timeout=60, **embedded)

    assert result.returncode == 0, result.stderr
    assert "after first attempt: pending" in result.stdout
    assert "after retry: delivered" in result.stdout
    assert [r["status"] for r in channel.received] == [500, 200]
