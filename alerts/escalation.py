"""Escalation: an incident nobody acknowledged within its response time raises a critical
"Incident response overdue" alert, notified and repeated while it stays unacknowledged."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import structlog
from django.db import transaction
from django.utils import timezone

from alerts.incidents import (
    OVERDUE_RULE,
    incident_overdue_alerts_resolve,
    incident_timeline_add,
)
from alerts.models import (
    OPEN_ALERT_STATUSES,
    RESPONSE_TIMES,
    Incident,
    Severity,
    TimelineKind,
)
from alerts.notifiers import configured_channels
from alerts.postmortem import duration_text
from alerts.selectors import incident_response_overdue_q
from alerts.services import alert_raise

logger = structlog.get_logger("alerts.incidents")

OVERDUE_ALERT = "Incident response overdue"


@dataclasses.dataclass(frozen=True)
class EscalationOutcome:
    overdue: int
    escalated: int
    resolved: int


def incidents_escalate(*, now: datetime | None = None) -> EscalationOutcome:
    """Escalate every active incident nobody acknowledged by its response time: a critical
    "Incident response overdue" alert (notified, repeated while it stays unacknowledged) and a
    timeline entry the first time. Overdue alerts of incidents acknowledged since are resolved."""
    now = now or timezone.now()
    overdue = list(
        Incident.objects.filter(incident_response_overdue_q(now=now)).order_by("response_due_at")
    )
    escalated = 0
    for incident in overdue:
        late = now - incident.response_due_at
        allowed = RESPONSE_TIMES[Severity(incident.severity)]
        with transaction.atomic():
            first = (
                Incident.objects.filter(pk=incident.pk, escalated_at__isnull=True).update(
                    escalated_at=now, updated_at=now
                )
                == 1
            )
            alert_raise(
                name=OVERDUE_ALERT,
                severity=Severity.CRITICAL,
                message=(
                    f"Incident #{incident.pk} '{incident.title}' ({incident.severity}) was not "
                    f"acknowledged within {duration_text(allowed)}: due "
                    f"{incident.response_due_at:%Y-%m-%d %H:%M %Z}, {duration_text(late)} ago."
                ),
                metadata={
                    "incident_id": incident.pk,
                    "response_due_at": incident.response_due_at.isoformat(),
                    "severity": incident.severity,
                },
                labels={"incident": str(incident.pk)},
                rule=OVERDUE_RULE,
                incident_id=incident.pk,
                now=now,
            )
            if first:
                escalated += 1
                # Say who hears of it: "notified" alone would claim it when no channel exists.
                count = len(configured_channels())
                channels_told = (
                    f"sent to {count} channel{'s' if count != 1 else ''}"
                    if count
                    else "but no channel is configured: nobody was notified"
                )
                incident_timeline_add(
                    incident,
                    kind=TimelineKind.ESCALATED,
                    text=(
                        f"Escalated: not acknowledged within {duration_text(allowed)}; critical "
                        f"'{OVERDUE_ALERT}' alert raised, {channels_told}."
                    ),
                    user=None,
                    at=now,
                )
                logger.error(
                    "Incident response overdue", incident_id=incident.pk, late=duration_text(late)
                )
    resolved = 0
    stale = Incident.objects.filter(
        alerts__rule=OVERDUE_RULE, alerts__status__in=OPEN_ALERT_STATUSES
    ).distinct()
    for incident in stale:
        if incident.acknowledged_at is not None or not incident.is_active:
            resolved += incident_overdue_alerts_resolve(
                incident=incident, reason="Incident acknowledged or no longer active.", now=now
            )
    return EscalationOutcome(overdue=len(overdue), escalated=escalated, resolved=resolved)
