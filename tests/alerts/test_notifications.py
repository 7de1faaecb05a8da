"""Notifications through Apprise's JSON webhook to a real local HTTP server, delivered by a real
Celery worker: retries with backoff, every attempt recorded, resolve notifications, failing
channels."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from alerts.models import (
    Alert,
    Notification,
    NotificationAttempt,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
)
from alerts.notifications import notification_deliver, notifications_sweep
from alerts.resolution import alert_resolve
from tests.alerts.helpers import fire
from tests.alerts.receiver import Receiver

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.ALERT_NOTIFY_RETRY_BACKOFF = 0.2
    settings.ALERT_NOTIFY_RETRY_BACKOFF_MAX = 0.5


def wait_until(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_critical_alert_is_delivered_through_the_json_webhook(channel, celery_worker):
    fire("Database Down", "critical", "no answer", metadata={"ms": 2})

    (body,) = channel.wait_for(1)
    assert body["title"] == "[CRITICAL] Database Down"
    assert body["type"] == "failure"
    assert body["message"].startswith("no answer")
    assert "ms: 2" in body["message"]
    notification = Notification.objects.get()
    wait_until(lambda: Notification.objects.get().status == NotificationStatus.DELIVERED)
    attempt = NotificationAttempt.objects.get(notification=notification)
    assert attempt.succeeded
    assert attempt.number == 1


def test_a_failing_server_is_retried_with_backoff_until_it_succeeds(channel, celery_worker):
    channel.fail_next(500, 503)

    fire("Backup Failed", "high", "exit 1")

    channel.wait_for(3)
    wait_until(lambda: Notification.objects.get().status == NotificationStatus.DELIVERED)
    notification = Notification.objects.get()
    assert notification.attempts == 3
    attempts = list(notification.attempt_log.order_by("number"))
    assert [a.succeeded for a in attempts] == [False, False, True]
    assert "500" in attempts[0].error or "Internal Server Error" in attempts[0].error
    assert attempts[1].started_at > attempts[0].started_at
    received = [r["status"] for r in channel.received]
    assert received == [500, 503, 200]
    channel_state = NotificationChannel.objects.get()
    assert channel_state.consecutive_failures == 0
    assert channel_state.last_success_at is not None


def test_after_the_last_attempt_it_gives_up_and_the_channel_is_failing(
    settings, channel, celery_worker, client
):
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 3
    settings.ALERT_CHANNEL_FAILING_AFTER = 3
    channel.fail_next(500, 500, 500)

    fire("Backup Failed", "high", "exit 1")

    wait_until(lambda: Notification.objects.get().status == NotificationStatus.FAILED)
    assert NotificationAttempt.objects.count() == 3
    assert len(channel.received) == 3
    state = NotificationChannel.objects.get()
    assert state.consecutive_failures == 3
    assert state.is_failing
    health = client.get("/api/health/").json()["checks"]["notifications"]
    assert health["status"] == "warning"
    assert health["failing"] == [state.label]
    assert "3 consecutive failures" in health["message"]


def test_an_unreachable_channel_records_the_connection_error(settings, celery_worker):
    settings.ALERT_NOTIFY_URLS = "json://127.0.0.1:1/hook"
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 2

    fire("Down", "critical", "m")

    wait_until(lambda: Notification.objects.get().status == NotificationStatus.FAILED)
    errors = list(NotificationAttempt.objects.values_list("error", flat=True))
    assert len(errors) == 2
    assert all(errors)


def test_resolving_tells_every_channel_that_was_told_about_the_firing(
    settings, celery_worker, staff_user
):
    with Receiver().running() as told, Receiver().running() as late:
        settings.ALERT_NOTIFY_URLS = told.url()
        alert = fire("Disk Full", "high", "96 %")
        told.wait_for(1)

        settings.ALERT_NOTIFY_URLS = f"{told.url()} {late.url()}"
        alert_resolve(alert_id=alert.pk, user=staff_user, resolution="Cleaned up old backups")

        bodies = told.wait_for(2)
        assert bodies[1]["title"] == "[RESOLVED] Disk Full"
        assert bodies[1]["type"] == "success"
        assert bodies[1]["message"].startswith("Cleaned up old backups")
        # Every notification settled (none left to send): the late channel was never one of them.
        wait_until(
            lambda: (
                not Notification.objects.filter(
                    status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
                ).exists()
            )
        )
        assert Notification.objects.count() == 2  # the firing and its resolution, to `told`
        assert late.received == []  # never told about the firing: not told it resolved


def test_a_resolve_notification_waits_for_the_firing_one_to_the_same_channel(channel):
    alert = fire("Disk Full", "high", "96 %")
    resolved = alert_resolve(alert_id=alert.pk, user=None)
    firing = Notification.objects.get(kind=NotificationKind.FIRING)
    resolve = Notification.objects.get(alert=resolved, kind=NotificationKind.RESOLVED)

    assert notification_deliver(notification_id=resolve.pk).status.startswith("waiting")
    assert channel.received == []
    assert notification_deliver(notification_id=firing.pk).status == "delivered"
    later = timezone.now() + timezone.timedelta(seconds=10)
    assert notification_deliver(notification_id=resolve.pk, now=later).status == "delivered"
    assert channel.titles() == ["[HIGH] Disk Full", "[RESOLVED] Disk Full"]


def test_no_resolve_goes_to_a_channel_the_firing_never_reached(settings, channel):
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 1
    channel.fail_next(500)
    alert = fire("Disk Full", "high", "96 %")
    firing = Notification.objects.get(kind=NotificationKind.FIRING)
    assert notification_deliver(notification_id=firing.pk).status == "failed"

    alert_resolve(alert_id=alert.pk, user=None)

    assert not Notification.objects.filter(kind=NotificationKind.RESOLVED).exists()


def test_a_queued_resolve_is_skipped_if_the_firing_then_fails_for_good(settings, channel):
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 1
    channel.fail_next(500)
    alert = fire("Disk Full", "high", "96 %")
    alert_resolve(alert_id=alert.pk, user=None)  # the firing one is still pending
    firing = Notification.objects.get(kind=NotificationKind.FIRING)
    resolve = Notification.objects.get(kind=NotificationKind.RESOLVED)

    assert notification_deliver(notification_id=firing.pk).status == "failed"
    assert notification_deliver(notification_id=resolve.pk).status == "skipped"
    assert len(channel.received) == 1


def test_a_delivery_is_made_once_even_when_two_workers_get_its_message(channel):
    fire("Down", "critical", "m")
    notification = Notification.objects.get()

    first = notification_deliver(notification_id=notification.pk)
    second = notification_deliver(notification_id=notification.pk)

    assert first.status == "delivered"
    assert second.status == "delivered"  # already done: nothing sent
    assert len(channel.received) == 1
    assert NotificationAttempt.objects.count() == 1


def test_the_sweeper_resends_lost_deliveries(channel, celery_worker):
    fire("Down", "critical", "m")
    channel.wait_for(1)
    # A second notification whose Celery message was lost.
    alert = Alert.objects.get()
    lost = Notification.objects.create(
        alert=alert,
        channel=NotificationChannel.objects.get(),
        kind=NotificationKind.REPEAT,
        title="[CRITICAL] Down (still firing)",
        body="m",
        next_attempt_at=timezone.now() - timezone.timedelta(minutes=5),
    )

    outcome = notifications_sweep()

    assert outcome.requeued == 1
    channel.wait_for(2)
    wait_until(lambda: Notification.objects.get(pk=lost.pk).status == NotificationStatus.DELIVERED)


def test_a_delivery_whose_worker_died_is_reclaimed(channel):
    fire("Down", "critical", "m")
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENDING,
        claimed_at=timezone.now() - timezone.timedelta(minutes=10),
        attempts=1,
    )

    outcome = notifications_sweep(grace_seconds=0)

    assert outcome.reclaimed == 1
    notification.refresh_from_db()
    assert notification.status in {NotificationStatus.PENDING, NotificationStatus.DELIVERED}


def test_a_channel_removed_from_the_settings_fails_its_pending_notifications(settings, channel):
    fire("Down", "critical", "m")
    settings.ALERT_NOTIFY_URLS = ""

    outcome = notification_deliver(notification_id=Notification.objects.get().pk)

    assert outcome.status == "failed"
    assert "no longer configured" in Notification.objects.get().last_error


def test_the_delivery_task_keeps_its_name_queued_messages_carry():
    from celery import current_app

    from alerts.notifications import DELIVER_TASK
    from alerts.tasks import deliver_notification

    assert deliver_notification.name == DELIVER_TASK == "alerts.deliver_notification"
    assert current_app.tasks[DELIVER_TASK] is deliver_notification._get_current_object()
