"""Reads on events shared with other apps (alerts, maintenance, admin)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from events.models import Event, Priority, Status


@dataclasses.dataclass(frozen=True)
class QueueStats:
    pending: int
    pending_by_priority: dict[str, int]
    processing: int
    oldest_pending_age_seconds: float | None


def event_queue_stats() -> QueueStats:
    """Pending events (total and by priority), processing events, age of the oldest pending one."""
    by_priority = {p.label: 0 for p in Priority}
    for row in (
        Event.objects.filter(status=Status.PENDING)
        .values("priority")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_priority[Priority(row["priority"]).label] = row["n"]
    oldest = Event.objects.filter(status=Status.PENDING).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]
    processing = Event.objects.filter(status=Status.PROCESSING).count()
    return QueueStats(
        pending=sum(by_priority.values()),
        pending_by_priority=by_priority,
        processing=processing,
        oldest_pending_age_seconds=(timezone.now() - oldest).total_seconds() if oldest else None,
    )


def event_last_claimed_at() -> datetime | None:
    """When a worker last took an event (None if never): from the started_at index."""
    return (
        Event.objects.filter(started_at__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
