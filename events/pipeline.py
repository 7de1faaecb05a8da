"""Processing: claim pending events in priority order, run their handlers, record the outcome.

Claiming is race-safe: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never take
the same row), and SQLite's IMMEDIATE transactions serialise writers in the embedded default.
Every state change afterwards is conditional on the row still being ours (status and attempt),
so a sweeper that reclaimed a stuck event and a slow worker cannot both record an outcome.
"""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from events.cache import events_changed
from events.dispatch import events_enqueue
from events.handlers import registry
from events.models import Event, Status

logger = structlog.get_logger("events.pipeline")

NO_HANDLER_RESULT = {"handled": False, "message": "No handler and no subscription for this type"}


@dataclasses.dataclass
class BatchOutcome:
    claimed: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0


def events_claim(*, limit: int) -> list[Event]:
    """Take up to `limit` claimable events, highest priority first, oldest first within one."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, available_at__lte=now)
            .order_by("-priority", "created_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Event.objects.filter(id__in=ids, status=Status.PENDING).update(
            status=Status.PROCESSING,
            started_at=now,
            updated_at=now,
            attempts=F("attempts") + 1,
        )
    claimed = list(Event.objects.filter(id__in=ids, status=Status.PROCESSING, started_at=now))
    events_changed(owner_ids=[e.owner_id for e in claimed])
    claimed.sort(key=lambda e: (-e.priority, e.created_at, e.id))
    return claimed


def retry_delay_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: ~base·2^(n-1), capped, randomised by ±50 %."""
    base = settings.EVENT_RETRY_BACKOFF_BASE
    ceiling = min(settings.EVENT_RETRY_BACKOFF_MAX, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def _ours(event: Event) -> Q:
    return Q(pk=event.pk, status=Status.PROCESSING, attempts=event.attempts)


def event_run_handlers(event: Event) -> dict[str, Any]:
    """Run every matching handler; the result maps handler name to what it returned."""
    handlers = registry.handlers_for(event.type)
    if not handlers:
        return dict(NO_HANDLER_RESULT)
    return {handler.name: handler.func(event) for handler in handlers}


def event_process(event: Event) -> str:
    """Process one claimed event; returns the resulting status."""
    with structlog.contextvars.bound_contextvars(
        request_id=event.request_id or None, event_id=event.pk
    ):
        started = time.perf_counter()
        try:
            result = event_run_handlers(event)
        except Exception as exc:  # noqa: BLE001 - any handler failure is an attempt failure
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            return _record_failure(event, exc, duration_ms)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        now = timezone.now()
        updated = Event.objects.filter(_ours(event)).update(
            status=Status.COMPLETED,
            completed_at=now,
            updated_at=now,
            duration_ms=duration_ms,
            result=result,
            last_error="",
        )
        if updated != 1:
            logger.warning("Event outcome discarded: it was reclaimed", event_type=event.type)
            return Status.PROCESSING
        events_changed(owner_ids=[event.owner_id])
        logger.info(
            "Event processed successfully",
            event_type=event.type,
            duration_ms=duration_ms,
            user_id=event.owner_id,
            attempts=event.attempts,
        )
        return Status.COMPLETED


def _record_failure(event: Event, exc: BaseException, duration_ms: float) -> str:
    error = f"{type(exc).__name__}: {exc}"
    now = timezone.now()
    final = event.attempts >= event.max_attempts
    logger.error(
        "Failed to process event",
        event_type=event.type,
        user_id=event.owner_id,
        attempts=event.attempts,
        max_attempts=event.max_attempts,
        error=error,
        stack="".join(traceback.format_exception(exc)),
        will_retry=not final,
    )
    if final:
        updated = Event.objects.filter(_ours(event)).update(
            status=Status.FAILED,
            completed_at=now,
            updated_at=now,
            duration_ms=duration_ms,
            last_error=error,
        )
        events_changed(owner_ids=[event.owner_id])
        return Status.FAILED if updated == 1 else Status.PROCESSING
    delay = retry_delay_seconds(event.attempts)
    with transaction.atomic():
        updated = Event.objects.filter(_ours(event)).update(
            status=Status.PENDING,
            available_at=now + timedelta(seconds=delay),
            updated_at=now,
            duration_ms=duration_ms,
            last_error=error,
        )
        if updated == 1:
            events_changed(owner_ids=[event.owner_id])
            events_enqueue(countdown=delay)
    return Status.PENDING if updated == 1 else Status.PROCESSING


def events_process_batch(*, limit: int | None = None) -> BatchOutcome:
    """Claim one batch and process it."""
    outcome = BatchOutcome()
    for event in events_claim(limit=limit or settings.EVENT_CLAIM_BATCH_SIZE):
        outcome.claimed += 1
        status = event_process(event)
        if status == Status.COMPLETED:
            outcome.completed += 1
        elif status == Status.PENDING:
            outcome.retried += 1
        elif status == Status.FAILED:
            outcome.failed += 1
    return outcome


def events_process_available(*, time_budget: float | None = None) -> BatchOutcome:
    """Drain claimable events batch by batch until none are left or the time budget is spent."""
    budget = settings.EVENT_WORKER_TIME_BUDGET if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    total = BatchOutcome()
    while True:
        batch = events_process_batch()
        total.claimed += batch.claimed
        total.completed += batch.completed
        total.retried += batch.retried
        total.failed += batch.failed
        if batch.claimed == 0:
            return total
        if time.monotonic() >= deadline:
            # More work may remain: hand it to the next message rather than hog this worker.
            events_enqueue()
            return total


@dataclasses.dataclass
class SweepOutcome:
    requeued: int = 0
    reclaimed: int = 0
    failed: int = 0


def events_sweep() -> SweepOutcome:
    """Nothing is lost: recover events whose message or worker went missing.

    - `processing` with no progress for EVENT_PROCESSING_TIMEOUT: the worker died. Back to
      pending (the attempt counts), or failed when it was the last attempt.
    - `pending` and claimable, untouched for EVENT_REQUEUE_AFTER: the message was lost
      (broker flushed, worker killed before ack). Ring the doorbell again.
    """
    now = timezone.now()
    outcome = SweepOutcome()
    stuck = Q(
        status=Status.PROCESSING,
        updated_at__lt=now - timedelta(seconds=settings.EVENT_PROCESSING_TIMEOUT),
    )
    timeout_error = (
        f"No progress for {settings.EVENT_PROCESSING_TIMEOUT}s: the worker stopped; reclaimed"
    )
    owners = set(Event.objects.filter(stuck).values_list("owner_id", flat=True).distinct())
    outcome.failed = Event.objects.filter(stuck, attempts__gte=F("max_attempts")).update(
        status=Status.FAILED, completed_at=now, updated_at=now, last_error=timeout_error
    )
    outcome.reclaimed = Event.objects.filter(stuck, attempts__lt=F("max_attempts")).update(
        status=Status.PENDING, available_at=now, updated_at=now, last_error=timeout_error
    )
    events_changed(owner_ids=owners)
    outcome.requeued = Event.objects.filter(
        status=Status.PENDING,
        available_at__lte=now,
        updated_at__lt=now - timedelta(seconds=settings.EVENT_REQUEUE_AFTER),
    ).count()
    if outcome.reclaimed or outcome.requeued:
        events_enqueue()
    if outcome.failed or outcome.reclaimed or outcome.requeued:
        logger.warning(
            "Event sweep recovered events",
            requeued=outcome.requeued,
            reclaimed=outcome.reclaimed,
            failed=outcome.failed,
        )
    return outcome
