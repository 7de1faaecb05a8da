"""Writes on events: create (single, idempotent, bulk), retry, cancel.

Every caller — API views, admin actions, tasks — goes through these functions. State changes
are conditional updates whose row count says whether this caller won a race; processing is
enqueued only after the transaction commits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from beo_automation.errors import (
    AppError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from events.bulk_insert import event_insert, events_insert_like
from events.doorbell import events_submitted
from events.list_cache import events_changed
from events.models import Event, Priority, Status
from events.selectors import EVENT_API_FIELDS, EventRow
from events.submission import (
    PAYLOAD_MESSAGE,
    PRIORITIES,
    PRIORITY_MESSAGE,
    TYPE_MESSAGE,
    payload_valid,
    priority_valid,
    type_valid,
)
from maintenance.services.audit import audit_create_params, audit_record


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventInput:
    """A validated event as submitted: what create needs, nothing more."""

    type: str
    payload: dict[str, Any]
    priority: Priority = Priority.NORMAL
    # The payload as validated JSON text, when known: a bulk insert writes it as is instead of
    # serialising the payload a second time.
    payload_json: str | None = dataclasses.field(default=None, compare=False, repr=False)


# json.dumps with any non-default option builds a new encoder per call; a bulk request encodes
# 1,000 payloads, so one encoder is built once and reused.
_PAYLOAD_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

# A JSON-escaped NUL character (\u0000) whose backslash is not itself escaped.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def payload_encode(payload: Mapping[str, Any]) -> bytes:
    """The payload as compact UTF-8 JSON; ValidationError for what PostgreSQL's jsonb refuses.

    jsonb cannot store a NUL character, a non-finite number (`1e400` parses as infinity) or an
    unpaired surrogate (`"\\ud800"`): without this check such a payload fails in the database,
    a 500 instead of the client's 400.
    """
    try:
        text = _PAYLOAD_ENCODER.encode(payload)
    except ValueError:
        raise ValidationError(details={"payload": ["Numbers must be finite."]}) from None
    if _ESCAPED_NUL.search(text):
        raise ValidationError(
            details={"payload": ["Must not contain the NUL character (\\u0000)."]}
        )
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise ValidationError(
            details={"payload": ["Must be valid Unicode (no unpaired surrogates)."]}
        ) from None


def event_input_validate(*, type: Any, payload: Any, priority: Any) -> EventInput:
    """Validate one event's fields the same way for every entry point (API, admin, scripts):
    the rule of events.submission, then payload_encode and the size limit (413).

    `priority` is a name ("high") or a Priority; a bare number is refused like any other
    non-string, as the API refuses it.
    """
    errors: dict[str, list[str]] = {}
    if not type_valid(type):
        errors["type"] = [TYPE_MESSAGE]
    if not payload_valid(payload):
        errors["payload"] = [PAYLOAD_MESSAGE]
    if isinstance(priority, Priority):
        resolved = priority
    elif priority_valid(priority):
        resolved = PRIORITIES[priority]
    else:
        errors["priority"] = [PRIORITY_MESSAGE]
    if errors:
        raise ValidationError(details=errors)
    encoded = payload_encode(payload)
    size = len(encoded)
    if size > settings.EVENT_PAYLOAD_MAX_BYTES:
        raise PayloadTooLargeError(
            f"Payload is {size} bytes; the limit is {settings.EVENT_PAYLOAD_MAX_BYTES} bytes"
        )
    return EventInput(type=type, payload=payload, priority=resolved, payload_json=encoded.decode())


def request_fingerprint(data: Any) -> str:
    """A stable hash of a request body, independent of key order and whitespace."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_event(*, owner: User, item: EventInput, **extra: Any) -> Event:
    now = timezone.now()
    return Event(
        owner=owner,
        type=item.type,
        payload=item.payload,
        priority=item.priority,
        status=Status.PENDING,
        created_at=now,
        updated_at=now,
        available_at=now,
        max_attempts=settings.EVENT_MAX_ATTEMPTS,
        **extra,
    )


def event_create(
    *,
    owner: User,
    item: EventInput,
    idempotency_key: str | None = None,
    request_hash: str = "",
    request_id: str = "",
) -> tuple[Event, bool]:
    """Store one event and enqueue its processing. Returns (event, created).

    With an idempotency key, the same key from the same owner within EVENT_IDEMPOTENCY_TTL
    returns the original event (created=False); the same key with a different request body
    raises ConflictError. After the TTL the key is released and may be used again.
    """
    if idempotency_key is None:
        # One INSERT needs no transaction of its own: in autocommit it commits by itself and the
        # on_commit hooks below run right after it (inside a caller's atomic block they wait for
        # that block's commit). An explicit atomic() here would cost a BEGIN and a COMMIT round
        # trip on every API create.
        event = _new_event(owner=owner, item=item, request_id=request_id)
        event_insert(event, audit=audit_create_params(model=Event, actor=owner))
        events_submitted(owner_ids=[owner.pk])
        return event, True

    for _ in range(3):
        existing = Event.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.created_at >= timezone.now() - timedelta(
                seconds=settings.EVENT_IDEMPOTENCY_TTL
            ):
                if existing.request_hash and existing.request_hash != request_hash:
                    raise ConflictError(
                        "Idempotency-Key was already used with a different request body"
                    )
                return existing, False
            # Expired: release the key so it can name a new event.
            Event.objects.filter(pk=existing.pk, idempotency_key=idempotency_key).update(
                idempotency_key=None
            )
            events_changed(owner_ids=[owner.pk])
        try:
            with transaction.atomic():
                event = _new_event(
                    owner=owner,
                    item=item,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    request_id=request_id,
                )
                event_insert(event, audit=audit_create_params(model=Event, actor=owner))
                events_submitted(owner_ids=[owner.pk])
            return event, True
        except IntegrityError:
            # A concurrent request with the same key won the insert: answer with its event.
            continue
    raise ConflictError("Idempotency-Key is being used by concurrent requests; retry")


def event_bulk_create(
    *, owner: User, items: Sequence[EventInput], request_id: str = ""
) -> list[EventRow]:
    """Store many validated events in one transaction (all or nothing) and enqueue them.
    Returns the new events as rows of EVENT_API_FIELDS, in item order."""
    if not items:
        return []
    # One template for the shared columns (owner, status, timestamps, request id…); the rows
    # go in by COPY on PostgreSQL (events.bulk_insert).
    template = _new_event(owner=owner, item=items[0], request_id=request_id)
    with transaction.atomic():
        created = events_insert_like(template=template, items=items, returning=EVENT_API_FIELDS)
        if created:
            events_submitted(owner_ids=[owner.pk])
            # One record per request, not per event: the count and the id range.
            ids = [row["id"] for row in created]
            audit_record(
                model=Event,
                object_id=ids[0],
                object_repr=f"{len(ids)} events #{min(ids)}-#{max(ids)}",
                action="create",
                actor=owner,
                additional_data={
                    "operation": "bulk_create",
                    "count": len(ids),
                    "first_id": min(ids),
                    "last_id": max(ids),
                    "ids": ids,
                },
            )
    return created


def _conflict(event_id: int, action: str, allowed: Status) -> AppError:
    current = Event.objects.filter(pk=event_id).values_list("status", flat=True).first()
    if current is None:
        return NotFoundError("Event")
    return ConflictError(
        f"Cannot {action} an event that is {current}; only {allowed.value} events can be "
        f"{'retried' if action == 'retry' else 'cancelled'}"
    )


def _status_change_audit(
    *, event_id: int, actor: User | None, operation: str, old: Status, new: Status
) -> None:
    audit_record(
        model=Event,
        object_id=event_id,
        object_repr=f"Event #{event_id}",
        actor=actor,
        changes={"status": [old.value, new.value]},
        additional_data={"operation": operation},
    )


def event_retry(*, event_id: int, actor: User | None = None) -> Event:
    """Dead letter → pending: a failed event gets EVENT_MAX_ATTEMPTS more attempts."""
    now = timezone.now()
    with transaction.atomic():
        updated = Event.objects.filter(pk=event_id, status=Status.FAILED).update(
            status=Status.PENDING,
            available_at=now,
            updated_at=now,
            completed_at=None,
            max_attempts=F("attempts") + settings.EVENT_MAX_ATTEMPTS,
        )
        if updated != 1:
            raise _conflict(event_id, "retry", Status.FAILED)
        event = Event.objects.get(pk=event_id)
        events_submitted(owner_ids=[event.owner_id])
        _status_change_audit(
            event_id=event_id, actor=actor, operation="retry", old=Status.FAILED, new=Status.PENDING
        )
    return event


def event_cancel(*, event_id: int, actor: User | None = None) -> Event:
    """Pending → cancelled. Anything a worker already took cannot be cancelled."""
    now = timezone.now()
    with transaction.atomic():
        updated = Event.objects.filter(pk=event_id, status=Status.PENDING).update(
            status=Status.CANCELLED, updated_at=now, completed_at=now
        )
        if updated != 1:
            raise _conflict(event_id, "cancel", Status.PENDING)
        event = Event.objects.get(pk=event_id)
        _status_change_audit(
            event_id=event_id,
            actor=actor,
            operation="cancel",
            old=Status.PENDING,
            new=Status.CANCELLED,
        )
    events_changed(owner_ids=[event.owner_id])
    return event


# An action on selected events handles at most this many per call; the rest on the next.
ACTION_LIMIT = 1000

EventAction = Literal["retry", "cancel"]
# What each action needs: the state it applies to, the service that applies it.
EVENT_ACTIONS: dict[EventAction, tuple[Status, Callable[..., Event]]] = {
    "retry": (Status.FAILED, event_retry),
    "cancel": (Status.PENDING, event_cancel),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventsActionOutcome:
    action: EventAction
    eligible: Status
    changed: list[Event]
    # Selected but in another state, counted before acting (None: not counted).
    ineligible: int | None
    # Eligible when selected, changed by someone else before this call reached them.
    raced: int
    failed: list[tuple[int, str]]
    truncated: bool


def events_action_apply(
    *, action: EventAction, selection: QuerySet[Event], count_ineligible: bool = True
) -> EventsActionOutcome:
    """Retry or cancel the selected events that are in the state the action applies to (up
    to ACTION_LIMIT, newest first), each through event_retry/event_cancel.

    `count_ineligible=False` skips counting the rest of the selection: over a huge filter
    ("select all") that count would read the whole table.
    """
    eligible, service = EVENT_ACTIONS[action]
    # Counted before acting: afterwards the acted-on events are no longer in that state.
    ineligible = selection.exclude(status=eligible).count() if count_ineligible else None
    ids = list(
        selection.filter(status=eligible)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[: ACTION_LIMIT + 1]
    )
    changed: list[Event] = []
    failed: list[tuple[int, str]] = []
    raced = 0
    for event_id in ids[:ACTION_LIMIT]:
        try:
            changed.append(service(event_id=event_id))
        except (ConflictError, NotFoundError):
            raced += 1  # its state changed since it was selected
        except AppError as exc:
            failed.append((event_id, exc.message))
    return EventsActionOutcome(
        action=action,
        eligible=eligible,
        changed=changed,
        ineligible=ineligible,
        raced=raced,
        failed=failed,
        truncated=len(ids) > ACTION_LIMIT,
    )
