"""Doorbells: one message wakes a drain of many events; none is lost, few are wasted.

Messages sent are counted from django-structlog's `task_enqueued` log line, which the
publishing process writes for every message; a marker bound to this test's log context keeps
other tests' (and other processes') messages out of the count.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import structlog
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from events.doorbell import BACKSTOP_KEY, DOORBELL_KEY, events_doorbell_answered
from events.handlers import registry
from events.list_cache import GLOBAL, events_list_version
from events.models import Event
from events.pipeline import events_process_available, events_sweep
from events.services import EventInput, event_create
from tests.factories import EventFactory
from tests.logs import log_lines

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def doorbells() -> Iterator[Callable[[], int]]:
    """Count the processing doorbells this test sends."""
    marker = uuid.uuid4().hex
    cache.delete_many([DOORBELL_KEY, BACKSTOP_KEY])

    def sent() -> int:
        # Distinct message ids: once a worker ran in this process (the celery_worker fixture),
        # django-structlog's publish receivers are connected twice and log each message twice.
        return len(
            {
                line["child_task_id"]
                for line in log_lines()
                if line.get("event") == "task_enqueued"
                and line.get("child_task_name") == "events.process_events"
                and line.get("doorbell_test") == marker
            }
        )

    with structlog.contextvars.bound_contextvars(doorbell_test=marker):
        yield sent


def create(owner, n: int = 1) -> None:
    for i in range(n):
        event_create(owner=owner, item=EventInput(type="beo.created", payload={"n": i}))


def test_many_events_ring_one_doorbell_and_one_backstop_until_a_worker_answers(
    user, settings, doorbells
):
    settings.EVENT_DOORBELL_BACKSTOP = 60  # one backstop period covers the whole test
    create(user, 20)
    assert doorbells() == 2  # the doorbell, and the backstop armed by the second create
    events_doorbell_answered()  # a worker starts draining
    create(user)
    assert doorbells() == 3
    create(user, 5)
    assert doorbells() == 3  # the backstop is still due


def test_the_sweeper_rings_even_when_a_doorbell_seems_to_be_waiting(user, settings, doorbells):
    create(user)  # sets the flag; pretend its message was lost
    assert doorbells() == 1
    cache.add(BACKSTOP_KEY, "1", timeout=60)  # and the backstop's too
    old = timezone.now() - timedelta(seconds=settings.EVENT_REQUEUE_AFTER + 5)
    EventFactory.create(owner=user, created_at=old, updated_at=old, available_at=old)
    assert events_sweep().requeued == 1
    assert doorbells() == 2


def test_a_drain_with_full_batches_wakes_one_more_worker_not_one_per_batch(
    user, settings, doorbells
):
    settings.EVENT_CLAIM_BATCH_SIZE = 5
    settings.EVENT_DOORBELL_BACKSTOP = 60
    now = timezone.now()
    for _ in range(23):
        EventFactory.create(owner=user, created_at=now, updated_at=now, available_at=now)
    outcome = events_process_available(time_budget=60)
    assert outcome.completed == 23
    # The first full batch rings (the flag was cleared when the drain started); the later
    # ones find that doorbell still waiting, and the first of them arms the backstop.
    assert doorbells() == 2


def test_retries_due_in_the_same_second_share_one_delayed_doorbell(user, settings, doorbells):
    settings.EVENT_RETRY_BACKOFF_BASE = 2  # first retry after 1 to 2 s

    def always_fails(event):
        raise RuntimeError("down")

    registry.register("flaky.*", name="always-fails")(always_fails)
    try:
        now = timezone.now()
        for _ in range(12):
            EventFactory.create(
                owner=user, type="flaky.x", created_at=now, updated_at=now, available_at=now
            )
        started = time.time()
        outcome = events_process_available(time_budget=60)
        ended = time.time()
    finally:
        registry.unregister("always-fails")
    assert outcome.retried == 12
    # Each retry is due 1-2 s after it failed: the due seconds (rounded up) of retries that
    # failed between `started` and `ended` are at most these many, however slow the run.
    due_seconds = math.ceil(ended + 2) - math.ceil(started + 1) + 1
    assert 1 <= doorbells() <= min(due_seconds, 11), "one per due second, not one per event"


def test_a_create_invalidates_its_owners_lists_and_rings(user, doorbells):
    before = {scope: events_list_version(scope=scope) for scope in (user.pk, GLOBAL)}
    create(user)
    after = {scope: events_list_version(scope=scope) for scope in (user.pk, GLOBAL)}
    assert all(after[scope] != before[scope] for scope in before)
    assert doorbells() == 1


def test_a_create_rolled_back_neither_invalidates_nor_rings(user, doorbells):
    before = events_list_version(scope=user.pk)

    def create_then_fail() -> None:
        with transaction.atomic():
            create(user)
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert events_list_version(scope=user.pk) == before
    assert doorbells() == 0


def test_with_the_cache_down_every_create_is_stored_and_rings(user, settings, doorbells):
    caches = json.loads(json.dumps(settings.CACHES))
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens there
    caches["default"]["OPTIONS"] = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}
    settings.CACHES = caches
    create(user, 2)
    assert Event.objects.filter(owner=user).count() == 2
    assert doorbells() == 2, "no debounce without the flag: a spare doorbell is harmless"
