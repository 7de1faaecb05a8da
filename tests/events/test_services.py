"""Event writes: validation, idempotent create, bulk create, retry and cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from beo_automation.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from events.models import Event, Priority, Status
from events.services import (
    EventInput,
    _new_event,  # noqa: PLC2701 - first-party: this test covers the helper itself
    event_bulk_create,
    event_cancel,
    event_create,
    event_input_validate,
    event_retry,
    request_fingerprint,
)
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def item(**kw) -> EventInput:
    return EventInput(type=kw.get("type", "beo.created"), payload=kw.get("payload", {"a": 1}))


def test_validate_accepts_a_well_formed_event():
    parsed = event_input_validate(type="beo.created:v2-x_y", payload={"n": 1}, priority="urgent")
    assert parsed.priority == Priority.URGENT


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"type": "", "payload": {}, "priority": "normal"}, "type"),
        ({"type": "x" * 101, "payload": {}, "priority": "normal"}, "type"),
        ({"type": "has space", "payload": {}, "priority": "normal"}, "type"),
        ({"type": "ok", "payload": [1, 2], "priority": "normal"}, "payload"),
        ({"type": "ok", "payload": {}, "priority": "asap"}, "priority"),
    ],
)
def test_validate_names_the_bad_field(fields, bad):
    with pytest.raises(ValidationError) as info:
        event_input_validate(**fields)
    assert info.value.details is not None
    assert set(info.value.details) == {bad}


def test_validate_refuses_an_oversized_payload(settings):
    settings.EVENT_PAYLOAD_MAX_BYTES = 100
    with pytest.raises(PayloadTooLargeError, match="limit is 100 bytes"):
        event_input_validate(type="ok", payload={"x": "y" * 200}, priority="normal")


def test_create_stores_a_pending_event(user):
    event, created = event_create(owner=user, item=item(), request_id="req-1")
    assert created
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.owner == user
    assert event.request_id == "req-1"
    assert event.attempts == 0


def test_same_idempotency_key_and_body_returns_the_original(user):
    digest = request_fingerprint({"type": "beo.created", "payload": {"a": 1}})
    first, created = event_create(
        owner=user, item=item(), idempotency_key="k1", request_hash=digest
    )
    again, created_again = event_create(
        owner=user, item=item(), idempotency_key="k1", request_hash=digest
    )
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert Event.objects.count() == 1


def test_same_idempotency_key_with_another_body_conflicts(user):
    event_create(owner=user, item=item(), idempotency_key="k1", request_hash="a" * 64)
    with pytest.raises(ConflictError, match="different request body"):
        event_create(owner=user, item=item(), idempotency_key="k1", request_hash="b" * 64)
    assert Event.objects.count() == 1


def test_idempotency_keys_are_per_user(user, other_user):
    event_create(owner=user, item=item(), idempotency_key="k1", request_hash="a" * 64)
    _, created = event_create(
        owner=other_user, item=item(), idempotency_key="k1", request_hash="b" * 64
    )
    assert created


def test_an_expired_idempotency_key_names_a_new_event(user, settings):
    old, _ = event_create(owner=user, item=item(), idempotency_key="k1", request_hash="a" * 64)
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    new, created = event_create(
        owner=user, item=item(), idempotency_key="k1", request_hash="b" * 64
    )
    assert created
    assert new.pk != old.pk
    old.refresh_from_db()
    assert old.idempotency_key is None


def test_request_fingerprint_ignores_key_order():
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})


def test_bulk_create_stores_all(user):
    created = event_bulk_create(owner=user, items=[item(type=f"t{i}") for i in range(25)])
    assert [row["type"] for row in created] == [f"t{i}" for i in range(25)]
    stored = Event.objects.filter(owner=user).in_bulk([row["id"] for row in created])
    assert len(stored) == 25
    for row in created:
        event = stored[row["id"]]
        assert row == {name: getattr(event, name) for name in row}


def test_retry_moves_a_failed_event_back_to_pending_keeping_attempts(user, settings):
    event = EventFactory(
        owner=user, status=Status.FAILED, attempts=5, max_attempts=5, last_error="boom"
    )
    retried = event_retry(event_id=event.pk)
    assert retried.status == Status.PENDING
    assert retried.attempts == 5
    assert retried.max_attempts == 5 + settings.EVENT_MAX_ATTEMPTS


@pytest.mark.parametrize(
    "status", [Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.CANCELLED]
)
def test_retry_of_a_non_failed_event_conflicts_naming_its_state(user, status):
    event = EventFactory(owner=user, status=status)
    with pytest.raises(ConflictError, match=f"that is {status.value}"):
        event_retry(event_id=event.pk)


def test_cancel_moves_pending_to_cancelled(user):
    event = EventFactory(owner=user)
    cancelled = event_cancel(event_id=event.pk)
    assert cancelled.status == Status.CANCELLED
    assert cancelled.completed_at is not None


@pytest.mark.parametrize(
    "status", [Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELLED]
)
def test_cancel_of_a_non_pending_event_conflicts_naming_its_state(user, status):
    event = EventFactory(owner=user, status=status)
    with pytest.raises(ConflictError, match=f"that is {status.value}"):
        event_cancel(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == status


def test_retry_or_cancel_of_a_missing_event_is_not_found():
    with pytest.raises(NotFoundError):
        event_cancel(event_id=987654)
    with pytest.raises(NotFoundError):
        event_retry(event_id=987654)


def _stored(event_id: int) -> dict:
    row = Event.objects.filter(pk=event_id).values().get()
    return {column: value for column, value in row.items() if column != "id"}


@pytest.mark.parametrize("idempotency_key", [None, "order-77"])
def test_the_fast_insert_stores_the_row_the_orm_would(user, idempotency_key):
    payload = {"guests": 120, "menu": ["soup", "fish"], "notes": None, "vip": True, "é": "ü"}
    item = event_input_validate(type="beo.created", payload=payload, priority="urgent")
    event, created = event_create(
        owner=user,
        item=item,
        idempotency_key=idempotency_key,
        request_hash="h" * 64,
        request_id="req-1",
    )
    assert created
    assert event.pk is not None
    assert not event._state.adding
    # The same event through Model.save(), with the same timestamps.
    twin = Event(
        **{
            f.attname: getattr(event, f.attname)
            for f in Event._meta.concrete_fields
            if not f.primary_key
        }
    )
    twin.idempotency_key = None  # unique per owner: the twin cannot share it
    twin.save(force_insert=True)
    expected = _stored(twin.pk)
    expected["idempotency_key"] = idempotency_key
    assert _stored(event.pk) == expected
    assert Event.objects.get(pk=event.pk).payload == payload


def test_bulk_create_stores_the_rows_the_orm_would(user):
    # COPY's text format escapes backslash, tab, newline and carriage return; JSON text is full
    # of backslashes, and the shared columns (here the request id) are escaped too.
    payloads = [
        {"tab": "a\tb", "lines": "one\ntwo\r\n", "slash": "C:\\beo\\N", "quote": '"x"'},
        {"é": "ü 🎉", "nested": {"list": [1, 2.5, None, True, False]}, "empty": {}},
        {},
    ]
    items = [
        event_input_validate(type=f"beo.t{i}", payload=payload, priority=priority)
        for i, (payload, priority) in enumerate(
            zip(payloads, ["low", "urgent", "normal"], strict=True)
        )
    ]
    created = event_bulk_create(owner=user, items=items, request_id="req\t1\\n\n")
    assert [row["payload"] for row in created] == payloads
    for row, item in zip(created, items, strict=True):
        stored = Event.objects.get(pk=row["id"])
        assert stored.payload == item.payload
        # The same event through Model.save(), with the same timestamps.
        twin = _new_event(owner=user, item=item, request_id="req\t1\\n\n")
        twin.created_at = twin.updated_at = twin.available_at = row["created_at"]
        twin.save(force_insert=True)
        assert _stored(stored.pk) == _stored(twin.pk)
