"""Writes on alerts and silences: raise (deduplicated), acknowledge, resolve, silence.

`send_alert` is the operations guide's `sendAlert` and the one entry point other apps use:

    from alerts.services import send_alert
    send_alert(name="Backup Failed", severity="critical", message="pg_dump exited 1",
               metadata={"run_id": 42})

It logs an error line "ALERT: <name>", stores the alert (or counts one more occurrence of the
open alert with the same fingerprint) and queues notifications when the severity warrants it.
When the database itself is unreachable the alert is still logged and delivered, and stored
once the database is back (alerts.unstored).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from alerts.models import (
    OPEN_ALERT_STATUSES,
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    NotificationKind,
    Severity,
    Silence,
)
from alerts.notifications import notifications_queue
from beo_automation.errors import ConflictError, NotFoundError, ValidationError

logger = structlog.get_logger("alerts")

MAX_NAME = 200
MAX_LABELS = 20


def alert_fingerprint(*, name: str, labels: Mapping[str, Any] | None = None) -> str:
    """Identity of an alert: its name and identifying labels, independent of their order."""
    canonical = json.dumps(
        {"name": name, "labels": {str(k): str(v) for k, v in (labels or {}).items()}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def should_notify(severity: str) -> bool:
    """Critical always pages; anything else at or above ALERT_NOTIFY_MIN_SEVERITY too."""
    rank = SEVERITY_RANK[severity]
    return (
        rank == SEVERITY_RANK[Severity.CRITICAL]
        or rank >= SEVERITY_RANK[settings.ALERT_NOTIFY_MIN_SEVERITY]
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertInput:
    name: str
    severity: Severity
    message: str
    metadata: dict[str, Any]
    labels: dict[str, str]
    fingerprint: str


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any]:
    # Metadata comes from callers (exceptions, Decimals, datetimes): store what JSON can hold.
    return dict(json.loads(json.dumps(dict(value or {}), default=str)))


def alert_input_validate(
    *,
    name: str,
    severity: str,
    message: str,
    metadata: Mapping[str, Any] | None,
    labels: Mapping[str, Any] | None,
) -> AlertInput:
    errors: dict[str, list[str]] = {}
    clean_name = name.strip() if isinstance(name, str) else ""
    if not clean_name or len(clean_name) > MAX_NAME:
        errors["name"] = [f"Must be 1-{MAX_NAME} characters."]
    try:
        parsed = Severity.parse(severity)
    except ValueError as exc:
        errors["severity"] = [str(exc)]
    if metadata is not None and not isinstance(metadata, Mapping):
        errors["metadata"] = ["Must be a mapping."]
    if labels is not None and (not isinstance(labels, Mapping) or len(labels) > MAX_LABELS):
        errors["labels"] = [f"Must be a mapping of at most {MAX_LABELS} entries."]
    if errors:
        raise ValidationError(details=errors)
    clean_labels = {str(k): str(v) for k, v in (labels or {}).items()}
    return AlertInput(
        name=clean_name,
        severity=parsed,
        message=str(message),
        metadata=_json_safe(metadata),
        labels=clean_labels,
        fingerprint=alert_fingerprint(name=clean_name, labels=clean_labels),
    )


def send_alert(
    *,
    name: str,
    severity: str,
    message: str,
    metadata: dict[str, Any] | None = None,
    labels: dict[str, Any] | None = None,
) -> Alert | None:
    """Raise an alert (severity low/medium/high/critical); see the module docstring.

    Returns the stored alert, or None when the database is unreachable (the alert is then
    logged, delivered to every channel inline and stored when the database is back).
    """
    return alert_raise(
        name=name, severity=severity, message=message, metadata=metadata, labels=labels
    )


def alert_raise(
    *,
    name: str,
    severity: str,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    labels: Mapping[str, Any] | None = None,
    rule: str = "",
    incident_id: int | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """send_alert plus what the evaluation and escalation need: the raising `rule` (which may
    auto-resolve it) and the incident the alert belongs to."""
    item = alert_input_validate(
        name=name, severity=severity, message=message, metadata=metadata, labels=labels
    )
    now = now or timezone.now()
    logger.error(
        f"ALERT: {item.name}",  # noqa: G004 - the guide's event text names the alert
        severity=item.severity.value,
        message=item.message,
        metadata=item.metadata,
        labels=item.labels,
        fingerprint=item.fingerprint,
    )
    try:
        return _store_occurrence(item, rule=rule, incident_id=incident_id, now=now)
    except DatabaseError as exc:
        from alerts.unstored import alert_hold_unstored

        logger.warning(
            "Alert not stored: database unavailable; delivering inline",
            alert=item.name,
            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        alert_hold_unstored(item, rule=rule, now=now)
        return None


def silence_matching(*, fingerprint: str, name: str, at: datetime) -> Silence | None:
    """The active silence covering this alert, if any (fingerprint first, then name patterns)."""
    active = Silence.objects.filter(starts_at__lte=at, ends_at__gt=at)
    exact = active.filter(fingerprint=fingerprint).order_by("-ends_at").first()
    if exact is not None:
        return exact
    lowered = name.lower()
    for silence in active.exclude(name_pattern="").order_by("-ends_at"):
        if fnmatch.fnmatchcase(lowered, silence.name_pattern.lower()):
            return silence
    return None


def _notification_kind(alert: Alert, *, created: bool, silenced: bool, now: datetime) -> str | None:
    if silenced or not should_notify(alert.severity):
        return None
    told = SEVERITY_RANK.get(alert.notified_severity, -1)
    if created or (alert.last_notified_at is not None and SEVERITY_RANK[alert.severity] > told):
        # New, or worse than anything paged so far (a rate flapping between medium and high
        # pages once for high, not at every crossing).
        return NotificationKind.FIRING
    if alert.status != AlertStatus.FIRING:
        return None  # acknowledged: someone is on it
    if alert.last_notified_at is None:
        return NotificationKind.FIRING  # never told: it was silenced or below the bar
    if now - alert.last_notified_at >= timedelta(seconds=settings.ALERT_REPEAT_INTERVAL):
        return NotificationKind.REPEAT
    return None


def _store_occurrence(
    item: AlertInput, *, rule: str, incident_id: int | None, now: datetime
) -> Alert:
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(fingerprint=item.fingerprint, status__in=OPEN_ALERT_STATUSES)
            .first()
        )
        created = False
        silence = silence_matching(fingerprint=item.fingerprint, name=item.name, at=now)
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        fingerprint=item.fingerprint,
                        name=item.name,
                        severity=item.severity,
                        message=item.message,
                        metadata=item.metadata,
                        labels=item.labels,
                        rule=rule,
                        first_seen=now,
                        last_seen=now,
                        silenced_by=silence,
                        incident_id=incident_id,
                    )
                created = True
            except IntegrityError:
                # A concurrent first occurrence won the unique index: count ours on its row.
                alert = Alert.objects.select_for_update().get(
                    fingerprint=item.fingerprint, status__in=OPEN_ALERT_STATUSES
                )
        if not created:
            alert.occurrences += 1
            alert.last_seen = max(alert.last_seen, now)
            alert.message = item.message
            alert.metadata = item.metadata
            alert.severity = item.severity
            alert.silenced_by = silence
            if rule and not alert.rule:
                alert.rule = rule
            if incident_id and not alert.incident_id:
                alert.incident_id = incident_id
        kind = _notification_kind(alert, created=created, silenced=silence is not None, now=now)
        if kind is not None:
            alert.last_notified_at = now
            if SEVERITY_RANK[alert.severity] > SEVERITY_RANK.get(alert.notified_severity, -1):
                alert.notified_severity = alert.severity
        alert.save()
        if alert.severity == Severity.CRITICAL and alert.incident_id is None:
            from alerts.incidents import incident_open_for_alert

            incident_open_for_alert(alert=alert, now=now)
        if kind is not None:
            notifications_queue(alert=alert, kind=kind)
    return alert


def _get_alert(alert_id: int) -> Alert:
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise NotFoundError("Alert")
    return alert


def alert_acknowledge(*, alert_id: int, user: User | None, now: datetime | None = None) -> Alert:
    """firing → acknowledged: someone is on it (no repeat notifications from now on)."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, status=AlertStatus.FIRING).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        alert = _get_alert(alert_id)
        if updated != 1:
            raise ConflictError(f"Alert is {alert.status}; only a firing alert can be acknowledged")
        if alert.incident_id is not None:
            from alerts.incidents import incident_acknowledge_if_needed

            incident_acknowledge_if_needed(
                incident_id=alert.incident_id, user=user, now=now, via=f"alert #{alert.pk}"
            )
    logger.info("Alert acknowledged", alert_id=alert.pk, alert=alert.name, user_id=_uid(user))
    return alert


def alert_resolve(
    *,
    alert_id: int,
    user: User | None,
    resolution: str = "",
    now: datetime | None = None,
) -> Alert:
    """Resolve an open alert (by staff, or automatically when `user` is None) and tell every
    channel that was told about the firing."""
    now = now or timezone.now()
    reason = resolution or ("Resolved by staff." if user is not None else "Resolved.")
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, status__in=OPEN_ALERT_STATUSES).update(
            status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=user, resolution=reason
        )
        alert = _get_alert(alert_id)
        if updated != 1:
            raise ConflictError("Alert is already resolved")
        notifications_queue(alert=alert, kind=NotificationKind.RESOLVED)
    logger.info(
        "Alert resolved",
        alert_id=alert.pk,
        alert=alert.name,
        user_id=_uid(user),
        resolution=reason,
    )
    return alert


def _uid(user: User | None) -> Any:
    return user.pk if user is not None else None


def silence_create(
    *,
    ends_at: datetime,
    fingerprint: str = "",
    name_pattern: str = "",
    starts_at: datetime | None = None,
    comment: str = "",
    user: User | None = None,
) -> Silence:
    """Silence one alert (fingerprint) or every alert whose name matches a pattern until
    `ends_at`: they are still stored, but nobody is notified."""
    now = timezone.now()
    starts = starts_at or now
    errors: dict[str, list[str]] = {}
    fingerprint = fingerprint.strip().lower()
    name_pattern = name_pattern.strip()
    if not fingerprint and not name_pattern:
        errors["non_field_errors"] = ["Give a fingerprint or a name pattern to silence."]
    if fingerprint and (
        len(fingerprint) != 64 or not all(c in "0123456789abcdef" for c in fingerprint)
    ):
        errors["fingerprint"] = ["Must be an alert's 64-character fingerprint."]
    if len(name_pattern) > MAX_NAME:
        errors["name_pattern"] = [f"At most {MAX_NAME} characters."]
    if ends_at <= max(starts, now):
        errors["ends_at"] = ["Must be in the future and after the start."]
    if errors:
        raise ValidationError(details=errors)
    silence = Silence.objects.create(
        fingerprint=fingerprint,
        name_pattern=name_pattern,
        starts_at=starts,
        ends_at=ends_at,
        comment=comment,
        created_by=user,
    )
    logger.info(
        "Silence created",
        silence_id=silence.pk,
        fingerprint=fingerprint or None,
        name_pattern=name_pattern or None,
        ends_at=ends_at.isoformat(),
        user_id=_uid(user),
    )
    return silence


def silence_expire(*, silence_id: int, user: User | None = None) -> Silence:
    """End a silence now (the maintenance is over early)."""
    now = timezone.now()
    # A silence that has not started yet ends before it begins: move its start back too, so
    # the "ends after start" constraint holds.
    updated = Silence.objects.filter(pk=silence_id, ends_at__gt=now).update(
        ends_at=now, starts_at=Least(F("starts_at"), Value(now - timedelta(microseconds=1)))
    )
    silence = Silence.objects.filter(pk=silence_id).first()
    if silence is None:
        raise NotFoundError("Silence")
    if updated != 1:
        raise ConflictError("Silence has already ended")
    logger.info("Silence ended", silence_id=silence_id, user_id=_uid(user))
    return silence
