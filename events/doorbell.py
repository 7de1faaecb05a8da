"""Enqueueing processing: the database row is the work, the Celery message only says "look".

Messages ("doorbells") are sent after the surrounding transaction commits, so a worker never
looks for a row it cannot see yet, and a rolled-back create sends nothing.

One drain handles hundreds of events, so a doorbell per created event would mostly wake workers
to find nothing. Doorbells are debounced with a flag in the cache: a ring sends a message only
when no doorbell is already waiting, and a worker clears the flag when it starts draining (see
`events_doorbell_answered`), so an event committed after that rings again. No wake-up is lost:
an event that found the flag set was committed before the waiting doorbell's drain starts, and
that drain claims it.

A flagged doorbell can itself be lost: the process that set the flag killed before it sent the
message, the broker flushed, the worker holding it killed. So a ring that finds the flag set arms
a *backstop*: a doorbell delayed by EVENT_DOORBELL_BACKSTOP seconds, at most one per that period
(its own flag lives exactly that long). Every event that found the flag set was committed before
a backstop that is still due, so a lost doorbell delays it by at most EVENT_DOORBELL_BACKSTOP
seconds (plus the wait for a free worker), at the price of one delayed message per period while
a doorbell is waiting. The sweeper remains for what even that misses (it rings regardless of
flags, for events untouched EVENT_REQUEUE_AFTER seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from events.list_cache import events_changed, events_new_versions

logger = structlog.get_logger("events.doorbell")

DOORBELL_KEY = "events:doorbell"
# Set while a backstop doorbell is due (see the module docstring).
BACKSTOP_KEY = "events:doorbell:backstop"
# Delayed doorbells (retries after a backoff) are debounced per second of their due time.
DELAYED_DOORBELL_KEY = "events:doorbell:at:{due}"


def _eager() -> bool:
    # Without a broker (the embedded default) tasks run in-process the moment they are sent.
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def _flag(key: str, *, ttl: float) -> bool:
    """Set a debounce flag; False when it was already set. A cache outage never blocks a ring."""
    try:
        return bool(cache.add(key, "1", timeout=max(1, math.ceil(ttl))))
    except Exception:  # Redis down: ring anyway, a spare doorbell is harmless
        logger.warning("Doorbell flag unavailable; ringing without debounce", exc_info=True)
        return True


def _send(countdown: float | None = None) -> None:
    from events.tasks import process_events

    try:
        if countdown is None:
            process_events.apply_async()
        else:
            process_events.apply_async(countdown=countdown)
    except Exception:  # the event is committed; the sweeper re-rings for it
        logger.warning("Could not send the processing doorbell; the sweeper will", exc_info=True)


def events_enqueue(*, countdown: float | None = None, force: bool = False) -> None:
    """Ask a worker to process pending events once the current transaction commits.

    - default: a debounced doorbell (nothing is sent while one is already waiting);
    - `countdown`: a doorbell for events that become claimable later (retry backoff), debounced
      per second of its due time. Without a broker it is skipped: an eager task would run at
      once, before the event is due; the local beat's sweep runs due retries instead;
    - `force`: always send (the sweeper, which exists to replace lost doorbells).
    """

    def ring() -> None:
        if countdown is not None:
            if _eager():
                return
            due = math.ceil(time.time() + countdown)
            if _flag(DELAYED_DOORBELL_KEY.format(due=due), ttl=countdown + 60):
                _send(countdown=max(0.0, due - time.time()))
            return
        if force or _eager() or _flag(DOORBELL_KEY, ttl=settings.EVENT_REQUEUE_AFTER):
            _send()
        elif _flag(BACKSTOP_KEY, ttl=settings.EVENT_DOORBELL_BACKSTOP):
            _send(countdown=settings.EVENT_DOORBELL_BACKSTOP)

    transaction.on_commit(ring, robust=True)


def events_submitted(*, owner_ids: Iterable[int]) -> None:
    """Events of these owners became pending (created, retried): once the transaction commits,
    invalidate the owners' cached lists (events_changed) and ring the debounced doorbell
    (events_enqueue).

    Every API create comes here, so with the Redis cache the writes (versions, then the flag or
    else the backstop's flag) go in one round trip.
    """
    owner_ids = list(owner_ids)
    combined = getattr(cache, "set_many_and_add_first", None)
    versions = events_new_versions(owner_ids=owner_ids)
    if combined is None or _eager() or not versions:
        events_changed(owner_ids=owner_ids)
        events_enqueue()
        return
    adds = [
        (DOORBELL_KEY, "1", max(1, math.ceil(settings.EVENT_REQUEUE_AFTER))),
        (BACKSTOP_KEY, "1", settings.EVENT_DOORBELL_BACKSTOP),
    ]

    def after_commit() -> None:
        try:
            added = combined(versions, adds=adds)
        except Exception:  # as in _flag: ring anyway (the lists' cache is down with it)
            logger.warning("Cache unavailable after an event write; ringing anyway", exc_info=True)
            added = 1
        if added == 1:
            _send()
        elif added == 2:
            _send(countdown=settings.EVENT_DOORBELL_BACKSTOP)

    transaction.on_commit(after_commit, robust=True)


def events_doorbell_answered() -> None:
    """A worker starts draining: events committed from now on must ring a new doorbell."""
    try:
        cache.delete(DOORBELL_KEY)
    except Exception:  # the flag expires by itself; draining matters more
        logger.warning("Could not clear the doorbell flag", exc_info=True)
