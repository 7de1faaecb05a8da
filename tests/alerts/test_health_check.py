"""/api/health/ reports notification channels that keep failing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerts.models import NotificationChannel
from alerts.notifiers import configured_channels

pytestmark = pytest.mark.django_db


def test_without_channels_the_check_is_ok_and_says_so(client):
    check = client.get("/api/health/").json()["checks"]["notifications"]
    assert check == {"status": "ok", "channels": 0}


def test_healthy_channels_are_ok(client, channel):
    check = client.get("/api/health/").json()["checks"]["notifications"]
    assert check == {"status": "ok", "channels": 1}


@pytest.mark.django_db(transaction=True)  # the check reads from its own thread's connection
def test_a_channel_failing_repeatedly_is_a_warning_naming_it(client, channel, settings):
    settings.ALERT_CHANNEL_FAILING_AFTER = 3
    (configured,) = configured_channels()
    NotificationChannel.objects.create(
        key=configured.key,
        label=configured.label,
        consecutive_failures=3,
        last_failure_at=timezone.now(),
        last_error="Connection refused",
    )

    response = client.get("/api/health/")

    assert response.status_code == 503
    check = response.json()["checks"]["notifications"]
    assert check["status"] == "warning"
    assert check["failing"] == [configured.label]
    assert configured.label in check["message"]


@pytest.mark.django_db(transaction=True)
def test_a_channel_recovering_clears_the_warning(client, channel, settings):
    (configured,) = configured_channels()
    NotificationChannel.objects.create(
        key=configured.key, label=configured.label, consecutive_failures=2
    )
    assert client.get("/api/health/").json()["checks"]["notifications"]["status"] == "ok"


def test_an_invalid_notify_url_is_a_warning_without_leaking_it(client, settings):
    settings.ALERT_NOTIFY_URLS = "nosuchservice://token-abc123@host"
    check = client.get("/api/health/").json()["checks"]["notifications"]
    assert check["status"] == "warning"
    assert "token-abc123" not in str(check)
    assert check["invalid"] == ["#1 (nosuchservice://…)"]
