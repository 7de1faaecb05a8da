"""Reads on events shared with other apps (alerts, maintenance, admin)."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from beo_automation.errors import NotFoundError
from events.models import Event, Priority, Status

# An event id as staff type it: 123 or #123.
EVENT_ID_TERM = re.compile(r"^#?(\d{1,18})$")
# A username search term matching more users than this is too vague to narrow events by owner.
OWNER_MATCH_LIMIT = 500


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


# --- API reads: what a viewer may see, newest first, read by keyset -----------------------------

# Exactly the columns an API representation needs: list pages and details read nothing else
# (not request_hash, idempotency_key, available_at …).
EVENT_API_FIELDS = (
    "id",
    "type",
    "payload",
    "priority",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "attempts",
    "last_error",
    "duration_ms",
    "result",
)

EventRow = dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventListFilters:
    # Any of these statuses / priorities (None: no filter).
    status: tuple[str, ...] | None = None
    priority: tuple[int, ...] | None = None
    type: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive: consecutive ranges never overlap


@dataclasses.dataclass(frozen=True)
class KeysetPosition:
    """A place in the newest-first order: (created_at, id), id breaking ties."""

    created_at: datetime
    id: int

    @classmethod
    def of(cls, row: EventRow) -> KeysetPosition:
        return cls(row["created_at"], row["id"])


@dataclasses.dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    # Where the next (older) and previous (newer) pages start; None when there is none.
    older: KeysetPosition | None
    newer: KeysetPosition | None


def events_visible_to(*, viewer: AbstractBaseUser) -> QuerySet[Event]:
    """Staff see every event; anyone else only their own."""
    if getattr(viewer, "is_staff", False):
        return Event.objects.all()
    return Event.objects.filter(owner_id=viewer.pk)


def _filtered(queryset: QuerySet[Event], filters: EventListFilters) -> QuerySet[Event]:
    if filters.status is not None:
        queryset = queryset.filter(status__in=filters.status)
    if filters.priority is not None:
        queryset = queryset.filter(priority__in=filters.priority)
    if filters.type is not None:
        queryset = queryset.filter(type=filters.type)
    if filters.created_after is not None:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    return queryset


def event_list_page(
    *,
    viewer: AbstractBaseUser,
    filters: EventListFilters,
    limit: int,
    older_than: KeysetPosition | None = None,
    newer_than: KeysetPosition | None = None,
) -> EventPage:
    """One page of the viewer's events, newest first, by keyset (never OFFSET).

    The position condition is written as `created_at <= c AND (created_at < c OR id < i)`
    rather than the plain OR: the first term is an index condition on (owner, -created_at,
    -id) / (-created_at, -id), so a page deep in the list costs what the first page costs.
    One row more than the page is read to know whether another page follows.
    """
    queryset = _filtered(events_visible_to(viewer=viewer), filters)
    if newer_than is not None:
        # Walking back towards the newest: read upwards from the position, then flip.
        at = newer_than
        rows = list(
            queryset.filter(
                Q(created_at__gte=at.created_at)
                & (Q(created_at__gt=at.created_at) | Q(id__gt=at.id))
            )
            .order_by("created_at", "id")
            .values(*EVENT_API_FIELDS)[: limit + 1]
        )
        more_newer = len(rows) > limit
        rows = rows[:limit][::-1]
        return EventPage(
            rows=rows,
            older=KeysetPosition.of(rows[-1]) if rows else None,
            newer=KeysetPosition.of(rows[0]) if rows and more_newer else None,
        )
    if older_than is not None:
        at = older_than
        queryset = queryset.filter(
            Q(created_at__lte=at.created_at) & (Q(created_at__lt=at.created_at) | Q(id__lt=at.id))
        )
    rows = list(queryset.order_by("-created_at", "-id").values(*EVENT_API_FIELDS)[: limit + 1])
    more_older = len(rows) > limit
    rows = rows[:limit]
    return EventPage(
        rows=rows,
        older=KeysetPosition.of(rows[-1]) if rows and more_older else None,
        # Coming from a newer page, there is one to go back to.
        newer=KeysetPosition.of(rows[0]) if rows and older_than is not None else None,
    )


def event_get_visible(*, viewer: AbstractBaseUser, event_id: int) -> EventRow:
    """One event the viewer may see; NotFoundError("Event") otherwise, whether or not it
    exists (someone else's event is indistinguishable from a missing one)."""
    row = events_visible_to(viewer=viewer).filter(pk=event_id).values(*EVENT_API_FIELDS).first()
    if row is None:
        raise NotFoundError("Event")
    return row


def event_ensure_visible(*, viewer: AbstractBaseUser, event_id: int) -> None:
    """NotFoundError("Event") unless the viewer may see (and so act on) this event."""
    if not events_visible_to(viewer=viewer).filter(pk=event_id).exists():
        raise NotFoundError("Event")


# --- Staff search (the admin's changelists) ------------------------------------------------------


def events_search(*, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    """Live or archived events matching a staff search: an id (123 or #123), the beginning of
    the type, or part of the owner's username. Each branch has an index (primary key, type,
    owner); a substring search on type would read the whole table."""
    term = term.strip()
    if not term:
        return queryset
    # A number is an id (types are never just digits); anything else a type prefix.
    if match := EVENT_ID_TERM.fullmatch(term):
        condition = Q(pk=int(match[1]))
    else:
        condition = Q(type__startswith=term)
    owners = list(
        get_user_model()
        .objects.filter(username__icontains=term)
        .values_list("pk", flat=True)[: OWNER_MATCH_LIMIT + 1]
    )
    if owners and len(owners) <= OWNER_MATCH_LIMIT:
        condition |= Q(owner_id__in=owners)
    return queryset.filter(condition)


def webhook_deliveries_search(*, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    """Deliveries of an event (123 or #123), or the one with this webhook-id (msg_…)."""
    term = term.strip()
    if not term:
        return queryset
    if match := EVENT_ID_TERM.fullmatch(term):
        return queryset.filter(event_id=int(match[1]))
    return queryset.filter(webhook_id=term)
