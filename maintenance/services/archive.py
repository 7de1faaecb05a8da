"""Archival: move completed events older than a cutoff from events_event to events_eventarchive.

The operations guide copies and deletes everything in one transaction, which holds row locks
on every archived event until the end and, on a large table, for many seconds. Here each batch
is one statement in its own transaction:

    WITH batch AS (SELECT id … WHERE id > <last id> … ORDER BY id LIMIT n),
         moved AS (DELETE FROM events_event … RETURNING …)
    INSERT INTO events_eventarchive SELECT … FROM moved

so a crash at any moment leaves every event in exactly one of the two tables, and a rerun
continues where the last committed batch ended. Batches walk forward along the primary key:
`DELETE … WHERE id IN (SELECT … LIMIT n)` over the (status, created_at) index degrades to a
full scan for large n, while a keyset walk on the primary key stays steady (measured by
bench/archive.py). Every batch runs with a short `lock_timeout`, so archival never queues
behind (and in front of) the API's statements for long; a lock wait that times out is retried
with backoff, then reported.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from psycopg import errors as pg_errors
from psycopg import sql

from events.list_cache import events_changed
from events.models import Event, EventArchive, Status
from maintenance.errors import MaintenanceError
from maintenance.services.database import is_postgres
from maintenance.services.run_records import MAX_DAYS, RunContext, RunRecorder, run_recorded

# A batch whose lock wait timed out is tried again this many times, waiting 0.5 s, 1 s, 2 s, …
LOCK_RETRIES = 5
LOCK_RETRY_WAIT = 0.5
T = TypeVar("T")
# Progress lines at most this often (a line per batch floods a terminal on a big table).
PROGRESS_EVERY_SECONDS = 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchiveResult:
    cutoff: datetime
    eligible: int
    moved: int
    batches: int
    seconds: float
    slowest_batch_seconds: float
    dry_run: bool
    first_id: int | None = None
    last_id: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.moved / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        if self.dry_run:
            if not self.eligible:
                return f"Dry run: no completed events created before {self.cutoff:%Y-%m-%d %H:%M}."
            return (
                f"Dry run: would archive {self.eligible:,} completed events created before "
                f"{self.cutoff:%Y-%m-%d %H:%M} (ids {self.first_id} to {self.last_id}) in about "
                f"{self.batches:,} batches; nothing was moved."
            )
        return (
            f"Archived {self.moved:,} events in {self.batches:,} batches in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s; slowest batch "
            f"{self.slowest_batch_seconds * 1000:.0f} ms)."
        )


def archive_columns() -> list[str]:
    """The archive's columns that come from the live event (all but archived_at)."""
    return [f.column for f in EventArchive._meta.concrete_fields if f.name != "archived_at"]


def _batch_statement() -> sql.Composed:
    event = sql.Identifier(Event._meta.db_table)
    archive = sql.Identifier(EventArchive._meta.db_table)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in archive_columns())
    returned = sql.SQL(", ").join(sql.Identifier("e", c) for c in archive_columns())
    # The eligibility test is repeated in the DELETE: if a selected row is changed by another
    # transaction before we lock it, PostgreSQL re-checks the DELETE's own conditions on the
    # new version (the CTE's are not re-checked), so a no-longer-eligible row stays put.
    return sql.SQL(
        """
        WITH batch AS (
            SELECT id FROM {event}
            WHERE id > %(after)s AND id <= %(last)s
              AND status = %(status)s AND created_at < %(cutoff)s
            ORDER BY id
            LIMIT %(limit)s
        ), moved AS (
            DELETE FROM {event} AS e USING batch
            WHERE e.id = batch.id AND e.status = %(status)s AND e.created_at < %(cutoff)s
            RETURNING {returned}
        ), archived AS (
            INSERT INTO {archive} ({columns}, archived_at)
            SELECT {columns}, now() FROM moved
            RETURNING id, owner_id
        )
        SELECT (SELECT count(*) FROM archived),
               (SELECT max(id) FROM batch),
               (SELECT array_agg(DISTINCT owner_id) FROM archived)
        """
    ).format(event=event, archive=archive, columns=columns, returned=returned)


def events_archive(
    *,
    days: int,
    batch_size: int,
    dry_run: bool = False,
    context: RunContext,
) -> ArchiveResult:
    """Move completed events created more than `days` days ago into the archive, in batches."""
    if not 0 <= days <= MAX_DAYS:
        raise MaintenanceError(f"--days must be between 0 and {MAX_DAYS:,} (got {days})")
    if not 1 <= batch_size <= 100_000:
        raise MaintenanceError(
            f"--batch-size must be between 1 and 100000 (got {batch_size}); larger batches hold "
            "their row locks longer"
        )
    arguments = {"days": days, "batch_size": batch_size, "dry_run": dry_run}
    with run_recorded(operation="archive_events", arguments=arguments, context=context) as run:
        cutoff = timezone.now() - timedelta(days=days)
        stats = _with_lock_retries(
            functools.partial(_eligible_stats, cutoff=cutoff), run=run, moved=0
        )
        eligible: int = stats["n"]
        run.progress(
            f"{eligible:,} completed events created before {cutoff:%Y-%m-%d %H:%M %Z} "
            f"are eligible (batch size {batch_size:,})"
        )
        if dry_run or not eligible:
            result = ArchiveResult(
                cutoff=cutoff,
                eligible=eligible,
                moved=0,
                batches=-(-eligible // batch_size),
                seconds=run.elapsed,
                slowest_batch_seconds=0.0,
                dry_run=dry_run,
                first_id=stats["first"],
                last_id=stats["last"],
            )
        else:
            result = _archive_batches(
                run=run,
                cutoff=cutoff,
                eligible=eligible,
                first_id=stats["first"],
                last_id=stats["last"],
                batch_size=batch_size,
            )
        run.summary = {
            "cutoff": cutoff.isoformat(timespec="seconds"),
            "eligible": result.eligible,
            "moved": result.moved,
            "batches": result.batches,
            "rows_per_second": round(result.rows_per_second),
            "slowest_batch_ms": round(result.slowest_batch_seconds * 1000, 1),
            "dry_run": dry_run,
        }
        return result


def _eligible_stats(*, cutoff: datetime) -> dict[str, Any]:
    """How many events are eligible and their id range (under the same lock_timeout)."""
    with transaction.atomic():
        _set_lock_timeout()
        return Event.objects.filter(status=Status.COMPLETED, created_at__lt=cutoff).aggregate(
            n=Count("id"), first=Min("id"), last=Max("id")
        )


def _set_lock_timeout() -> None:
    if is_postgres():
        with connection.cursor() as cursor:
            # SET LOCAL through set_config: it takes a bound parameter, SET does not.
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{int(settings.ARCHIVE_LOCK_TIMEOUT_MS)}ms"],
            )


def _archive_batches(
    *,
    run: RunRecorder,
    cutoff: datetime,
    eligible: int,
    first_id: int,
    last_id: int,
    batch_size: int,
) -> ArchiveResult:
    started = time.perf_counter()
    # Rows created after the count are not eligible (their created_at is after the cutoff
    # unless set by hand), so the walk stops at the last eligible id seen at the start.
    after, moved, batches, slowest = first_id - 1, 0, 0, 0.0
    last_report = started
    move = _move_batch_postgres if is_postgres() else _move_batch_generic
    while True:
        batch_started = time.perf_counter()
        count, batch_last = _with_lock_retries(
            functools.partial(move, after=after, last=last_id, cutoff=cutoff, limit=batch_size),
            run=run,
            moved=moved,
        )
        slowest = max(slowest, time.perf_counter() - batch_started)
        if batch_last is None:
            break
        batches += 1
        moved += count
        after = batch_last
        now = time.perf_counter()
        if now - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = now
            run.progress(_progress_line(moved, eligible, now - started), moved=moved)
        run.summary = {"moved": moved, "batches": batches}
    seconds = time.perf_counter() - started
    run.progress(_progress_line(moved, eligible, seconds), moved=moved)
    return ArchiveResult(
        cutoff=cutoff,
        eligible=eligible,
        moved=moved,
        batches=batches,
        seconds=seconds,
        slowest_batch_seconds=slowest,
        dry_run=False,
        first_id=first_id,
        last_id=last_id,
    )


def _progress_line(moved: int, eligible: int, seconds: float) -> str:
    rate = moved / seconds if seconds > 0 else 0.0
    remaining = max(eligible - moved, 0)
    eta = f", ETA {remaining / rate:.0f} s" if rate > 0 and remaining else ""
    percent = 100 * moved / eligible if eligible else 100.0
    return f"Archived {moved:,} / {eligible:,} events ({percent:.1f} %), {rate:,.0f} rows/s{eta}"


def _with_lock_retries(attempt: Callable[[], T], *, run: RunRecorder, moved: int) -> T:
    timeout_ms = settings.ARCHIVE_LOCK_TIMEOUT_MS
    for retry in range(LOCK_RETRIES + 1):
        try:
            return attempt()
        except OperationalError as exc:
            if not _is_lock_timeout(exc) or retry == LOCK_RETRIES:
                if _is_lock_timeout(exc):
                    raise MaintenanceError(
                        f"Could not lock the events table or rows within {timeout_ms} ms, "
                        f"{LOCK_RETRIES + 1} times: another transaction holds them or the "
                        "table (see pg_locks / pg_stat_activity). "
                        f"{moved:,} events were archived before this; nothing was lost — run "
                        "archive_events again later to continue."
                    ) from exc
                raise
            wait = LOCK_RETRY_WAIT * 2**retry
            run.progress(f"Lock wait exceeded {timeout_ms} ms; retrying in {wait:.1f} s")
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _is_lock_timeout(exc: BaseException) -> bool:
    cause = exc.__cause__
    if isinstance(cause, pg_errors.LockNotAvailable):
        return True
    # SQLite: another writer held the database past the busy timeout.
    return "database is locked" in str(exc)


def _move_batch_postgres(
    *, after: int, last: int, cutoff: datetime, limit: int
) -> tuple[int, int | None]:
    statement = _batch_statement().as_string(None)
    params: dict[str, Any] = {
        "after": after,
        "last": last,
        "status": Status.COMPLETED.value,
        "cutoff": cutoff,
        "limit": limit,
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _set_lock_timeout()
            cursor.execute(statement, params)
            count, batch_last, owners = cursor.fetchone()
            owner_ids = [o for o in owners or [] if o is not None]
            events_changed(owner_ids=owner_ids)
    except IntegrityError as exc:
        raise _duplicate_error(exc) from exc
    return int(count), batch_last


def _move_batch_generic(
    *, after: int, last: int, cutoff: datetime, limit: int
) -> tuple[int, int | None]:
    """SQLite: the same batch as select + insert + delete in one (IMMEDIATE) transaction."""
    fields = [f.attname for f in EventArchive._meta.concrete_fields if f.name != "archived_at"]
    try:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(
                    id__gt=after, id__lte=last, status=Status.COMPLETED, created_at__lt=cutoff
                )
                .order_by("id")
                .values_list("id", flat=True)[:limit]
            )
            if not ids:
                return 0, None
            rows = list(Event.objects.filter(id__in=ids).values(*fields))
            now = timezone.now()
            EventArchive.objects.bulk_create([EventArchive(**row, archived_at=now) for row in rows])
            Event.objects.filter(id__in=ids).delete()
            owner_ids = sorted({row["owner_id"] for row in rows})
            events_changed(owner_ids=owner_ids)
    except IntegrityError as exc:
        raise _duplicate_error(exc) from exc
    return len(rows), ids[-1]


def _duplicate_error(exc: IntegrityError) -> MaintenanceError:
    first_line = str(exc).splitlines()[0]
    return MaintenanceError(
        "An event of this batch is already in the archive table (copied by hand, e.g. with "
        f"the guide's copy-then-delete without its delete): {first_line}. Nothing of this "
        "batch was moved. Compare the duplicates, delete them from the archive, and run "
        "archive_events again."
    )
