"""Alerts held while the database is unreachable.

"Database unreachable" is exactly the alert that cannot be stored. Such an alert is logged as
usual, counted in memory by the occurrence rule (alerts.occurrences) as if it were stored, and
delivered inline to every channel when the rule calls for it (the delivery pipeline needs the
database; silences cannot be read, so they do not apply). What is held in Redis is its
occurrences, as runs of equal severity and message, and the deliveries made. Once the database
answers again, the next evaluation stores each run through the same rule (so the stored alert
is the one the database would have had) with the deliveries as notifications and attempts, so
the resolve notification reaches the channels that were paged. Without Redis, this process's
memory holds it instead.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from alerts.models import Alert, Notification, NotificationAttempt, NotificationStatus, Severity
from alerts.notifications import channel_record, channel_record_outcome, render_alert
from alerts.notifiers import Channel, channel_send, configured_channels
from alerts.occurrences import (
    AlertInput,
    Occurrences,
    Told,
    occurrence_new_alert,
    occurrences_count,
    occurrences_store,
)
from alerts.redis_client import alerts_key, redis_client

logger = structlog.get_logger("alerts.holding")

_memory: dict[str, str] = {}
_memory_lock = threading.Lock()
# Held alerts are dropped after a week without the database: by then it is history.
HOLD_SECONDS = 7 * 24 * 3600
# Past this many runs an untold occurrence joins the last run whatever its message (and
# severity): the count stays right, an early message of a long outage may not.
MAX_RUNS = 500
# The key's name predates the module's: kept so alerts held across an upgrade are not lost.
_KEY = "unstored"


def _ledger_get(fingerprint: str) -> dict[str, Any] | None:
    client = redis_client()
    raw: Any = None
    if client is not None:
        try:
            raw = client.hget(alerts_key(_KEY), fingerprint)
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
            pipe.hset(alerts_key(_KEY), fingerprint, data)
            pipe.expire(alerts_key(_KEY), HOLD_SECONDS)
            pipe.execute()
            return
        except Exception:  # noqa: BLE001 - Redis down too: fall back to memory
            logger.warning("Redis unavailable; holding the unstored alert in memory")
    with _memory_lock:
        _memory[fingerprint] = data


def _dt(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"bad timestamp {value!r}")
    return parsed


def _runs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in entry:
        return list(entry["runs"])
    # Held by the previous release: all its occurrences as one run.
    return [
        {
            "count": entry["occurrences"],
            "first_seen": entry["first_seen"],
            "last_seen": entry["last_seen"],
            "severity": entry["severity"],
            "message": entry["message"],
            "metadata": entry["metadata"],
            "told_at": entry["notified_at"],
        }
    ]


def _run_occurrences(
    fingerprint: str, entry: dict[str, Any], run: dict[str, Any]
) -> tuple[Occurrences, Told]:
    item = AlertInput(
        name=entry["name"],
        severity=Severity(run["severity"]),
        message=run["message"],
        metadata=run["metadata"],
        labels=entry["labels"],
        fingerprint=fingerprint,
    )
    occ = Occurrences(
        item=item,
        first_seen=_dt(run["first_seen"]),
        last_seen=_dt(run["last_seen"]),
        count=run["count"],
        rule=entry.get("rule", ""),
        incident_id=entry.get("incident_id"),
    )
    told_at = run["told_at"]
    return occ, Told(_dt(told_at) if told_at else None, run["severity"])


def _held_alert(fingerprint: str, entry: dict[str, Any]) -> Alert:
    """The alert as the held runs made it (in memory, through the occurrence rule)."""
    alert: Alert | None = None
    for run in _runs(entry):
        occ, told = _run_occurrences(fingerprint, entry, run)
        created = alert is None
        if alert is None:
            alert = occurrence_new_alert(occ)
        occurrences_count(alert, occ, created=created, silence=None, told=told)
    assert alert is not None, "a held entry has at least one run"
    return alert


def _deliver_inline(alert: Alert, *, kind: str) -> list[dict[str, Any]]:
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


def _add_to_runs(runs: list[dict[str, Any]], occ: Occurrences, *, told: bool) -> None:
    """An untold occurrence like the last one (severity and message) extends that run."""
    item = occ.item
    last = runs[-1] if runs else None
    if (
        not told
        and last is not None
        and (
            len(runs) >= MAX_RUNS
            or (last["severity"] == item.severity.value and last["message"] == item.message)
        )
    ):
        last.update(
            count=last["count"] + occ.count,
            last_seen=occ.last_seen.isoformat(),
            severity=item.severity.value,
            message=item.message,
            metadata=item.metadata,
        )
        return
    runs.append(
        {
            "count": occ.count,
            "first_seen": occ.first_seen.isoformat(),
            "last_seen": occ.last_seen.isoformat(),
            "severity": item.severity.value,
            "message": item.message,
            "metadata": item.metadata,
            "told_at": occ.last_seen.isoformat() if told else None,
        }
    )


def alert_hold(occ: Occurrences) -> dict[str, Any]:
    """Count an occurrence of an alert the database could not take and deliver what the
    occurrence rule calls for now."""
    item = occ.item
    entry = _ledger_get(item.fingerprint)
    if entry is None:
        alert = occurrence_new_alert(occ)
        entry = {
            "name": item.name,
            "labels": item.labels,
            "rule": occ.rule,
            "incident_id": occ.incident_id,
            "runs": [],
            "deliveries": [],
        }
        created = True
    else:
        alert, created = _held_alert(item.fingerprint, entry), False
        entry["runs"] = _runs(entry)
    kind = occurrences_count(alert, occ, created=created, silence=None)
    if kind is not None:
        entry["deliveries"] += _deliver_inline(alert, kind=kind)
    _add_to_runs(entry["runs"], occ, told=kind is not None)
    entry.update(rule=alert.rule, incident_id=alert.incident_id)
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
            key = alerts_key(_KEY)
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


def _channel_record_from(delivery: dict[str, Any]) -> Any:
    return channel_record(
        Channel(
            key=delivery["key"],
            label=delivery["label"],
            service=delivery.get("service", ""),
            url="",
        )
    )


def _record_delivery(alert: Alert, delivery: dict[str, Any]) -> None:
    channel = _channel_record_from(delivery)
    at = _dt(delivery["at"])
    notification = Notification.objects.create(
        alert=alert,
        channel=channel,
        kind=delivery["kind"],
        title=delivery["title"][:250],
        body=delivery["body"],
        notify_type=delivery["notify_type"],
        status=NotificationStatus.DELIVERED if delivery["ok"] else NotificationStatus.FAILED,
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


def _store_held(entry: dict[str, Any]) -> Alert:
    with transaction.atomic():
        alert: Alert | None = None
        for run in _runs(entry):
            occ, told = _run_occurrences(entry["fingerprint"], entry, run)
            alert = occurrences_store(occ, told=told)
        assert alert is not None, "a held entry has at least one run"
        for delivery in entry["deliveries"]:
            _record_delivery(alert, delivery)
    return alert


def alerts_store_held() -> list[Alert]:
    """Store the alerts held while the database was unreachable (call once it answers)."""
    stored: list[Alert] = []
    for entry in _take_all():
        try:
            stored.append(_store_held(entry))
        except Exception:
            # Put it back for the next evaluation rather than lose it.
            _ledger_put(
                entry["fingerprint"], {k: v for k, v in entry.items() if k != "fingerprint"}
            )
            raise
    if stored:
        logger.info("Stored alerts held while the database was unreachable", count=len(stored))
    return stored
