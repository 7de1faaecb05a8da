"""The alert rules: measured values against thresholds, one function per rule.

A rule turns a snapshot into checks, one per thing it watches (one per disk for `disk`). A check
with a severity fires; a check without one is under its threshold and resolves the matching open
alert. A rule whose input could not be measured produces no checks and changes nothing.

rule            alert name                  severity                  threshold
database        Database Unreachable        critical                  -
broker          Broker Unreachable          critical                  -
response_time   High Response Time          medium                    ALERT_RESPONSE_TIME_MS
error_rate      High Error Rate             high above                ALERT_ERROR_RATE_HIGH,
                                            medium above              ALERT_ERROR_RATE
db_connections  High Database Connections   high                      ALERT_DB_CONNECTIONS_PCT
memory          High Memory Usage           high                      ALERT_MEMORY_PCT
cpu             High CPU Usage              medium                    ALERT_CPU_PCT
disk            High Disk Usage (per disk)  high                      ALERT_DISK_PCT
event_queue     Event Queue Backlog         medium                    ALERT_EVENT_QUEUE
worker_stall    Event Processing Stalled    high                      ALERT_WORKER_STALL_SECONDS


The freshness rules (what did not happen) are in alerts/freshness.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings

from alerts.metrics import (
    ChannelHealth,
    DbConnections,
    Freshness,
    NotMeasured,
    QueueMeasure,
    Reachability,
    worker_stalled_for,
)
from alerts.models import Severity
from beo_automation.liveness import BeatState, WorkersPing
from beo_automation.metrics.requests import RequestWindow
from beo_automation.metrics.resources import DiskUsage, MemoryUsage

# A measurement a snapshot was built without (frozen, so one shared instance).
NOT_TAKEN = NotMeasured("not taken")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    now: datetime
    database: Reachability
    broker: Reachability | NotMeasured
    requests: RequestWindow | NotMeasured
    db_connections: DbConnections | NotMeasured
    memory: MemoryUsage | NotMeasured
    cpu: float | NotMeasured
    disks: list[DiskUsage] | NotMeasured
    queue: QueueMeasure | NotMeasured
    # Freshness. Defaults: a snapshot built without them (older callers) changes nothing.
    backup: Freshness | NotMeasured = NOT_TAKEN
    verify: Freshness | NotMeasured = NOT_TAKEN
    beat: BeatState | NotMeasured = NOT_TAKEN
    workers: WorkersPing | NotMeasured = NOT_TAKEN
    dead_letter: int | NotMeasured = NOT_TAKEN
    channels: list[ChannelHealth] | NotMeasured = NOT_TAKEN


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    severity: Severity | None  # None: under the threshold
    message: str
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RuleOutcome:
    rule: str
    title: str
    checks: list[Check]
    not_measured: str = ""  # the reason, when the input could not be measured

    @property
    def measured(self) -> bool:
        return not self.not_measured


RuleFunc = Callable[[Snapshot], RuleOutcome]


def _reachability(
    rule: str, title: str, name: str, value: Reachability | NotMeasured
) -> RuleOutcome:
    if isinstance(value, NotMeasured):
        return RuleOutcome(rule, title, [], value.reason)
    if value.ok:
        check = Check(name, None, f"Reachable ({value.latency_ms} ms)", value.latency_ms, unit="ms")
    else:
        check = Check(
            name,
            Severity.CRITICAL,
            f"{title} failed: {value.error}",
            metadata={"error": value.error, "latency_ms": value.latency_ms},
        )
    return RuleOutcome(rule, title, [check])


def database_rule(s: Snapshot) -> RuleOutcome:
    return _reachability("database", "Database connection", "Database Unreachable", s.database)


def broker_rule(s: Snapshot) -> RuleOutcome:
    return _reachability("broker", "Broker connection", "Broker Unreachable", s.broker)


def _too_few(window: RequestWindow) -> bool:
    return window.requests < settings.ALERT_MIN_REQUESTS


def response_time_rule(s: Snapshot) -> RuleOutcome:
    title = "Average API response time"
    if isinstance(s.requests, NotMeasured):
        return RuleOutcome("response_time", title, [], s.requests.reason)
    w, threshold = s.requests, settings.ALERT_RESPONSE_TIME_MS
    name = "High Response Time"
    if _too_few(w) or w.avg_ms is None:
        return RuleOutcome(
            "response_time",
            title,
            [Check(name, None, f"{w.requests} requests in {w.minutes} min: too few to judge")],
        )
    avg = round(w.avg_ms, 1)
    message = (
        f"Average API response time {avg:.0f} ms over the last {w.minutes} min "
        f"({w.requests} requests; threshold {threshold:.0f} ms)"
    )
    severity = Severity.MEDIUM if avg > threshold else None
    metadata = {
        "avg_ms": avg,
        "threshold_ms": threshold,
        "requests": w.requests,
        "window_minutes": w.minutes,
    }
    return RuleOutcome(
        "response_time",
        title,
        [Check(name, severity, message, avg, threshold, "ms", metadata=metadata)],
    )


def error_rate_rule(s: Snapshot) -> RuleOutcome:
    """The guide's example: above 5 % "High Error Rate" is high; above 1 % medium."""
    title = "Error rate (5xx share)"
    if isinstance(s.requests, NotMeasured):
        return RuleOutcome("error_rate", title, [], s.requests.reason)
    w = s.requests
    name = "High Error Rate"
    if _too_few(w) or w.error_rate is None:
        return RuleOutcome(
            "error_rate",
            title,
            [Check(name, None, f"{w.requests} requests in {w.minutes} min: too few to judge")],
        )
    rate = w.error_rate
    if rate > settings.ALERT_ERROR_RATE_HIGH:
        severity, threshold = Severity.HIGH, settings.ALERT_ERROR_RATE_HIGH
    elif rate > settings.ALERT_ERROR_RATE:
        severity, threshold = Severity.MEDIUM, settings.ALERT_ERROR_RATE
    else:
        severity, threshold = None, settings.ALERT_ERROR_RATE
    message = (
        f"Error rate at {rate * 100:.2f}% ({w.errors} of {w.requests} requests in the last "
        f"{w.minutes} min)"
    )
    metadata = {
        "error_rate": round(rate, 4),
        "threshold": threshold,
        "errors": w.errors,
        "requests": w.requests,
        "window_minutes": w.minutes,
    }
    return RuleOutcome(
        "error_rate",
        title,
        [
            Check(
                name,
                severity,
                message,
                round(rate * 100, 2),
                threshold * 100,
                "%",
                metadata=metadata,
            )
        ],
    )


def db_connections_rule(s: Snapshot) -> RuleOutcome:
    title = "Database connections"
    if isinstance(s.db_connections, NotMeasured):
        return RuleOutcome("db_connections", title, [], s.db_connections.reason)
    c, threshold = s.db_connections, settings.ALERT_DB_CONNECTIONS_PCT
    capacity = (
        f"pool of {settings.DB_POOL_MAX} x {settings.ALERT_DB_POOL_PROCESSES} processes"
        if c.capacity_source == "pool"
        else f"max_connections {c.max_connections}"
    )
    message = (
        f"{c.used} of {c.capacity} database connections in use ({c.percent:.0f}%, {c.active} "
        f"active; capacity: {capacity})"
    )
    metadata = {
        "used": c.used,
        "active": c.active,
        "capacity": c.capacity,
        "capacity_source": c.capacity_source,
        "percent": c.percent,
        "threshold_pct": threshold,
    }
    severity = Severity.HIGH if c.percent > threshold else None
    return RuleOutcome(
        "db_connections",
        title,
        [
            Check(
                "High Database Connections",
                severity,
                message,
                c.percent,
                threshold,
                "%",
                metadata=metadata,
            )
        ],
    )


def memory_rule(s: Snapshot) -> RuleOutcome:
    title = "Memory usage"
    if isinstance(s.memory, NotMeasured):
        return RuleOutcome("memory", title, [], s.memory.reason)
    m, threshold = s.memory, settings.ALERT_MEMORY_PCT
    message = (
        f"Memory usage at {m.percent:.1f}% ({m.used_bytes / 2**30:.2f} of "
        f"{m.total_bytes / 2**30:.2f} GiB; this process {m.process_rss_bytes / 2**20:.0f} MiB)"
    )
    metadata = {
        "percent": m.percent,
        "threshold_pct": threshold,
        "process_rss_mb": round(m.process_rss_bytes / 2**20, 1),
    }
    severity = Severity.HIGH if m.percent > threshold else None
    return RuleOutcome(
        "memory",
        title,
        [
            Check(
                "High Memory Usage", severity, message, m.percent, threshold, "%", metadata=metadata
            )
        ],
    )


def cpu_rule(s: Snapshot) -> RuleOutcome:
    title = "CPU usage"
    if isinstance(s.cpu, NotMeasured):
        return RuleOutcome("cpu", title, [], s.cpu.reason)
    threshold = settings.ALERT_CPU_PCT
    message = f"CPU usage at {s.cpu:.1f}% (sampled over {settings.ALERT_CPU_SAMPLE_SECONDS:g} s)"
    severity = Severity.MEDIUM if s.cpu > threshold else None
    return RuleOutcome(
        "cpu",
        title,
        [
            Check(
                "High CPU Usage",
                severity,
                message,
                s.cpu,
                threshold,
                "%",
                metadata={"percent": s.cpu, "threshold_pct": threshold},
            )
        ],
    )


def disk_rule(s: Snapshot) -> RuleOutcome:
    title = "Disk usage"
    if isinstance(s.disks, NotMeasured):
        return RuleOutcome("disk", title, [], s.disks.reason)
    threshold = settings.ALERT_DISK_PCT
    checks = []
    for d in s.disks:
        message = (
            f"Disk of {d.path} at {d.percent:.1f}% ({d.free_bytes / 2**30:.2f} GiB free of "
            f"{d.total_bytes / 2**30:.2f} GiB)"
        )
        metadata = {
            "percent": d.percent,
            "threshold_pct": threshold,
            "free_gb": round(d.free_bytes / 2**30, 2),
            "directories": list(d.covers),
        }
        checks.append(
            Check(
                "High Disk Usage",
                Severity.HIGH if d.percent > threshold else None,
                message,
                d.percent,
                threshold,
                "%",
                labels={"path": d.path},
                metadata=metadata,
            )
        )
    return RuleOutcome("disk", title, checks)


def event_queue_rule(s: Snapshot) -> RuleOutcome:
    title = "Event queue size"
    if isinstance(s.queue, NotMeasured):
        return RuleOutcome("event_queue", title, [], s.queue.reason)
    q, threshold = s.queue.stats, settings.ALERT_EVENT_QUEUE
    by_priority = ", ".join(f"{k} {v}" for k, v in q.pending_by_priority.items() if v)
    oldest = (
        f"; oldest waiting {q.oldest_pending_age_seconds:.0f} s"
        if q.oldest_pending_age_seconds is not None
        else ""
    )
    message = f"{q.pending} pending events ({by_priority or 'none'}){oldest}"
    metadata = {
        "pending": q.pending,
        "pending_by_priority": q.pending_by_priority,
        "processing": q.processing,
        "oldest_pending_age_seconds": q.oldest_pending_age_seconds,
        "threshold": threshold,
    }
    severity = Severity.MEDIUM if q.pending > threshold else None
    return RuleOutcome(
        "event_queue",
        title,
        [
            Check(
                "Event Queue Backlog",
                severity,
                message,
                q.pending,
                threshold,
                "events",
                metadata=metadata,
            )
        ],
    )


def worker_stall_rule(s: Snapshot) -> RuleOutcome:
    title = "Workers taking events"
    if isinstance(s.queue, NotMeasured):
        return RuleOutcome("worker_stall", title, [], s.queue.reason)
    stalled = worker_stalled_for(s.queue, now=s.now)
    last = s.queue.last_claimed_at
    last_text = last.isoformat() if last else "never"
    name = "Event Processing Stalled"
    if stalled is None:
        return RuleOutcome(
            "worker_stall",
            title,
            [Check(name, None, f"Workers are taking events (last {last_text})")],
        )
    minutes = stalled.total_seconds() / 60
    message = (
        f"No worker has taken an event for {minutes:.0f} min while {s.queue.stats.pending} "
        f"events are pending (last taken: {last_text}). Are the Celery workers and the broker up?"
    )
    metadata = {
        "stalled_seconds": round(stalled.total_seconds()),
        "pending": s.queue.stats.pending,
        "last_claimed_at": last_text,
        "threshold_seconds": settings.ALERT_WORKER_STALL_SECONDS,
    }
    return RuleOutcome(
        "worker_stall",
        title,
        [
            Check(
                name,
                Severity.HIGH,
                message,
                round(stalled.total_seconds()),
                settings.ALERT_WORKER_STALL_SECONDS,
                "s",
                metadata=metadata,
            )
        ],
    )


# Infrastructure first: with the database down, only these are evaluated.
INFRASTRUCTURE_RULES: list[RuleFunc] = [database_rule, broker_rule]
# Measured values against thresholds; alerts/freshness.py adds the freshness rules.
THRESHOLD_RULES: list[RuleFunc] = [
    response_time_rule,
    error_rate_rule,
    db_connections_rule,
    memory_rule,
    cpu_rule,
    disk_rule,
    event_queue_rule,
    worker_stall_rule,
]
