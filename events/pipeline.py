"""Processing: claim pending events in priority order, run their handlers, record the outcome.

Claiming is race-safe: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never take
the same row), and SQLite's IMMEDIATE transactions serialise writers in the embedded default.
Every state change afterwards is conditional on the row still being ours (still processing, under
the same claim), so a sweeper that reclaimed a stuck event and a slow worker cannot both record
an outcome.

A worker claims events in batches sized from how long its recent events took: fast events
(no-op handlers) come a full EVENT_CLAIM_BATCH_SIZE at a time, slow ones (webhooks) a few at a
time, so a claimed batch takes about BATCH_TARGET_SECONDS and priority stays strict across
workers. The successes of a batch are stored together (one statement, one commit); failures at
once. Claimed events that wait in a batch get their progress stamp (`updated_at`) renewed
before it could look stale to the sweeper, and a worker checks it still owns them first.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg import sql

from beo_automation.backoff import backoff_seconds
from events.doorbell import events_doorbell_answered, events_enqueue
from events.handlers import registry
from events.list_cache import events_changed
from events.models import Event, Status, Subscription
from events.webhooks import subscriptions_active, subscriptions_matching, webhooks_deliver

logger = structlog.get_logger("events.pipeline")

NO_HANDLER_RESULT = {"handled": False, "message": "No handler and no subscription for this type"}

# How long one claimed batch should take. Small enough that an urgent event arriving while all
# workers are busy waits about this long; large enough that fast events are claimed by the
# hundred (one claim query per batch instead of per event).
BATCH_TARGET_SECONDS = 1.0
# The first batch of a process, before it has measured anything.
FIRST_BATCH_SIZE = 10
# Finished events of a batch are stored together at least this often.
FLUSH_SECONDS = 0.5


@dataclasses.dataclass
class BatchOutcome:
    claimed: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    # Claimed by this worker but reclaimed by the sweeper before it got to them.
    skipped: int = 0
    duration_ms: float = 0.0

    def add(self, other: BatchOutcome) -> None:
        self.claimed += other.claimed
        self.completed += other.completed
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped


class HandlersFailed(Exception):  # noqa: N818 - reads as the outcome it reports
    """Several handlers of one event failed in the same attempt."""

    def __init__(self, errors: Sequence[BaseException]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(describe_error(e) for e in self.errors))


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, HandlersFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def events_claim(*, limit: int) -> list[Event]:
    """Take up to `limit` claimable events, highest priority first, oldest first within one."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, available_at__lte=now)
            .order_by("-priority", "created_at", "id")[:limit]
        )
        if not events:
            return []
        # The rows are locked by this transaction: no condition needed beyond the ids.
        Event.objects.filter(id__in=[e.pk for e in events]).update(
            status=Status.PROCESSING,
            started_at=now,
            updated_at=now,
            attempts=F("attempts") + 1,
        )
    for event in events:
        event.status = Status.PROCESSING
        event.started_at = now
        event.updated_at = now
        event.attempts += 1
    events_changed(owner_ids=[e.owner_id for e in events])
    return events


def retry_delay_seconds(attempt: int) -> float:
    return backoff_seconds(
        attempt=attempt,
        base=settings.EVENT_RETRY_BACKOFF_BASE,
        ceiling=settings.EVENT_RETRY_BACKOFF_MAX,
    )


def _ours(event: Event) -> Q:
    return Q(pk=event.pk, status=Status.PROCESSING, attempts=event.attempts)


def event_run_handlers(
    event: Event, *, subscriptions: Sequence[Subscription] | None = None
) -> dict[str, Any]:
    """Run every matching handler and deliver to every matching webhook subscription.

    The result maps each handler's name to what it returned, plus `webhooks` for deliveries.
    Every handler gets its chance in each attempt; if any failed the attempt fails (and all
    are retried, except webhook deliveries that already succeeded).
    """
    handlers = registry.handlers_for(event.type)
    if subscriptions is None:
        subscriptions = subscriptions_active()
    matching = subscriptions_matching(event_type=event.type, subscriptions=subscriptions)
    if not handlers and not matching:
        return dict(NO_HANDLER_RESULT)
    result: dict[str, Any] = {}
    errors: list[BaseException] = []
    for handler in handlers:
        try:
            result[handler.name] = handler.func(event)
        except Exception as exc:  # noqa: BLE001 - a handler failure fails the attempt
            errors.append(exc)
    if matching:
        try:
            result["webhooks"] = webhooks_deliver(event=event, subscriptions=matching)
        except Exception as exc:  # noqa: BLE001 - as for any handler
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise HandlersFailed(errors)
    return result


def _event_log_context(event: Event) -> Any:
    # The log lines of processing carry the request id of the request that created the event,
    # not that of whichever request rang the doorbell of this drain.
    return structlog.contextvars.bound_contextvars(
        request_id=event.request_id or None, event_id=event.pk
    )


def _attempt(event: Event, subscriptions: Sequence[Subscription] | None) -> str | None:
    """Run one attempt. Success: the outcome is set on `event` (not saved) and None returned;
    failure: it is recorded (retry or dead letter) and the resulting status returned."""
    started = time.perf_counter()
    try:
        result = event_run_handlers(event, subscriptions=subscriptions)
        # A result that cannot be stored (not JSON, NaN) fails this attempt here rather than
        # the store of the whole batch.
        json.dumps(result, allow_nan=False)
    except Exception as exc:  # noqa: BLE001 - any handler failure is an attempt failure
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return _record_failure(event, exc, duration_ms)
    now = timezone.now()
    event.status = Status.COMPLETED
    event.result = result
    event.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    event.completed_at = now
    event.updated_at = now
    event.last_error = ""
    return None


# One statement for a whole batch of outcomes, with the ids it really updated. The ORM has no
# UPDATE … FROM … RETURNING, and its bulk_update builds a CASE expression per row and field
# (milliseconds of Python per event: more than a no-op event costs otherwise).
STORE_SUCCESSES_SQL = """
    UPDATE {table} AS e
    SET status = %(completed)s, last_error = '', result = v.result::jsonb,
        duration_ms = v.duration_ms, completed_at = v.finished_at, updated_at = v.finished_at
    FROM unnest(%(ids)s::bigint[], %(claimed)s::timestamptz[], %(finished)s::timestamptz[],
                %(durations)s::float8[], %(results)s::text[])
         AS v(id, claimed_at, finished_at, duration_ms, result)
    WHERE e.id = v.id AND e.status = %(processing)s AND e.started_at = v.claimed_at
    RETURNING e.id
"""


def _store_successes(events: Sequence[Event]) -> set[int]:
    """Write completed outcomes, each only if the row is still ours (processing, same claim)."""
    if connection.vendor != "postgresql":
        # The embedded default (SQLite): a conditional update per event.
        return {
            e.pk
            for e in events
            if Event.objects.filter(
                pk=e.pk, status=Status.PROCESSING, started_at=e.started_at
            ).update(
                status=Status.COMPLETED,
                result=e.result,
                duration_ms=e.duration_ms,
                completed_at=e.completed_at,
                updated_at=e.completed_at,
                last_error="",
            )
        }
    raw = connection.connection  # a psycopg connection: quote the table name with it
    statement = (
        sql.SQL(STORE_SUCCESSES_SQL)
        .format(table=sql.Identifier(Event._meta.db_table))
        .as_string(raw)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            {
                "completed": Status.COMPLETED.value,
                "processing": Status.PROCESSING.value,
                "ids": [e.pk for e in events],
                "claimed": [e.started_at for e in events],
                "finished": [e.completed_at for e in events],
                "durations": [e.duration_ms for e in events],
                "results": [json.dumps(e.result, allow_nan=False) for e in events],
            },
        )
        return {row[0] for row in cursor.fetchall()}


def _record_successes(events: Sequence[Event]) -> set[int]:
    """Store completed outcomes in one statement and one commit; the ids recorded.

    Conditional on each row still being ours (processing, and the claim's started_at): a row
    the sweeper reclaimed meanwhile keeps the state the sweeper gave it.
    """
    connection.ensure_connection()
    try:
        # atomic(): a refused statement must not poison a surrounding transaction.
        with transaction.atomic():
            recorded = _store_successes(events)
    except DataError:
        # A result the database refuses (jsonb cannot hold a NUL character or a lone
        # surrogate): store one by one so the others are kept; that one fails its attempt.
        recorded = set()
        for event in events:
            try:
                with transaction.atomic():
                    recorded |= _store_successes([event])
            except DataError as exc:
                with _event_log_context(event):
                    _record_failure(event, exc, event.duration_ms or 0.0)
        events = [e for e in events if e.status == Status.COMPLETED]
    if recorded:
        events_changed(owner_ids=[e.owner_id for e in events if e.pk in recorded])
    for event in events:
        with _event_log_context(event):
            if event.pk in recorded:
                logger.info(
                    "Event processed successfully",
                    event_type=event.type,
                    duration_ms=event.duration_ms,
                    user_id=event.owner_id,
                    attempts=event.attempts,
                )
            else:
                event.status = Status.PROCESSING
                logger.warning(
                    "Event outcome discarded: it was reclaimed", event_type=event.type, outcome="ok"
                )
    return recorded


def event_process(event: Event, *, subscriptions: Sequence[Subscription] | None = None) -> str:
    """Process one claimed event; returns the resulting status (PROCESSING if it was reclaimed)."""
    with _event_log_context(event):
        failed_status = _attempt(event, subscriptions)
    if failed_status is not None:
        return failed_status
    return Status.COMPLETED if _record_successes([event]) else Status.PROCESSING


# The stored last_error is for people: long enough for any real message, not a whole dump.
LAST_ERROR_MAX_CHARS = 5000


def _record_failure(event: Event, exc: BaseException, duration_ms: float) -> str:
    # PostgreSQL text cannot hold NUL characters, which an error message may quote.
    error = describe_error(exc).replace("\x00", "")[:LAST_ERROR_MAX_CHARS]
    now = timezone.now()
    final = event.attempts >= event.max_attempts
    logger.error(
        "Failed to process event",
        event_type=event.type,
        user_id=event.owner_id,
        duration_ms=duration_ms,
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
        if updated == 1:
            event.status = Status.FAILED
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
            event.status = Status.PENDING
            events_changed(owner_ids=[event.owner_id])
            events_enqueue(countdown=delay)
    return Status.PENDING if updated == 1 else Status.PROCESSING


def _renew_claim(ids: Iterable[int], *, claimed_at: Any) -> set[int]:
    """Stamp progress on claimed events still waiting in our batch; the ids still ours."""
    ids = list(ids)
    ours = Q(id__in=ids, status=Status.PROCESSING, started_at=claimed_at)
    renewed = Event.objects.filter(ours).update(updated_at=timezone.now())
    if renewed == len(ids):
        return set(ids)
    return set(Event.objects.filter(ours).values_list("id", flat=True))


def events_process_batch(*, limit: int | None = None) -> BatchOutcome:
    """Claim one batch (in priority order) and process it.

    Successful outcomes are stored together (one UPDATE, one commit) at the end of the batch,
    or earlier when the batch runs long: a commit per event would make the database's WAL
    flush, not the handlers, the cost of fast events. Failures are stored at once.
    """
    started = time.perf_counter()
    outcome = BatchOutcome()
    limit = limit or settings.EVENT_CLAIM_BATCH_SIZE
    events = events_claim(limit=limit)
    outcome.claimed = len(events)
    if len(events) == limit and not settings.CELERY_TASK_ALWAYS_EAGER:
        # A full batch: more is likely waiting. Wake an idle worker process now (debounced),
        # not after this batch, which a slow handler may hold up for a long time. Without a
        # broker the doorbell would run right here, nested: the drain loop carries on instead.
        events_enqueue()
    succeeded: list[Event] = []

    def store_successes() -> None:
        if succeeded:
            recorded = _record_successes(succeeded)
            outcome.completed += len(recorded)
            outcome.skipped += len(succeeded) - len(recorded)
            succeeded.clear()

    if events:
        # One query per batch; a subscription added meanwhile applies from the next batch.
        subscriptions = subscriptions_active()
        claimed_at = events[0].started_at
        # Store and renew well before EVENT_PROCESSING_TIMEOUT, so that neither finished
        # events nor those still waiting in the batch ever look stuck to the sweeper.
        renew_every = min(FLUSH_SECONDS, settings.EVENT_PROCESSING_TIMEOUT / 3)
        last_renewed = time.monotonic()
        for index, event in enumerate(events):
            if time.monotonic() - last_renewed >= renew_every:
                store_successes()
                ours = _renew_claim((e.pk for e in events[index:]), claimed_at=claimed_at)
                last_renewed = time.monotonic()
                if event.pk not in ours:
                    outcome.skipped += 1
                    continue
            with _event_log_context(event):
                failed_status = _attempt(event, subscriptions)
            if failed_status is None:
                succeeded.append(event)
            elif failed_status == Status.PENDING:
                outcome.retried += 1
            elif failed_status == Status.FAILED:
                outcome.failed += 1
            else:
                outcome.skipped += 1
        store_successes()
    outcome.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return outcome


class _BatchSizer:
    """Sizes the next claim from the measured time per event (per worker process)."""

    seconds_per_event: float | None = None

    @classmethod
    def next_limit(cls) -> int:
        ceiling = max(1, settings.EVENT_CLAIM_BATCH_SIZE)
        if cls.seconds_per_event is None:
            return min(ceiling, FIRST_BATCH_SIZE)
        return max(1, min(ceiling, int(BATCH_TARGET_SECONDS / max(cls.seconds_per_event, 1e-6))))

    @classmethod
    def observe(cls, batch: BatchOutcome) -> None:
        if batch.claimed:
            sample = batch.duration_ms / 1000 / batch.claimed
            previous = cls.seconds_per_event
            cls.seconds_per_event = sample if previous is None else 0.5 * previous + 0.5 * sample


def events_process_available(
    *,
    time_budget: float | None = None,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> BatchOutcome:
    """Drain claimable events batch by batch until none are left or the time budget is spent."""
    budget = settings.EVENT_WORKER_TIME_BUDGET if time_budget is None else time_budget
    eager = bool(settings.CELERY_TASK_ALWAYS_EAGER)
    started = time.perf_counter()
    deadline = time.monotonic() + budget
    events_doorbell_answered()
    total = BatchOutcome()
    while True:
        limit = _BatchSizer.next_limit()
        batch = events_process_batch(limit=limit)
        _BatchSizer.observe(batch)
        total.add(batch)
        if on_batch is not None and batch.claimed:
            on_batch(batch)
        if batch.claimed == 0:
            break
        if time.monotonic() >= deadline:
            # More work may remain: hand it to the next doorbell rather than hog this worker.
            # (Without a broker that doorbell would run nested, right here: the local beat's
            # sweep picks up what is left instead.)
            if not eager:
                events_enqueue(force=True)
            break
    total.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return total


@dataclasses.dataclass
class SweepOutcome:
    requeued: int = 0
    reclaimed: int = 0
    failed: int = 0
    duration_ms: float = 0.0


def events_sweep() -> SweepOutcome:
    """Nothing is lost: recover events whose message or worker went missing.

    - `processing` with no progress for EVENT_PROCESSING_TIMEOUT: the worker died. Back to
      pending (the attempt counts), or failed when it was the last attempt.
    - `pending` and claimable, untouched for EVENT_REQUEUE_AFTER: the message was lost
      (broker flushed, worker killed before ack). Ring the doorbell again.
    - Without a broker (embedded default) there are no delayed doorbells: every claimable
      pending event is rung for, which is how due retries run there.
    """
    started = time.perf_counter()
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
    if owners:
        outcome.failed = Event.objects.filter(stuck, attempts__gte=F("max_attempts")).update(
            status=Status.FAILED, completed_at=now, updated_at=now, last_error=timeout_error
        )
        outcome.reclaimed = Event.objects.filter(stuck, attempts__lt=F("max_attempts")).update(
            status=Status.PENDING, available_at=now, updated_at=now, last_error=timeout_error
        )
        events_changed(owner_ids=owners)
    claimable = Q(status=Status.PENDING, available_at__lte=now)
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        claimable &= Q(updated_at__lt=now - timedelta(seconds=settings.EVENT_REQUEUE_AFTER))
    outcome.requeued = Event.objects.filter(claimable).count()
    if outcome.failed or outcome.reclaimed or outcome.requeued:
        logger.warning(
            "Event sweep recovered events",
            requeued=outcome.requeued,
            reclaimed=outcome.reclaimed,
            failed=outcome.failed,
        )
    if outcome.reclaimed or outcome.requeued:
        events_enqueue(force=True)
    outcome.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return outcome
