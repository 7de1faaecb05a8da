"""The processing core: priority-ordered race-safe claims, outcomes, backoff, the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.handlers import registry, type_matches
from events.models import Event, Priority, Status
from events.pipeline import (
    NO_HANDLER_RESULT,
    events_claim,
    events_process_batch,
    events_sweep,
    retry_delay_seconds,
)
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler():
    calls: list[int] = []
    behaviour: dict[str, object] = {"raise": None}

    def handle(event):
        calls.append(event.pk)
        if behaviour["raise"]:
            raise behaviour["raise"]  # type: ignore[misc]
        return {"ok": event.pk}

    registry.register("test.*", name="test-handler")(handle)
    yield calls, behaviour
    registry.unregister("test-handler")


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        ("beo.created", "beo.created", True),
        ("beo.created", "beo.created.v2", False),
        ("beo.*", "beo.updated", True),
        ("beo.*", "beox.updated", False),
        ("*", "anything", True),
    ],
)
def test_type_patterns(pattern, event_type, matches):
    assert type_matches(pattern, event_type) is matches


def test_claim_takes_the_highest_priority_first_then_the_oldest(user):
    now = timezone.now()
    low = EventFactory(owner=user, priority=Priority.LOW, created_at=now - timedelta(hours=2))
    normal_old = EventFactory(
        owner=user, priority=Priority.NORMAL, created_at=now - timedelta(hours=1)
    )
    normal_new = EventFactory(owner=user, priority=Priority.NORMAL, created_at=now)
    urgent = EventFactory(owner=user, priority=Priority.URGENT, created_at=now)
    high = EventFactory(owner=user, priority=Priority.HIGH, created_at=now)
    order = [e.pk for e in events_claim(limit=10)]
    assert order == [urgent.pk, high.pk, normal_old.pk, normal_new.pk, low.pk]


def test_claim_marks_processing_sets_started_at_and_counts_the_attempt(user):
    EventFactory(owner=user)
    [event] = events_claim(limit=1)
    assert event.status == Status.PROCESSING
    assert event.started_at is not None
    assert event.attempts == 1
    assert events_claim(limit=1) == []


def test_claim_skips_events_not_yet_available(user):
    EventFactory(owner=user, available_at=timezone.now() + timedelta(minutes=5))
    assert events_claim(limit=10) == []


def test_a_handled_event_completes_with_its_result(user, handler):
    calls, _ = handler
    event = EventFactory(owner=user, type="test.thing")
    outcome = events_process_batch()
    assert outcome.completed == 1
    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert event.result == {"test-handler": {"ok": event.pk}}
    assert event.completed_at
    assert event.duration_ms is not None
    assert calls == [event.pk]


def test_an_event_without_handler_completes_saying_so(user):
    event = EventFactory(owner=user, type="nobody.handles.this")
    events_process_batch()
    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert event.result == NO_HANDLER_RESULT


def test_a_failure_is_retried_later_with_backoff(user, handler):
    _, behaviour = handler
    behaviour["raise"] = RuntimeError("kitchen printer offline")
    event = EventFactory(owner=user, type="test.thing", max_attempts=5)
    outcome = events_process_batch()
    assert outcome.retried == 1
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.attempts == 1
    assert event.last_error == "RuntimeError: kitchen printer offline"
    assert Event.objects.get(pk=event.pk).available_at > timezone.now()


def test_the_last_failed_attempt_dead_letters_the_event(user, handler):
    _, behaviour = handler
    behaviour["raise"] = RuntimeError("still broken")
    event = EventFactory(owner=user, type="test.thing", attempts=4, max_attempts=5)
    outcome = events_process_batch()
    assert outcome.failed == 1
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert event.attempts == 5
    assert event.last_error == "RuntimeError: still broken"


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.EVENT_RETRY_BACKOFF_BASE = 2
    settings.EVENT_RETRY_BACKOFF_MAX = 300
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (10, 300)]:
        delays = {retry_delay_seconds(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_sweeper_returns_stuck_processing_events_to_pending(user, settings):
    stale = timezone.now() - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT + 5)
    stuck = EventFactory(owner=user, status=Status.PROCESSING, attempts=1, updated_at=stale)
    fresh = EventFactory(owner=user, status=Status.PROCESSING, attempts=1)
    outcome = events_sweep()
    assert outcome.reclaimed == 1
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == Status.PENDING
    assert "worker stopped" in stuck.last_error
    assert fresh.status == Status.PROCESSING


def test_sweeper_fails_a_stuck_event_on_its_last_attempt(user, settings):
    stale = timezone.now() - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT + 5)
    stuck = EventFactory(
        owner=user, status=Status.PROCESSING, attempts=5, max_attempts=5, updated_at=stale
    )
    assert events_sweep().failed == 1
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED


def test_sweeper_counts_pending_events_whose_message_was_lost(user, settings):
    old = timezone.now() - timedelta(seconds=settings.EVENT_REQUEUE_AFTER + 5)
    EventFactory(owner=user, created_at=old, updated_at=old, available_at=old)
    EventFactory(owner=user)
    assert events_sweep().requeued == 1
    assert Event.objects.filter(status=Status.PENDING).count() == 2
