"""Reads on alerts, incidents and notification channels (admin, API, health, /metrics)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from alerts.models import (
    Alert,
    Incident,
    NotificationChannel,
    Severity,
    Stage,
    TimelineEntry,
)
from alerts.notifiers import configured_channels, invalid_channels
from beo_automation.errors import NotFoundError, ValidationError


def alert_list(*, status: str | None = None, severity: str | None = None) -> QuerySet[Alert]:
    """Alerts newest first, filtered by status and/or severity (comma-separated lists)."""
    qs = Alert.objects.select_related("acknowledged_by", "resolved_by").order_by("-id")
    errors: dict[str, list[str]] = {}
    if status:
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        if bad := [s for s in wanted if s not in {"firing", "acknowledged", "resolved", "open"}]:
            errors["status"] = [
                f"Unknown status {', '.join(bad)}: use firing, acknowledged, resolved or open."
            ]
        expanded = {"firing", "acknowledged"} if "open" in wanted else set()
        qs = qs.filter(status__in=expanded | (set(wanted) - {"open"}))
    if severity:
        wanted = [s.strip().lower() for s in severity.split(",") if s.strip()]
        if bad := [s for s in wanted if s not in Severity.values]:
            errors["severity"] = [
                f"Unknown severity {', '.join(bad)}: use {', '.join(Severity.values)}."
            ]
        qs = qs.filter(severity__in=wanted)
    if errors:
        raise ValidationError(details=errors)
    return qs


def alert_get(*, alert_id: int) -> Alert:
    alert = (
        Alert.objects.select_related("acknowledged_by", "resolved_by").filter(pk=alert_id).first()
    )
    if alert is None:
        raise NotFoundError("Alert")
    return alert


def incident_list(
    *, stage: str | None = None, severity: str | None = None, active: bool | None = None
) -> QuerySet[Incident]:
    qs = Incident.objects.select_related("commander").order_by("-id")
    errors: dict[str, list[str]] = {}
    if stage:
        if stage not in Stage.values:
            errors["stage"] = [f"Must be one of: {', '.join(Stage.values)}."]
        qs = qs.filter(stage=stage)
    if severity:
        if severity not in Severity.values:
            errors["severity"] = [f"Must be one of: {', '.join(Severity.values)}."]
        qs = qs.filter(severity=severity)
    if active is not None:
        from alerts.models import ACTIVE_STAGES

        qs = qs.filter(stage__in=ACTIVE_STAGES) if active else qs.exclude(stage__in=ACTIVE_STAGES)
    if errors:
        raise ValidationError(details=errors)
    return qs


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


def misconfigured_channels() -> list[str]:
    return [f"#{c.position} ({c.label})" for c in invalid_channels()]
