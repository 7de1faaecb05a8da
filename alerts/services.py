"""Raising and acknowledging alerts: the entry point other apps use.

`send_alert` is the operations guide's `sendAlert`:

    from alerts.services import send_alert
    send_alert(name="Backup Failed", severity="critical", message="pg_dump exited 1",
               metadata={"run_id": 42})

It logs an error line "ALERT: <name>", stores the occurrence (alerts.occurrences: a new alert,
or one more occurrence of the open alert with the same fingerprint) and queues notifications
when the severity warrants it. When the database itself is unreachable the alert is still logged
and delivered, and stored once the database is back (alerts.holding).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone

from alerts.holding import alert_hold
from alerts.incidents import incident_acknowledge_if_needed
from alerts.models import Alert, AlertStatus
from alerts.occurrences import Occurrences, alert_input_validate, occurrences_store
from alerts.selectors import alert_get
from beo_automation.errors import ConflictError
from maintenance.services.audit import audit_record

logger = structlog.get_logger("alerts")


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
    occ = Occurrences(item=item, first_seen=now, last_seen=now, rule=rule, incident_id=incident_id)
    try:
        return occurrences_store(occ)
    except DatabaseError as exc:
        logger.warning(
            "Alert not stored: database unavailable; delivering inline",
            alert=item.name,
            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        alert_hold(occ)
        return None


def alert_acknowledge(*, alert_id: int, user: User | None, now: datetime | None = None) -> Alert:
    """firing → acknowledged: someone is on it (no repeat notifications from now on)."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, status=AlertStatus.FIRING).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        alert = alert_get(alert_id=alert_id)
        if updated != 1:
            raise ConflictError(f"Alert is {alert.status}; only a firing alert can be acknowledged")
        if alert.incident_id is not None:
            incident_acknowledge_if_needed(
                incident_id=alert.incident_id, user=user, now=now, via=f"alert #{alert.pk}"
            )
        audit_record(
            model=Alert,
            object_id=alert.pk,
            object_repr=str(alert),
            actor=user,
            changes={"status": [AlertStatus.FIRING.value, AlertStatus.ACKNOWLEDGED.value]},
            additional_data={"operation": "acknowledge"},
        )
    logger.info(
        "Alert acknowledged",
        alert_id=alert.pk,
        alert=alert.name,
        user_id=user.pk if user is not None else None,
    )
    return alert
