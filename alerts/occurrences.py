"""The occurrence rule: how an occurrence of an alert changes the stored alert.

An alert is identified by its fingerprint (name and identifying labels). An occurrence either
opens a new alert or counts on the open one with the same fingerprint: one more occurrence, the
latest message, metadata and severity, `last_seen` moved on. The rule then decides whether the
channels hear about it (new, worse than anything paged so far, never told, or still firing after
the repeat interval) and a critical alert opens an incident.

`occurrences_count` is that rule on an alert in memory; `occurrences_store` applies it to the
stored alert. Alerts held while the database was down (alerts.holding) go through the same two
functions: counted in memory then, and stored in order once the database is back, so they end
as the row the database would have had (tests/alerts/test_holding.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from alerts.incidents import incident_open_for_alert
from alerts.models import (
    MAX_NAME,
    OPEN_ALERT_STATUSES,
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    NotificationKind,
    Severity,
    Silence,
)
from alerts.notifications import notifications_queue
from alerts.silences import silence_matching
from beo_automation.errors import ValidationError

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Occurrences:
    """`count` occurrences of one alert between `first_seen` and `last_seen`, all with the
    severity and message of `item` (send_alert makes one; a held alert a run of them)."""

    item: AlertInput
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    rule: str = ""
    incident_id: int | None = None


@dataclasses.dataclass(frozen=True)
class Told:
    """A held alert's channels were told at `at` (None: never) about `severity`: the
    delivery already happened, the stored alert only records it."""

    at: datetime | None
    severity: str


def occurrence_new_alert(occ: Occurrences) -> Alert:
    """The alert these occurrences open (not saved)."""
    item = occ.item
    return Alert(
        fingerprint=item.fingerprint,
        name=item.name,
        severity=item.severity,
        message=item.message,
        metadata=item.metadata,
        labels=item.labels,
        rule=occ.rule,
        occurrences=occ.count,
        first_seen=occ.first_seen,
        last_seen=occ.last_seen,
        incident_id=occ.incident_id,
    )


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


def _mark_told(alert: Alert, *, at: datetime, severity: str) -> None:
    alert.last_notified_at = at
    if SEVERITY_RANK[severity] > SEVERITY_RANK.get(alert.notified_severity, -1):
        alert.notified_severity = severity


def occurrences_count(
    alert: Alert,
    occ: Occurrences,
    *,
    created: bool,
    silence: Silence | None,
    told: Told | None = None,
) -> str | None:
    """Count `occ` on `alert` (just opened by it when `created`) and return the notification
    kind it calls for, marking the alert told. With `told` the channels were told already
    (or not) while the database was down: that is recorded and nothing more is due."""
    if not created:
        item = occ.item
        alert.occurrences += occ.count
        alert.last_seen = max(alert.last_seen, occ.last_seen)
        alert.message = item.message
        alert.metadata = item.metadata
        alert.severity = item.severity
        if occ.rule and not alert.rule:
            alert.rule = occ.rule
        if occ.incident_id and not alert.incident_id:
            alert.incident_id = occ.incident_id
    alert.silenced_by = silence
    if told is not None:
        if told.at is not None:
            _mark_told(alert, at=told.at, severity=told.severity)
        return None
    kind = _notification_kind(
        alert, created=created, silenced=silence is not None, now=occ.last_seen
    )
    if kind is not None:
        _mark_told(alert, at=occ.last_seen, severity=alert.severity)
    return kind


def occurrences_store(occ: Occurrences, *, told: Told | None = None) -> Alert:
    """Count `occ` on the open alert with its fingerprint, or open one; a critical alert
    opens (or joins) an incident; queue the notification due (none with `told`)."""
    fingerprint = occ.item.fingerprint
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(fingerprint=fingerprint, status__in=OPEN_ALERT_STATUSES)
            .first()
        )
        created = False
        if alert is None:
            try:
                with transaction.atomic():
                    alert = occurrence_new_alert(occ)
                    alert.save(force_insert=True)
                created = True
            except IntegrityError:
                # A concurrent first occurrence won the unique index: count ours on its row.
                alert = Alert.objects.select_for_update().get(
                    fingerprint=fingerprint, status__in=OPEN_ALERT_STATUSES
                )
        silence = silence_matching(fingerprint=fingerprint, name=occ.item.name, at=occ.last_seen)
        kind = occurrences_count(alert, occ, created=created, silence=silence, told=told)
        alert.save()
        if alert.severity == Severity.CRITICAL and alert.incident_id is None:
            incident_open_for_alert(alert=alert, now=occ.first_seen)
        if kind is not None:
            notifications_queue(alert=alert, kind=kind)
    return alert
