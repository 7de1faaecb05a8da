"""Notification workflow: queue a message per channel, deliver it with retries, record attempts.

Queueing writes one `Notification` row per channel inside the caller's transaction and sends a
Celery message per row after commit. Delivery claims the row with a conditional update (two
copies of a message, or the sweeper and a retry, never send twice), makes one attempt through
Apprise, records it, and either finishes or schedules the next attempt with exponential backoff.
When the broker itself is unreachable (one of the things we alert about) the attempt is made
inline by the process that raised the alert instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import (
    FIRING_KINDS,
    Alert,
    Notification,
    NotificationAttempt,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Severity,
)
from alerts.notifiers import Channel, channel_by_key, channel_send, configured_channels
from beo_automation.backoff import backoff_seconds

logger = structlog.get_logger("alerts.notifications")

NOTIFY_TYPES = {
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "failure",
    Severity.CRITICAL: "failure",
}
# A delivery stuck in `sending` this long lost its worker: the sweeper makes it pending again.
SENDING_TIMEOUT = timedelta(minutes=5)
# A resolve notification waits this long for the firing one to the same channel to finish.
RESOLVE_WAIT_SECONDS = 5.0
DELIVER_TASK = "alerts.deliver_notification"


@dataclasses.dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: float | None = None
    error: str = ""


def channel_record(channel: Channel) -> NotificationChannel:
    record, created = NotificationChannel.objects.get_or_create(
        key=channel.key, defaults={"label": channel.label, "service": channel.service}
    )
    if not created and (record.label != channel.label or record.service != channel.service):
        NotificationChannel.objects.filter(pk=record.pk).update(
            label=channel.label, service=channel.service
        )
    return record


def alert_link(alert: Alert) -> str:
    if not settings.ALERT_LINK_BASE_URL:
        return ""
    return f"{settings.ALERT_LINK_BASE_URL}/admin/alerts/alert/{alert.pk}/change/"


def render_alert(alert: Alert, kind: str) -> tuple[str, str, str]:
    """(title, body, Apprise notify type) of a notification about `alert`."""
    severity = Severity(alert.severity)
    if kind == NotificationKind.RESOLVED:
        title = f"[RESOLVED] {alert.name}"
        notify_type = "success"
        headline = alert.resolution or "Resolved."
    else:
        title = f"[{severity.value.upper()}] {alert.name}"
        if kind == NotificationKind.REPEAT:
            title += f" (still firing, {alert.occurrences} occurrences)"
        notify_type = NOTIFY_TYPES[severity]
        headline = alert.message
    lines = [
        headline,
        "",
        f"Severity: {severity.value}",
        f"Status: {alert.status}",
        f"Environment: {settings.ENVIRONMENT}",
        f"First seen: {alert.first_seen.isoformat()}",
        f"Last seen: {alert.last_seen.isoformat()}",
        f"Occurrences: {alert.occurrences}",
    ]
    if kind == NotificationKind.RESOLVED:
        lines.insert(2, f"Was: {alert.message}")
    lines += [f"{key}: {value}" for key, value in sorted(alert.labels.items())]
    lines += [f"{key}: {value}" for key, value in sorted(alert.metadata.items())]
    if alert.incident_id:
        lines.append(f"Incident: #{alert.incident_id}")
    number = f"#{alert.pk}" if alert.pk else "(not stored yet)"
    lines.append(f"Alert: {number} (fingerprint {alert.fingerprint[:12]})")
    if link := alert_link(alert):
        lines.append(link)
    return title, "\n".join(lines), notify_type


def _told_channel_ids(alert: Alert) -> set[int]:
    """Channels that were told (or are being told) that this alert fires."""
    return set(
        Notification.objects.filter(
            alert=alert,
            kind__in=FIRING_KINDS,
            status__in=[
                NotificationStatus.DELIVERED,
                NotificationStatus.PENDING,
                NotificationStatus.SENDING,
            ],
        ).values_list("channel_id", flat=True)
    )


def alert_notified_text(*, alert: Alert, kind: str = "firing") -> str:
    """Who was told about the alert (its firing, or `kind` "resolved"), as staff read it: how
    many channels it reached, is still reaching, or failed to reach; or that no channel is
    configured. Never "notified" when nobody was."""
    kinds = FIRING_KINDS if kind != NotificationKind.RESOLVED else (NotificationKind.RESOLVED,)
    by_status: dict[str, set[int]] = {}
    for channel_id, status in Notification.objects.filter(alert=alert, kind__in=kinds).values_list(
        "channel_id", "status"
    ):
        by_status.setdefault(status, set()).add(channel_id)
    delivered = by_status.get(NotificationStatus.DELIVERED, set())
    waiting = (
        by_status.get(NotificationStatus.PENDING, set())
        | by_status.get(NotificationStatus.SENDING, set())
    ) - delivered
    failed = by_status.get(NotificationStatus.FAILED, set()) - delivered - waiting
    if not (delivered or waiting or failed):
        if not configured_channels():
            return "No channel configured: nobody was notified."
        return "No channel was notified."
    parts = [f"{_channels(len(delivered))} notified"]
    if waiting:
        parts.append(f"{len(waiting)} still sending")
    if failed:
        parts.append(f"{len(failed)} failed")
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."


def _channels(count: int) -> str:
    return "no channel" if count == 0 else f"{count} channel{'s' if count != 1 else ''}"


def notifications_queue(
    *,
    alert: Alert | None,
    kind: str,
    title: str | None = None,
    body: str | None = None,
    notify_type: str | None = None,
    channels: Sequence[Channel] | None = None,
    requested_by: str = "",
    enqueue: bool = True,
) -> list[Notification]:
    """Create one notification per channel and deliver them after the transaction commits.

    Resolve notifications go only to the channels told about the firing.
    """
    if alert is not None and title is None:
        title, body, notify_type = render_alert(alert, kind)
    if title is None or body is None:
        raise TypeError("notifications_queue needs an alert, or a title and a body")
    targets = list(configured_channels() if channels is None else channels)
    records = [channel_record(c) for c in targets]
    if kind == NotificationKind.RESOLVED and alert is not None:
        told = _told_channel_ids(alert)
        records = [r for r in records if r.pk in told]
    now = timezone.now()
    created = Notification.objects.bulk_create(
        [
            Notification(
                alert=alert,
                channel=record,
                kind=kind,
                title=title[:250],
                body=body,
                notify_type=notify_type or "info",
                created_at=now,
                next_attempt_at=now,
                requested_by=requested_by,
            )
            for record in records
        ]
    )
    ids = [n.pk for n in created]
    if ids and enqueue:
        transaction.on_commit(lambda: notifications_enqueue(ids))
    return created


def notifications_enqueue(ids: Iterable[int], *, countdown: float | None = None) -> None:
    """Send a delivery message per notification; deliver inline when the broker is down."""
    # By name: the task (alerts.tasks) calls this module, not the other way round.
    deliver_notification = current_app.tasks[DELIVER_TASK]
    for notification_id in ids:
        try:
            # retry=False: with the broker down, fail fast and deliver from here instead of
            # blocking the caller through kombu's reconnect loop.
            options: dict[str, Any] = {"retry": False}
            if countdown is not None:
                options["countdown"] = countdown
            deliver_notification.apply_async((notification_id,), **options)
        except Exception as exc:  # noqa: BLE001 - any broker failure: deliver ourselves
            logger.warning(
                "Broker unavailable; delivering notification inline",
                notification_id=notification_id,
                error=str(exc),
            )
            notification_deliver(notification_id=notification_id)


def retry_delay_seconds(attempt: int) -> float:
    return backoff_seconds(
        attempt=attempt,
        base=settings.ALERT_NOTIFY_RETRY_BACKOFF,
        ceiling=settings.ALERT_NOTIFY_RETRY_BACKOFF_MAX,
    )


def channel_record_outcome(channel_id: int, *, ok: bool, error: str, at: datetime) -> None:
    if ok:
        NotificationChannel.objects.filter(pk=channel_id).update(
            consecutive_failures=0, last_success_at=at, updated_at=at
        )
    else:
        NotificationChannel.objects.filter(pk=channel_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=at,
            last_error=error,
            updated_at=at,
        )


def _resolve_may_go(notification: Notification) -> str:
    """'go', 'wait' (firing notification still in flight) or 'skip' (channel never told)."""
    told = Notification.objects.filter(
        alert=notification.alert_id,
        channel_id=notification.channel_id,
        kind__in=FIRING_KINDS,
    )
    if told.filter(status=NotificationStatus.DELIVERED).exists():
        return "go"
    if told.filter(status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]).exists():
        return "wait"
    return "skip"


def notification_deliver(
    *, notification_id: int, now: datetime | None = None, single_attempt: bool = False
) -> DeliveryOutcome:
    """Make the next delivery attempt of one notification, if it is due and still ours to make.

    Safe to call twice for the same notification: the claim is a conditional update.
    `single_attempt`: no retry after a failure (test notifications report at once).
    """
    now = now or timezone.now()
    notification = Notification.objects.select_related("channel").filter(pk=notification_id).first()
    if notification is None:
        return DeliveryOutcome("missing")
    if notification.status != NotificationStatus.PENDING:
        return DeliveryOutcome(notification.status)
    due_in = (notification.next_attempt_at - now).total_seconds()
    if due_in > 1:
        return DeliveryOutcome("not due", retry_in=due_in)

    if notification.kind == NotificationKind.RESOLVED and notification.alert_id:
        verdict = _resolve_may_go(notification)
        if verdict == "wait":
            Notification.objects.filter(
                pk=notification.pk, status=NotificationStatus.PENDING
            ).update(next_attempt_at=now + timedelta(seconds=RESOLVE_WAIT_SECONDS))
            return DeliveryOutcome("waiting for the firing notification", RESOLVE_WAIT_SECONDS)
        if verdict == "skip":
            Notification.objects.filter(
                pk=notification.pk, status=NotificationStatus.PENDING
            ).update(
                status=NotificationStatus.SKIPPED,
                last_error="The channel never received the firing notification.",
            )
            return DeliveryOutcome(NotificationStatus.SKIPPED)

    attempt = notification.attempts + 1
    claimed = Notification.objects.filter(
        pk=notification.pk, status=NotificationStatus.PENDING, attempts=notification.attempts
    ).update(status=NotificationStatus.SENDING, attempts=attempt, claimed_at=now)
    if claimed != 1:
        return DeliveryOutcome("taken by another worker")

    channel = channel_by_key(notification.channel.key)
    started = timezone.now()
    if channel is None:
        ok, error, duration_ms = False, "Channel no longer configured in ALERT_NOTIFY_URLS.", 0.0
        final = True
    else:
        result = channel_send(
            channel,
            title=notification.title,
            body=notification.body,
            notify_type=notification.notify_type,
        )
        ok, error, duration_ms = result.ok, result.error, result.duration_ms
        final = ok or single_attempt or attempt >= settings.ALERT_NOTIFY_MAX_ATTEMPTS

    finished = timezone.now()
    NotificationAttempt.objects.create(
        notification=notification,
        channel_id=notification.channel_id,
        number=attempt,
        started_at=started,
        duration_ms=duration_ms,
        succeeded=ok,
        error=error,
    )
    channel_record_outcome(notification.channel_id, ok=ok, error=error, at=finished)
    ours = Notification.objects.filter(
        pk=notification.pk, status=NotificationStatus.SENDING, attempts=attempt
    )
    log = logger.bind(
        notification_id=notification.pk,
        alert_id=notification.alert_id,
        channel=notification.channel.label,
        kind=notification.kind,
        attempt=attempt,
        duration_ms=duration_ms,
    )
    if ok:
        ours.update(status=NotificationStatus.DELIVERED, delivered_at=finished, last_error="")
        log.info("Notification delivered")
        return DeliveryOutcome(NotificationStatus.DELIVERED)
    if final:
        ours.update(status=NotificationStatus.FAILED, last_error=error)
        log.error("Notification failed; giving up", error=error)
        return DeliveryOutcome(NotificationStatus.FAILED, error=error)
    delay = retry_delay_seconds(attempt)
    ours.update(
        status=NotificationStatus.PENDING,
        last_error=error,
        next_attempt_at=finished + timedelta(seconds=delay),
    )
    log.warning("Notification attempt failed; will retry", error=error, retry_in=delay)
    return DeliveryOutcome(NotificationStatus.PENDING, retry_in=delay, error=error)


@dataclasses.dataclass(frozen=True)
class SweepOutcome:
    requeued: int
    reclaimed: int


def notifications_sweep(
    *, now: datetime | None = None, grace_seconds: float = 60.0
) -> SweepOutcome:
    """Re-send delivery messages that were lost (overdue by `grace_seconds`) and return
    deliveries whose worker died mid-attempt to pending."""
    now = now or timezone.now()
    reclaimed = Notification.objects.filter(
        status=NotificationStatus.SENDING, claimed_at__lt=now - SENDING_TIMEOUT
    ).update(status=NotificationStatus.PENDING, next_attempt_at=now)
    due = list(
        Notification.objects.filter(
            status=NotificationStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=grace_seconds),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:500]
    )
    if due:
        notifications_enqueue(due)
    return SweepOutcome(requeued=len(due), reclaimed=reclaimed)


@dataclasses.dataclass(frozen=True)
class TestResult:
    label: str
    ok: bool
    error: str
    duration_ms: float
    recorded: bool


def notifications_send_test(*, requested_by: str, message: str = "") -> list[TestResult]:
    """Send a test notification to every configured channel now, one attempt each, and
    record it (without the database: send anyway and say it was not recorded)."""
    title = f"[TEST] beo-automation ({settings.ENVIRONMENT})"
    body = message or (
        f"Test notification requested by {requested_by or 'an operator'} at "
        f"{timezone.now().isoformat()}. If you can read this, alerts reach this channel."
    )
    results = []
    for channel in configured_channels():
        try:
            with transaction.atomic():
                (notification,) = notifications_queue(
                    alert=None,
                    kind=NotificationKind.TEST,
                    title=title,
                    body=body,
                    notify_type="info",
                    channels=[channel],
                    requested_by=requested_by,
                    enqueue=False,
                )
            outcome = notification_deliver(notification_id=notification.pk, single_attempt=True)
            attempt = notification.attempt_log.order_by("-number").first()
            results.append(
                TestResult(
                    channel.label,
                    outcome.status == NotificationStatus.DELIVERED,
                    outcome.error,
                    attempt.duration_ms if attempt else 0.0,
                    recorded=True,
                )
            )
        except DatabaseError:
            sent = channel_send(channel, title=title, body=body, notify_type="info")
            results.append(TestResult(channel.label, sent.ok, sent.error, sent.duration_ms, False))
    return results
