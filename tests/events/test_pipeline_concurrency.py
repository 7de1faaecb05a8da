"""Workers racing on one queue in real PostgreSQL: every event processed exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connections
from django.utils import timezone

from events.handlers import registry
from events.models import Event, Priority, Status
from events.pipeline import events_claim, events_process_available

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def bulk_events(owner, count: int, *, type: str = "race.test") -> list[int]:
    now = timezone.now()
    events = Event.objects.bulk_create(
        Event(
            owner=owner,
            type=type,
            payload={"n": i},
            priority=Priority(i % 4),
            created_at=now,
            updated_at=now,
            available_at=now,
        )
        for i in range(count)
    )
    return [e.pk for e in events]


def run_in_threads(count: int, target) -> list[BaseException]:
    """Start `count` threads together (barrier); each gets its own database connection."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.fixture
def recording_handler():
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def handle(event):
        time.sleep(0.001)  # long enough for the workers to overlap
        with lock:
            seen.append((event.pk, threading.get_ident()))
        return {"ok": True}

    registry.register("race.*", name="race-recorder")(handle)
    yield seen
    registry.unregister("race-recorder")


def test_four_workers_draining_one_queue_process_every_event_exactly_once(user, recording_handler):
    ids = bulk_events(user, 400)
    errors = run_in_threads(4, lambda: events_process_available(time_budget=120))
    assert errors == []
    processed = Counter(pk for pk, _ in recording_handler)
    assert sorted(processed) == sorted(ids)
    assert set(processed.values()) == {1}
    assert len({thread for _, thread in recording_handler}) > 1, "the workers really overlapped"
    assert Event.objects.filter(status=Status.COMPLETED).count() == 400
    assert set(Event.objects.values_list("attempts", flat=True)) == {1}


def test_concurrent_claims_never_hand_out_the_same_event(user):
    ids = bulk_events(user, 100)
    claims: list[list[int]] = []
    lock = threading.Lock()

    def claim() -> None:
        mine = [e.pk for e in events_claim(limit=30)]
        with lock:
            claims.append(mine)

    assert run_in_threads(5, claim) == []
    flat = [pk for claim_ids in claims for pk in claim_ids]
    assert len(flat) == len(set(flat)), "an event was claimed twice"
    assert set(flat) == set(ids)
    assert max(len(c) for c in claims) <= 30


def test_concurrent_claims_each_come_in_priority_order(user):
    """SKIP LOCKED passes over rows another worker holds; each claim is still best-first."""
    ids = bulk_events(user, 40)
    claims: list[list[Event]] = []
    lock = threading.Lock()

    def claim() -> None:
        mine = events_claim(limit=10)
        with lock:
            claims.append(mine)

    assert run_in_threads(4, claim) == []
    for claim_events in claims:
        keys = [(-e.priority, e.created_at, e.pk) for e in claim_events]
        assert keys == sorted(keys), "each claim is in priority order"
    assert sorted(e.pk for c in claims for e in c) == sorted(ids)
