"""Reads on alerts, incidents and notification channels (admin, API, health, /metrics)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from alerts.models import (
    ACTIVE_STAGES,
    Alert,
    AlertStatus,
    Incident,
    NotificationChannel,
    TimelineEntry,
)
from alerts.notifiers import configured_channels
from beo_automation.errors import NotFoundError


def alert_list(
    *, status: Collection[str] | None = None, severity: Collection[str] | None = None
) -> QuerySet[Alert]:
    """Alerts newest first, with any of these statuses ("open": firing or acknowledged) and any
    of these severities; the values were validated by the caller (AlertListQuerySerializer)."""
    qs = Alert.objects.select_related("acknowledged_by", "resolved_by").order_by("-id")
    if status:
        wanted = set(status)
        if "open" in wanted:
            wanted = (wanted - {"open"}) | {AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED}
        qs = qs.filter(status__in=wanted)
    if severity:
        qs = qs.filter(severity__in=severity)
    return qs


def alert_get(*, alert_id: int) -> Alert:
    alert = (
        Alert.objects.select_related("acknowledged_by", "resolved_by").filter(pk=alert_id).first()
    )
    if alert is None:
        raise NotFoundError("Alert")
    return alert


def incident_list(
    *,
    stage: Collection[str] | None = None,
    severity: Collection[str] | None = None,
    active: bool | None = None,
) -> QuerySet[Incident]:
    """Incidents newest first, in any of these stages and severities (validated by the caller,
    IncidentListQuerySerializer); `active`: not yet resolved (True) or resolved (False)."""
    qs = Incident.objects.select_related("commander").order_by("-id")
    if stage:
        qs = qs.filter(stage__in=stage)
    if severity:
        qs = qs.filter(severity__in=severity)
    if active is not None:
        qs = qs.filter(stage__in=ACTIVE_STAGES) if active else qs.exclude(stage__in=ACTIVE_STAGES)
    return qs


def incident_response_overdue_q(*, now: datetime) -> Q:
    """An active incident nobody acknowledged by its response time (escalated by
    alerts.escalation, shown overdue by the ops overview)."""
    return Q(acknowledged_at__isnull=True, response_due_at__lte=now, stage__in=ACTIVE_STAGES)


def incident_get(*, incident_id: int) -> Incident:
    incident = (
        Incident.objects.select_related("commander", "created_by", "acknowledged_by")
        .prefetch_related(
            Prefetch(
                "timeline",
                queryset=TimelineEntry.objects.select_related("actor").order_by("at", "id"),
            ),
            Prefetch("alerts", queryset=Alert.objects.order_by("first_seen", "id")),
        )
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        raise NotFoundError("Incident")
    return incident


@dataclasses.dataclass(frozen=True)
class ChannelState:
    key: str
    label: str
    service: str
    configured: bool
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= settings.ALERT_CHANNEL_FAILING_AFTER


def channel_states() -> list[ChannelState]:
    """Every configured channel with its delivery record (channels never used yet included)."""
    channels = configured_channels()
    records = {
        r.key: r for r in NotificationChannel.objects.filter(key__in=[c.key for c in channels])
    }
    states = []
    for channel in channels:
        record = records.get(channel.key)
        states.append(
            ChannelState(
                key=channel.key,
                label=channel.label,
                service=channel.service,
                configured=True,
                consecutive_failures=record.consecutive_failures if record else 0,
                last_success_at=record.last_success_at if record else None,
                last_failure_at=record.last_failure_at if record else None,
                last_error=record.last_error if record else "",
            )
        )
    return states


def failing_channels() -> list[ChannelState]:
    return [s for s in channel_states() if s.failing]
