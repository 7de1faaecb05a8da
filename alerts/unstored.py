"""Alerts raised while the database is unreachable.

"Database unreachable" is exactly the alert that cannot be stored. Such an alert is logged as
usual, delivered inline to every channel (the delivery pipeline needs the database), and held in
Redis with its occurrences and deliveries, deduplicated by fingerprint with the same repeat
interval. Once the database answers again, the next evaluation stores what was held (alert,
notifications and attempts), so the resolve notification reaches the channels that were paged.
Without Redis, this process's memory holds it instead.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from alerts.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    Notification,
    NotificationAttempt,
    NotificationKind,
    NotificationStatus,
    Severity,
)
from alerts.notifications import channel_record, channel_record_outcome, render_alert
from alerts.notifiers import channel_send, configured_channels
from alerts.redis_client import alerts_key, redis_client

if TYPE_CHECKING:
    from alerts.services import AlertInput

logger = structlog.get_logger("alerts.unstored")

_memory: dict[str, str] = {}
_memory_lock = threading.Lock()
# Held alerts are dropped after a week without the database: by then it is history.
HOLD_SECONDS = 7 * 24 * 3600


def _ledger_get(fingerprint: str) -> dict[str, Any] | None:
    client = redis_client()
    raw: Any = None
    if client is not None:
        try:
            raw = client.hget(alerts_key("unstored"), fingerprint)
        except Exception:  # noqa: BLE001 - Redis down too: fall back to memory
            client = None
    if client is None:
        with _memory_lock:
            raw = _memory.get(fingerprint)
    return json.loads(raw) if raw else None


def _ledger_put(fingerprint: str, entry: dict[str, Any]) -> None:
    data = json.dumps(entry, default=str)
    client = redis_client()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hset(alerts_key("unstored"), fingerprint, data)
            pipe.expire(alerts_key("unstored"), HOLD_SECONDS)
            pipe.execute()
            return
        except Exception:  # noqa: BLE001 - Redis down too: fall back to memory
            logger.warning("Redis unavailable; holding the unstored alert in memory")
    with _memory_lock:
        _memory[fingerprint] = data


def _deliver_inline(
    item: AlertInput, entry: dict[str, Any], *, kind: str, now: datetime
) -> list[dict[str, Any]]:
    alert = Alert(
        pk=None,
        fingerprint=item.fingerprint,
        name=item.name,
        severity=item.severity,
        message=item.message,
        metadata=item.metadata,
        labels=item.labels,
        occurrences=entry["occurrences"],
        first_seen=_dt(entry["first_seen"]),
        last_seen=now,
    )
    title, body, notify_type = render_alert(alert, kind)
    body += "\n(The database is unreachable: this alert is delivered directly and stored later.)"
    deliveries = []
    for channel in configured_channels():
        started = timezone.now()
        result = channel_send(channel, title=title, body=body, notify_type=notify_type)
        deliveries.append(
            {
                "key": channel.key,
                "label": channel.label,
                "service": channel.service,
                "kind": kind,
                "ok": result.ok,
                "error": result.error,
                "at": started.isoformat(),
                "duration_ms": result.duration_ms,
                "title": title,
                "body": body,
                "notify_type": notify_type,
            }
        )
    return deliveries


def _dt(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"bad timestamp {value!r}")
    return parsed


def alert_hold_unstored(item: AlertInput, *, rule: str, now: datetime) -> dict[str, Any]:
    """Count an occurrence of an alert the database could not take; notify like send_alert
    would (silences cannot be read without the database, so they do not apply)."""
    from alerts.services import should_notify

    entry = _ledger_get(item.fingerprint) or {
        "name": item.name,
        "labels": item.labels,
        "rule": rule,
        "first_seen": now.isoformat(),
        "occurrences": 0,
        "notified_at": None,
        "deliveries": [],
    }
    entry["occurrences"] += 1
    entry.update(
        severity=item.severity.value,
        message=item.message,
        metadata=item.metadata,
        last_seen=now.isoformat(),
    )
    notified_at = _dt(entry["notified_at"]) if entry["notified_at"] else None
    if should_notify(item.severity) and (
        notified_at is None
        or now - notified_at >= timedelta(seconds=settings.ALERT_REPEAT_INTERVAL)
    ):
        kind = NotificationKind.FIRING if notified_at is None else NotificationKind.REPEAT
        entry["deliveries"] += _deliver_inline(item, entry, kind=kind, now=now)
        entry["notified_at"] = now.isoformat()
    _ledger_put(item.fingerprint, entry)
    return entry


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _take_all() -> list[dict[str, Any]]:
    """Remove and return every held alert; each is taken by exactly one caller."""
    taken: list[dict[str, Any]] = []
    client = redis_client()
    if client is not None:
        try:
            key = alerts_key("unstored")
            for fingerprint, raw in client.hgetall(key).items():
                # HDEL answers 1 to exactly one of two concurrent evaluations.
                if client.hdel(key, fingerprint) == 1:
                    taken.append({"fingerprint": _text(fingerprint), **json.loads(raw)})
        except Exception:  # noqa: BLE001 - Redis down: only what this process holds
            logger.warning("Redis unavailable; storing only the alerts held in memory")
    with _memory_lock:
        for fingerprint, raw in list(_memory.items()):
            taken.append({"fingerprint": fingerprint, **json.loads(raw)})
            del _memory[fingerprint]
    return taken


def _store_one(entry: dict[str, Any]) -> Alert:
    first_seen, last_seen = _dt(entry["first_seen"]), _dt(entry["last_seen"])
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(fingerprint=entry["fingerprint"], status__in=OPEN_ALERT_STATUSES)
            .first()
        )
        if alert is None:
            alert = Alert.objects.create(
                fingerprint=entry["fingerprint"],
                name=entry["name"],
                severity=entry["severity"],
                message=entry["message"],
                metadata=entry["metadata"],
                labels=entry["labels"],
                rule=entry.get("rule", ""),
                occurrences=entry["occurrences"],
                first_seen=first_seen,
                last_seen=last_seen,
                last_notified_at=_dt(entry["notified_at"]) if entry["notified_at"] else None,
                notified_severity=entry["severity"] if entry["notified_at"] else "",
            )
        else:
            alert.occurrences += entry["occurrences"]
            alert.last_seen = max(alert.last_seen, last_seen)
            alert.message = entry["message"]
            alert.severity = entry["severity"]
            if entry["notified_at"]:
                alert.last_notified_at = _dt(entry["notified_at"])
                alert.notified_severity = entry["severity"]
            alert.save()
        for delivery in entry["deliveries"]:
            channel = channel_record_from(delivery)
            at = _dt(delivery["at"])
            notification = Notification.objects.create(
                alert=alert,
                channel=channel,
                kind=delivery["kind"],
                title=delivery["title"][:250],
                body=delivery["body"],
                notify_type=delivery["notify_type"],
                status=NotificationStatus.DELIVERED
                if delivery["ok"]
                else NotificationStatus.FAILED,
                attempts=1,
                created_at=at,
                next_attempt_at=at,
                claimed_at=at,
                delivered_at=at if delivery["ok"] else None,
                last_error=delivery["error"],
            )
            NotificationAttempt.objects.create(
                notification=notification,
                channel=channel,
                number=1,
                started_at=at,
                duration_ms=delivery["duration_ms"],
                succeeded=delivery["ok"],
                error=delivery["error"],
            )
            channel_record_outcome(channel.pk, ok=delivery["ok"], error=delivery["error"], at=at)
        if alert.severity == Severity.CRITICAL and alert.incident_id is None:
            from alerts.incidents import incident_open_for_alert

            incident_open_for_alert(alert=alert, now=first_seen)
    return alert


def channel_record_from(delivery: dict[str, Any]) -> Any:
    from alerts.notifiers import Channel

    return channel_record(
        Channel(
            key=delivery["key"],
            label=delivery["label"],
            service=delivery.get("service", ""),
            url="",
        )
    )


def alerts_store_unstored() -> list[Alert]:
    """Store the alerts held while the database was unreachable (call once it answers)."""
    stored: list[Alert] = []
    for entry in _take_all():
        try:
            stored.append(_store_one(entry))
        except Exception:
            # Put it back for the next evaluation rather than lose it.
            _ledger_put(
                entry["fingerprint"], {k: v for k, v in entry.items() if k != "fingerprint"}
            )
            raise
    if stored:
        logger.info("Stored alerts held while the database was unreachable", count=len(stored))
    return stored
