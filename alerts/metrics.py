"""Measuring the operations guide's key metrics for real, one function per metric (the host's
memory, CPU and disks: beo_automation.metrics.resources, shared with the health checks).

Each returns a measurement or `NotMeasured(reason)`: a number we could not get honestly (database
connections on SQLite, request metrics without a shared store, anything while its source is
down) is reported as not measured, never guessed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Min

from beo_automation.liveness import BeatState, WorkersPing, beat_state, workers_ping
from beo_automation.metrics.requests import RequestWindow, request_window
from events.models import Event, Status
from events.selectors import QueueStats, event_last_claimed_at, event_queue_stats


@dataclasses.dataclass(frozen=True)
class NotMeasured:
    reason: str


@dataclasses.dataclass(frozen=True)
class Reachability:
    ok: bool
    latency_ms: float
    error: str = ""


@dataclasses.dataclass(frozen=True)
class DbConnections:
    used: int
    active: int
    capacity: int
    capacity_source: str  # "pool" (DB_POOL_MAX x processes) or "max_connections"
    max_connections: int

    @property
    def percent(self) -> float:
        return round(self.used / self.capacity * 100, 1) if self.capacity else 100.0


@dataclasses.dataclass(frozen=True)
class QueueMeasure:
    stats: QueueStats
    last_claimed_at: datetime | None
    # Since when the longest-waiting claimable event (pending, available_at passed) waits.
    claimable_since: datetime | None


def error_summary(exc: BaseException, *, limit: int = 300) -> str:
    """The class and the first line only: driver messages can carry host names and ports."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:limit] if first else type(exc).__name__


def database_reachability() -> Reachability:
    """SELECT 1 on the default database (a connection attempt gives up after
    DB_CONNECT_TIMEOUT seconds)."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        with contextlib.suppress(Exception):
            connection.close()  # drop the broken connection; the next use reconnects
        return Reachability(
            False, round((time.perf_counter() - started) * 1000, 1), error_summary(exc)
        )
    return Reachability(True, round((time.perf_counter() - started) * 1000, 2))


def broker_reachability() -> Reachability | NotMeasured:
    """PING the Celery broker (Redis)."""
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return NotMeasured("no broker: without REDIS_URL tasks run in-process")
    import redis

    started = time.perf_counter()
    timeout = settings.REDIS_SOCKET_TIMEOUT
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        return Reachability(
            False, round((time.perf_counter() - started) * 1000, 1), error_summary(exc)
        )
    return Reachability(True, round((time.perf_counter() - started) * 1000, 2))


DB_CONNECTIONS_SQL = """
SELECT count(*) AS used,
       count(*) FILTER (WHERE state = 'active') AS active,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
"""


def db_connections_measure() -> DbConnections | NotMeasured:
    """Client connections to this database (pg_stat_activity) against what can be opened:
    DB_POOL_MAX x ALERT_DB_POOL_PROCESSES, or the server's max_connections if lower."""
    if connection.vendor != "postgresql":
        return NotMeasured(f"{connection.vendor} has no connection pool to measure")
    with connection.cursor() as cursor:
        # Statistics views are snapshotted once per transaction: inside one (an atomic block,
        # a test) the count would be stale without a fresh snapshot.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(DB_CONNECTIONS_SQL)
        used, active, max_connections, reserved = cursor.fetchone()
    pool = settings.DB_POOL_MAX * settings.ALERT_DB_POOL_PROCESSES
    server = max(1, max_connections - reserved)
    capacity, source = (pool, "pool") if pool <= server else (server, "max_connections")
    return DbConnections(
        used=int(used),
        active=int(active),
        capacity=int(capacity),
        capacity_source=source,
        max_connections=int(max_connections),
    )


def queue_measure(*, now: datetime) -> QueueMeasure:
    claimable_since = Event.objects.filter(status=Status.PENDING, available_at__lte=now).aggregate(
        since=Min("available_at")
    )["since"]
    return QueueMeasure(
        stats=event_queue_stats(),
        last_claimed_at=event_last_claimed_at(),
        claimable_since=claimable_since,
    )


def requests_measure(*, now: datetime) -> RequestWindow | NotMeasured:
    if not settings.REDIS_URL:
        return NotMeasured(
            "needs Redis (REDIS_URL): without it each process counts only its own requests"
        )
    try:
        window = request_window(minutes=settings.ALERT_WINDOW_MINUTES, at=now.timestamp())
    except Exception as exc:  # noqa: BLE001 - Redis unreachable
        return NotMeasured(f"Redis unavailable ({error_summary(exc)})")
    return window if window is not None else NotMeasured("no shared request metrics")


def worker_stalled_for(measure: QueueMeasure, *, now: datetime) -> timedelta | None:
    """How long claimable events have waited with no worker taking any event, if that is at
    least ALERT_WORKER_STALL_SECONDS; None when the pipeline is moving (or idle)."""
    if measure.claimable_since is None:
        return None
    limit = timedelta(seconds=settings.ALERT_WORKER_STALL_SECONDS)
    waiting = now - measure.claimable_since
    if waiting < limit:
        return None
    last = measure.last_claimed_at
    if last is not None and now - last < limit:
        return None
    return waiting if last is None else min(waiting, now - last)


# --- Freshness: what did not happen -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Freshness:
    """The newest successful run of a job, and since when "never" counts: the installation
    (the maintenance app's first migration), so a new deployment is not overdue at once."""

    operation: str
    last_success_at: datetime | None
    since: datetime

    def age(self, *, now: datetime) -> timedelta:
        return now - (self.last_success_at or self.since)


@dataclasses.dataclass(frozen=True)
class ChannelHealth:
    """A configured notification channel's delivery record (alerts.selectors.channel_states)."""

    key: str
    label: str
    consecutive_failures: int
    failing: bool
    last_error: str


def freshness_measure(*, operation: str) -> Freshness | NotMeasured:
    """When `operation` (a run record's name: backup_db, verify_backup) last succeeded."""
    from django.db.migrations.recorder import MigrationRecorder

    from maintenance.models import MaintenanceRun, Outcome

    installed = MigrationRecorder.Migration.objects.filter(app="maintenance").aggregate(
        at=Min("applied")
    )["at"]
    if installed is None:
        return NotMeasured("the maintenance app's migrations are not applied")
    last = (
        MaintenanceRun.objects.filter(operation=operation, outcome=Outcome.SUCCESS)
        .order_by("-started_at")
        .values_list("finished_at", "started_at")
        .first()
    )
    return Freshness(operation, (last[0] or last[1]) if last else None, installed)


def dead_letter_measure() -> int:
    """Failed events: those the pipeline gave up on (the dead-letter list)."""
    return Event.objects.filter(status=Status.FAILED).count()


def beat_measure(*, now: datetime) -> BeatState | NotMeasured:
    """Beat's heartbeat; not measured when none was ever recorded (a beat started with another
    scheduler, or none yet: the overview and the `beat` health check say so)."""
    state = beat_state(now=now)
    if state.last_heartbeat is None:
        return NotMeasured(
            "no beat heartbeat recorded yet (beat not started with "
            f"{settings.CELERY_BEAT_SCHEDULER})"
        )
    return state


def workers_measure() -> WorkersPing | NotMeasured:
    """The workers answering a ping (cached WORKERS_PING_CACHE_SECONDS; a new one waits the whole
    WORKERS_PING_TIMEOUT so every worker is counted)."""
    ping = workers_ping(complete=True)
    if ping.mode == "in-process":
        return NotMeasured("no broker: tasks run in-process, there are no workers to ping")
    if ping.error:
        return NotMeasured(f"cannot ping the workers ({ping.error})")
    return ping
