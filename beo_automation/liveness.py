"""Is the rest of the deployment alive? Celery beat's heartbeat, the workers' ping, and the
outside monitor's per-job ping.

- Beat: `HeartbeatScheduler` (settings.CELERY_BEAT_SCHEDULER, so every `celery beat` uses it)
  writes a `maintenance.Heartbeat` row from its own tick, at most every
  BEAT_HEARTBEAT_INTERVAL seconds. Beat itself writes it, not a task, so a dead worker does not
  look like a dead beat. A database row, not a Redis key: it stays readable while Redis is
  down, and it works on the embedded SQLite default (where beat runs the jobs in-process).
- Workers: a Celery control ping (`app.control.ping`), its answer cached
  WORKERS_PING_CACHE_SECONDS in the shared cache, so the overview page, the health panel and
  the alert evaluation do not each wait on it. With CELERY_TASK_ALWAYS_EAGER (no broker) there
  are no workers to ping: tasks run in the process that sends them, reported as "in-process".
- Jobs: after each run of a scheduled job's task, a ping to its JOB_PING_URLS entry (success)
  or that URL + "/fail", with a short timeout; a ping that fails is logged and nothing else.

The health checks `workers` and `beat` are in beo_automation.health's registry with
`liveness=True` (the overview's panel), not in GET /api/health/: that probe answers whether
*this web process* can serve, and must neither wait on a ping nor take web processes out of a
load balancer because beat stopped; the alerts and the overview report beat and workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import urllib.request
from datetime import datetime
from typing import Any, Literal

import structlog
from celery.beat import PersistentScheduler
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

logger = structlog.get_logger("beo_automation.liveness")

BEAT = "beat"
PING_CACHE_KEY = "liveness:workers-ping"
# What the outside monitor receives with a ping (healthchecks.io keeps the first 100 kB).
PING_BODY_LIMIT = 10_000


# --- Beat's heartbeat ---------------------------------------------------------------------------


def beat_heartbeat_record(*, now: datetime | None = None) -> None:
    """Record "beat alive at `now`" (one row, updated in place)."""
    from maintenance.models import Heartbeat
    from maintenance.services.run_records import this_host

    at = now or timezone.now()
    host = this_host()[:200]
    if not Heartbeat.objects.filter(name=BEAT).update(at=at, host=host):
        Heartbeat.objects.update_or_create(name=BEAT, defaults={"at": at, "host": host})


def beat_heartbeat_get() -> datetime | None:
    """When beat last recorded its heartbeat; None if it never did (or not with the
    HeartbeatScheduler)."""
    from maintenance.models import Heartbeat

    return Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()


@dataclasses.dataclass(frozen=True)
class BeatState:
    last_heartbeat: datetime | None
    age_seconds: float | None
    max_age_seconds: int

    @property
    def alive(self) -> bool:
        return self.age_seconds is not None and self.age_seconds <= self.max_age_seconds


def beat_state(*, now: datetime | None = None) -> BeatState:
    """Beat's last heartbeat and whether it is recent enough (BEAT_HEARTBEAT_MAX_AGE)."""
    now = now or timezone.now()
    last = beat_heartbeat_get()
    age = None if last is None else max(0.0, round((now - last).total_seconds(), 1))
    return BeatState(last, age, settings.BEAT_HEARTBEAT_MAX_AGE)


class HeartbeatScheduler(PersistentScheduler):
    """Celery's default scheduler (the schedule file) that also writes beat's heartbeat.

    The heartbeat is written after a tick, so it says "beat got through its loop": a beat stuck
    sending to an unreachable broker stops beating. The tick's sleep is capped so the heartbeat
    is written on time when the next job is minutes away.
    """

    _heartbeat_due = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        now = time.monotonic()
        if now >= self._heartbeat_due:
            self._heartbeat_due = now + settings.BEAT_HEARTBEAT_INTERVAL
            self._heartbeat()
        return max(0.0, min(interval, self._heartbeat_due - now))

    def _heartbeat(self) -> None:
        # Beat lives for weeks: drop a connection the database closed (a restart) first.
        close_old_connections()
        try:
            beat_heartbeat_record()
        except DatabaseError as exc:
            # Never stop the schedule over its heartbeat; the stale row is the signal.
            logger.warning("Beat heartbeat not recorded", error=str(exc).splitlines()[:1])
            with contextlib.suppress(DatabaseError):
                connection.close()


# --- The workers' ping --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WorkersPing:
    mode: Literal["broker", "in-process"]
    at: datetime | None = None  # when the ping was sent (None: in-process, never pinged)
    workers: tuple[str, ...] = ()  # node names that answered, sorted
    error: str = ""  # the ping could not be sent (broker unreachable)

    def age_seconds(self, *, now: datetime) -> float | None:
        return None if self.at is None else max(0.0, round((now - self.at).total_seconds(), 1))


def workers_in_process() -> bool:
    """No broker: tasks run eagerly in the process that sends them (the embedded default)."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def _cached_ping() -> WorkersPing | None:
    try:
        entry = cache.get(PING_CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache is Redis, which may be down: ping again
        return None
    if not isinstance(entry, dict):
        return None
    return WorkersPing(
        mode="broker",
        at=datetime.fromisoformat(entry["at"]),
        workers=tuple(entry["workers"]),
        error=entry["error"],
    )


def _ping(*, limit: int | None) -> WorkersPing:
    from beo_automation.celery import app

    at = timezone.now()
    timeout = settings.WORKERS_PING_TIMEOUT
    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            # Fail fast on a broker that is down instead of kombu's retry loop.
            conn.ensure_connection(max_retries=0, timeout=timeout)
            replies = app.control.ping(timeout=timeout, limit=limit, connection=conn)
    except Exception as exc:  # noqa: BLE001 - any failure: no answer, and why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return WorkersPing("broker", at, (), f"{type(exc).__name__}: {first}"[:300])
    names = sorted(name for reply in replies or () for name in reply)
    return WorkersPing("broker", at, tuple(names))


def workers_ping(*, max_age: float | None = None, complete: bool = False) -> WorkersPing:
    """The workers answering a Celery control ping, from the shared cache when the last ping is
    at most `max_age` seconds old (default WORKERS_PING_CACHE_SECONDS), else pinged now.

    A new ping waits up to WORKERS_PING_TIMEOUT; it returns early once as many workers as last
    time answered, unless `complete` (the alert evaluation, in the background, waits the whole
    timeout so that a worker added since is counted too).
    """
    if workers_in_process():
        return WorkersPing("in-process")
    max_age = settings.WORKERS_PING_CACHE_SECONDS if max_age is None else max_age
    cached = _cached_ping()
    now = timezone.now()
    if (
        cached is not None
        and cached.at is not None
        and (now - cached.at).total_seconds() <= max_age
    ):
        return cached
    known = len(cached.workers) if cached is not None else 0
    result = _ping(limit=None if complete or not known else known)
    entry = {"at": result.at.isoformat() if result.at else "", "workers": list(result.workers)}
    with contextlib.suppress(Exception):  # Redis down: the next caller pings again
        cache.set(
            PING_CACHE_KEY,
            {**entry, "error": result.error},
            timeout=settings.WORKERS_PING_CACHE_SECONDS + 120,  # > what workers_ping_shown takes
        )
    return result


def workers_ping_shown() -> WorkersPing:
    """The ping answer the overview and its health panel show: the minutely alert evaluation
    keeps the cached one fresh, so they accept it up to a minute older than it would (its age
    is shown) and ping themselves only when the evaluation has stopped, keeping the page from
    waiting WORKERS_PING_TIMEOUT whenever no worker answers."""
    return workers_ping(max_age=settings.WORKERS_PING_CACHE_SECONDS + 60)


def events_waiting_count(*, now: datetime | None = None) -> int:
    """Events a worker could take now (pending, available_at passed)."""
    from events.models import Event, Status

    return Event.objects.filter(
        status=Status.PENDING, available_at__lte=now or timezone.now()
    ).count()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def workers_overview(*, now: datetime | None = None) -> dict[str, Any]:
    """The ops overview's `workers`: who answers the ping, beat's heartbeat, events waiting.

    JSON-able. `alive` is True in-process (the sending process runs the task), else whether at
    least one worker answered. Database-backed figures are None when the database is down.
    """
    now = now or timezone.now()
    ping = workers_ping_shown()
    in_process = ping.mode == "in-process"
    try:
        beat: BeatState | None = beat_state(now=now)
        waiting: int | None = events_waiting_count(now=now)
    except DatabaseError:
        beat, waiting = None, None
    return {
        "mode": ping.mode,
        "alive": True if in_process else bool(ping.workers),
        "answering": None if in_process else len(ping.workers),
        "workers": list(ping.workers),
        "pinged_at": _iso(ping.at),
        "ping_age_seconds": ping.age_seconds(now=now),
        "ping_timeout_seconds": None if in_process else settings.WORKERS_PING_TIMEOUT,
        "ping_error": ping.error or None,
        "events_waiting": waiting,
        "beat": {
            "alive": beat.alive if beat else None,
            "last_heartbeat": _iso(beat.last_heartbeat) if beat else None,
            "age_seconds": beat.age_seconds if beat else None,
            "max_age_seconds": settings.BEAT_HEARTBEAT_MAX_AGE,
        },
    }


# --- Health checks (beo_automation.health, liveness=True) ---------------------------------------


@dataclasses.dataclass
class Workers(HealthCheck):
    """`ok` when a worker answers the (cached) ping, or in-process; `error` when none does."""

    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        ping = workers_ping_shown()
        self.details = {"mode": ping.mode}
        if ping.mode == "in-process":
            return
        self.details.update(
            answering=len(ping.workers),
            workers=list(ping.workers),
            ping_age_seconds=ping.age_seconds(now=timezone.now()),
        )
        if ping.error:
            raise ServiceUnavailable(f"cannot ping the workers: {ping.error}")
        if not ping.workers:
            raise ServiceUnavailable(
                f"no worker answered a ping within {settings.WORKERS_PING_TIMEOUT:g} s"
            )


@dataclasses.dataclass
class Beat(HealthCheck):
    """`ok` while beat's heartbeat is at most BEAT_HEARTBEAT_MAX_AGE seconds old."""

    details: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def run(self) -> None:
        try:
            state = beat_state()
        except DatabaseError as exc:
            raise ServiceUnavailable("cannot read beat's heartbeat: database unavailable") from exc
        finally:
            connection.close()  # a health-check thread: give its connection back
        self.details = {
            "last_heartbeat": _iso(state.last_heartbeat),
            "age_seconds": state.age_seconds,
        }
        if state.last_heartbeat is None:
            raise ServiceUnavailable(
                f"no heartbeat recorded: beat has not run (with {settings.CELERY_BEAT_SCHEDULER})"
            )
        if not state.alive:
            raise ServiceUnavailable(
                f"last heartbeat {state.age_seconds:.0f} s ago "
                f"(BEAT_HEARTBEAT_MAX_AGE {state.max_age_seconds} s)"
            )


# --- The outside monitor: one ping per scheduled job run -----------------------------------------


def job_ping(*, job: str, ok: bool, detail: Any = None) -> bool:
    """Tell the outside monitor that `job` ran (POST to its URL) or failed (its URL + "/fail"),
    with a small JSON body (job, ok, detail: the task's result or error). Returns whether the
    monitor took it; never raises, waits at most JOB_PING_TIMEOUT."""
    url = settings.JOB_PING_URLS.get(job)
    if not url:
        return False
    text = detail if isinstance(detail, str) else json.dumps(detail, default=str)
    body = json.dumps({"job": job, "ok": ok, "detail": text[:PING_BODY_LIMIT]})
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in settings
        url if ok else f"{url}/fail",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "beo-automation"},
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.JOB_PING_TIMEOUT) as response:  # noqa: S310
            response.read(1024)
    except Exception as exc:  # noqa: BLE001 - the job's outcome stands whatever the monitor does
        logger.warning("Job ping failed", job=job, ok=ok, error=f"{type(exc).__name__}: {exc}")
        return False
    return True


def job_run_ping(*, task_name: str, ok: bool, detail: Any = None) -> bool:
    """The Celery signals' entry (beo_automation.celery): ping for the scheduled job whose task
    just ran, if it has a URL."""
    for job in settings.SCHEDULED_JOBS:
        if job.task == task_name and job.name in settings.JOB_PING_URLS:
            return job_ping(job=job.name, ok=ok, detail=detail)
    return False
