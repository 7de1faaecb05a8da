"""Batches: sized to their events, renewed while they wait, and never run a reclaimed event."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from events.handlers import registry
from events.models import Event, Status
from events.pipeline import (
    FIRST_BATCH_SIZE,
    _BatchSizer,  # noqa: PLC2701 - first-party: this test covers the helper itself
    event_process,
    events_claim,
    events_process_available,
    events_process_batch,
    events_sweep,
)
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls():
    seen: list[int] = []
    behaviour: dict[str, object] = {}

    def handle(event):
        seen.append(event.pk)
        hook = behaviour.get(event.pk)
        if callable(hook):
            hook()
        return {"ok": True}

    registry.register("batch.*", name="batch-recorder")(handle)
    yield seen, behaviour
    registry.unregister("batch-recorder")


@pytest.fixture
def fresh_sizer():
    saved = _BatchSizer.seconds_per_event
    _BatchSizer.seconds_per_event = None
    yield _BatchSizer
    _BatchSizer.seconds_per_event = saved


def make(owner, n: int, **fields) -> list[Event]:
    now = timezone.now()
    return [
        EventFactory.create(
            owner=owner,
            type="batch.x",
            created_at=now + timedelta(microseconds=i),
            updated_at=now,
            available_at=now,
            **fields,
        )
        for i in range(n)
    ]


def test_fast_events_are_claimed_a_full_batch_at_a_time(fresh_sizer, settings):
    settings.EVENT_CLAIM_BATCH_SIZE = 200
    fresh_sizer.seconds_per_event = 0.0005
    assert fresh_sizer.next_limit() == 200


def test_slow_events_are_claimed_a_few_at_a_time(fresh_sizer, settings):
    settings.EVENT_CLAIM_BATCH_SIZE = 200
    fresh_sizer.seconds_per_event = 0.4
    assert fresh_sizer.next_limit() == 2
    fresh_sizer.seconds_per_event = 30
    assert fresh_sizer.next_limit() == 1


def test_a_process_starts_with_a_small_batch_before_it_has_measured(fresh_sizer, settings):
    settings.EVENT_CLAIM_BATCH_SIZE = 200
    assert fresh_sizer.next_limit() == FIRST_BATCH_SIZE


def test_a_drain_processes_everything_claimable_in_priority_order(user, calls, fresh_sizer):
    seen, _ = calls
    events = make(user, 25)
    outcome = events_process_available(time_budget=60)
    assert outcome.claimed == outcome.completed == 25
    assert seen == [e.pk for e in events]


def test_a_drain_stops_at_its_time_budget_and_leaves_the_rest_pending(user, calls, settings):
    _, behaviour = calls
    settings.EVENT_CLAIM_BATCH_SIZE = 1
    events = make(user, 5)
    behaviour[events[0].pk] = lambda: time.sleep(0.3)
    outcome = events_process_available(time_budget=0.2)
    assert outcome.claimed == 1
    assert Event.objects.filter(status=Status.PENDING).count() == 4


def test_events_waiting_in_a_batch_get_their_progress_renewed(user, calls, settings):
    _, behaviour = calls
    settings.EVENT_PROCESSING_TIMEOUT = 0.6  # renewed every 0.2 s
    first, second = make(user, 2)
    behaviour[first.pk] = lambda: time.sleep(0.35)
    events_process_batch(limit=2)
    second.refresh_from_db()
    assert second.status == Status.COMPLETED
    assert second.started_at is not None
    assert second.updated_at > second.started_at + timedelta(seconds=0.3)


def test_an_event_reclaimed_while_waiting_in_a_batch_is_not_run_by_its_old_worker(
    user, calls, settings
):
    seen, behaviour = calls
    settings.EVENT_PROCESSING_TIMEOUT = 0.3  # renewal checks every 0.1 s
    first, second = make(user, 2)

    def slow_then_swept() -> None:
        time.sleep(0.15)
        # Meanwhile the sweeper decided the second one's worker was gone.
        Event.objects.filter(pk=second.pk).update(status=Status.PENDING)

    behaviour[first.pk] = slow_then_swept
    outcome = events_process_batch(limit=2)
    assert outcome.completed == 1
    assert outcome.skipped == 1
    assert seen == [first.pk]
    second.refresh_from_db()
    assert second.status == Status.PENDING


def test_a_slow_workers_outcome_is_discarded_after_the_sweeper_reclaimed_its_event(user, settings):
    EventFactory.create(owner=user, type="nobody.handles")
    [claimed] = events_claim(limit=1)
    stale = timezone.now() - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT + 1)
    Event.objects.filter(pk=claimed.pk).update(updated_at=stale)
    assert events_sweep().reclaimed == 1
    # The old worker finally finishes: its outcome must not overwrite the reclaimed row.
    assert event_process(claimed) == Status.PROCESSING
    claimed.refresh_from_db()
    assert claimed.status == Status.PENDING
    assert claimed.result is None


def test_a_reclaimed_event_is_processed_again_as_a_new_attempt(user, calls, settings):
    seen, _ = calls
    [event] = make(user, 1)
    [claimed] = events_claim(limit=1)
    stale = timezone.now() - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT + 1)
    Event.objects.filter(pk=claimed.pk).update(updated_at=stale)
    events_sweep()
    assert events_process_batch().completed == 1
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.status == Status.COMPLETED
    assert seen == [event.pk]


def test_a_result_that_cannot_be_stored_fails_only_that_attempt(user, settings):
    registry.register("batch.bad", name="returns-a-set")(lambda event: {1, 2})
    try:
        [good] = make(user, 1)
        bad = EventFactory.create(owner=user, type="batch.bad")
        outcome = events_process_batch(limit=10)
    finally:
        registry.unregister("returns-a-set")
    assert (outcome.completed, outcome.retried) == (1, 1)
    bad.refresh_from_db()
    assert bad.status == Status.PENDING
    assert bad.last_error == "TypeError: Object of type set is not JSON serializable"
    good.refresh_from_db()
    assert good.status == Status.COMPLETED


@pytest.mark.postgres
def test_a_result_the_database_refuses_fails_only_that_attempt(user):
    # json.dumps accepts it; PostgreSQL's jsonb cannot store a NUL character.
    registry.register("batch.nul", name="returns-nul")(lambda event: {"text": "a\x00b"})
    try:
        first, second = make(user, 2)
        bad = EventFactory.create(owner=user, type="batch.nul")
        outcome = events_process_batch(limit=10)
    finally:
        registry.unregister("returns-nul")
    assert outcome.completed == 2
    bad.refresh_from_db()
    assert bad.status == Status.PENDING
    assert bad.last_error.startswith("DataError:")
    for event in (first, second):
        event.refresh_from_db()
        assert event.status == Status.COMPLETED


def test_an_error_message_the_database_could_not_store_is_cleaned(user):
    def fails_with_nul(event):
        raise RuntimeError("bad byte \x00 in " + "x" * 10_000)

    registry.register("batch.err", name="fails-with-nul")(fails_with_nul)
    try:
        event = EventFactory.create(owner=user, type="batch.err")
        assert events_process_batch(limit=10).retried == 1
    finally:
        registry.unregister("fails-with-nul")
    event.refresh_from_db()
    assert event.last_error.startswith("RuntimeError: bad byte  in xxx")
    assert len(event.last_error) == 5000
