"""Infrastructure alerts from a real process whose database or broker is unreachable."""

from __future__ import annotations

import time

import pytest

from alerts.models import (
    Alert,
    AlertStatus,
    Incident,
    Notification,
    NotificationAttempt,
    NotificationKind,
    NotificationStatus,
)
from tests.alerts.helpers import evaluate
from tests.subprocess_env import manage

CLOSED_PORT_DB = "postgres://postgres@127.0.0.1:1/beo_unreachable"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def child_env(channel, cache_prefix: str, **extra: str) -> dict[str, str]:
    return {
        "ALERT_NOTIFY_URLS": channel.url(),
        "CACHE_KEY_PREFIX": cache_prefix,
        "ALERT_CPU_SAMPLE_SECONDS": "0.1",
        **extra,
    }


def test_an_unreachable_database_is_paged_directly_then_stored_once_it_is_back(
    channel, alerts_isolated, celery_worker
):
    env = child_env(channel, alerts_isolated, DATABASE_URL=CLOSED_PORT_DB)
    first = manage("evaluate_alerts", timeout=90, **env)
    assert first.returncode == 0, first.stderr
    assert "CRITICAL Database Unreachable" in first.stdout
    assert "The database is unreachable: its alert was logged, sent directly to 1 channel," in (
        first.stderr
    )
    assert "Traceback" not in first.stderr
    (body,) = channel.wait_for(1)
    assert body["title"] == "[CRITICAL] Database Unreachable"
    assert "delivered directly and stored later" in body["message"]

    second = manage("evaluate_alerts", timeout=90, **env)  # still down: counted, not re-paged
    assert second.returncode == 0, second.stderr
    # The child pages inline and the receiver records a page before it answers: with the child
    # gone, every page it sent is already here (no wait needed for one that "might" still come).
    assert len(channel.received) == 1
    assert not Alert.objects.exists()  # it could not be stored anywhere but Redis

    report = evaluate()  # the database answers again (this process uses the real one)

    assert report.held_stored == 1
    alert = Alert.objects.get(name="Database Unreachable")
    assert alert.occurrences == 2
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolution.startswith("Resolved automatically")
    firing = Notification.objects.get(alert=alert, kind=NotificationKind.FIRING)
    assert firing.status == NotificationStatus.DELIVERED
    assert NotificationAttempt.objects.filter(notification=firing, succeeded=True).count() == 1
    bodies = channel.wait_for(2)
    assert bodies[1]["title"] == "[RESOLVED] Database Unreachable"
    incident = Incident.objects.get()
    assert incident.detected_at == alert.first_seen


def test_an_unreachable_broker_is_stored_and_delivered_inline(channel, alerts_isolated, settings):
    db_name = settings.DATABASES["default"]["NAME"]
    env = child_env(
        channel,
        alerts_isolated,
        REDIS_URL=CLOSED_PORT_REDIS,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db_name}",
    )

    started = time.monotonic()
    result = manage("evaluate_alerts", timeout=120, **env)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    assert "CRITICAL Broker Unreachable" in result.stdout
    assert "not measured: needs Redis" not in result.stdout  # Redis is set, just down
    alert = Alert.objects.get(name="Broker Unreachable")
    assert alert.severity == "critical"
    assert alert.incident is not None
    (body,) = channel.wait_for(1)
    assert body["title"] == "[CRITICAL] Broker Unreachable"
    notification = Notification.objects.get(alert=alert)
    assert notification.status == NotificationStatus.DELIVERED
