"""Resolving an alert: it closes, and every channel told about the firing hears it is over.

Below the incidents on purpose: acknowledging an incident resolves its "response overdue"
alert, while resolving an alert never touches its incident.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from alerts.models import OPEN_ALERT_STATUSES, Alert, AlertStatus, NotificationKind
from alerts.notifications import notifications_queue
from alerts.selectors import alert_get
from beo_automation.errors import ConflictError
from maintenance.services.audit import audit_record

logger = structlog.get_logger("alerts")


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
        alert = alert_get(alert_id=alert_id)
        if updated != 1:
            raise ConflictError("Alert is already resolved")
        notifications_queue(alert=alert, kind=NotificationKind.RESOLVED)
        if user is not None:  # automatic resolves are the evaluator's, not a person's
            audit_record(
                model=Alert,
                object_id=alert.pk,
                object_repr=str(alert),
                actor=user,
                changes={"status": ["open", AlertStatus.RESOLVED.value]},
                additional_data={"operation": "resolve", "resolution": reason},
            )
    logger.info(
        "Alert resolved",
        alert_id=alert.pk,
        alert=alert.name,
        user_id=user.pk if user is not None else None,
        resolution=reason,
    )
    return alert
