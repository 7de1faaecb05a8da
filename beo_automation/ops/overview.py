"""The ops overview: what the admin index panels and GET /api/ops/overview/ both show.

Each part reuses the rule that already decides it elsewhere (health checks, alert freshness,
the escalation's "response overdue", the run list's routine runs, beat's own crontab maths),
so the console, the API, the alerts and the admin cannot disagree. Each part is computed on its
own: one that fails (its store down) becomes {"error": reason} and the others still answer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shelve
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery.utils.time import remaining
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, ExpressionWrapper, IntegerField, Q, When
from django.utils import timezone

from alerts.freshness import freshness_overdue
from alerts.metrics import (
    Freshness,
    NotMeasured,
    dead_letter_measure,
    error_summary,
    freshness_measure,
)
from alerts.models import (
    ACTIVE_STAGES,
    OPEN_ALERT_STATUSES,
    SEVERITY_RANK,
    Alert,
    Incident,
    Severity,
)
from alerts.samples import metric_samples_since
from alerts.selectors import channel_states, incident_response_overdue_q
from beo_automation.health import health_report
from beo_automation.liveness import workers_overview
from beo_automation.schedule import job_cron
from events.models import Event, Status
from maintenance.models import MaintenanceRun, Outcome
from maintenance.selectors import run_list
from maintenance.services.listing import last_verifications

logger = structlog.get_logger("beo_automation.ops")

EVENTS_WINDOW_HOURS = 24
SERIES_MINUTES = 60
MAX_ITEMS = 20
TOP_TYPES = 10
RECENT_RUNS = 10
NO_CHANNEL_WARNING = "No notification channel is configured: alerts reach nobody."
# The sparklines' order; any other sampled key follows, alphabetically.
METRIC_ORDER = ("request_rate", "response_time", "error_rate")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _part(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`compute()`, or {"error": reason} when it fails. Inside a transaction its queries get a
    savepoint, so that one failed query does not abort the next part's."""
    try:
        if not connection.in_atomic_block:
            return compute()
        with transaction.atomic():
            return compute()
    except Exception as exc:  # noqa: BLE001 - a failing part must not take the others down
        logger.warning("Ops overview part failed", part=name, error=error_summary(exc, limit=200))
        if not connection.in_atomic_block:
            # A connection the server closed (a restart): the next part connects afresh.
            with contextlib.suppress(Exception):
                connection.close_if_unusable_or_obsolete()
        return {"error": error_summary(exc, limit=200)}


# --- health -----------------------------------------------------------------------------------


def _metric_key_order(key: str) -> tuple[int, str]:
    if key in METRIC_ORDER:
        return (METRIC_ORDER.index(key), "")
    if key.startswith("queue:"):
        return (len(METRIC_ORDER), key)
    if key == "oldest_pending_age":
        return (len(METRIC_ORDER) + 1, "")
    return (len(METRIC_ORDER) + 2, key)


def health_metrics(*, now: datetime) -> list[dict[str, Any]]:
    """Each value the alert evaluation sampled, its latest figures and the last hour's series."""
    samples = metric_samples_since(since=now - timedelta(minutes=SERIES_MINUTES))
    if not samples:
        return []
    latest = samples[-1].values
    metrics = []
    for key in sorted(latest, key=_metric_key_order):
        entry = latest[key]
        series = [
            [sample.at.isoformat(), (sample.values.get(key) or {}).get("value")]
            for sample in samples
        ]
        metrics.append(
            {
                "key": key,
                "title": entry.get("title", key),
                "value": entry.get("value"),
                "threshold": entry.get("threshold"),
                "unit": entry.get("unit", ""),
                "severity": entry.get("severity"),
                "series": series,
            }
        )
    return metrics


def health_part(*, now: datetime) -> dict[str, Any]:
    report = health_report(liveness=True)
    checks = {}
    for name, check in report["checks"].items():
        details = {k: v for k, v in check.items() if k not in {"status", "message", "latency_ms"}}
        checks[name] = {
            "status": check["status"],
            "message": check.get("message", ""),
            "latency_ms": check.get("latency_ms"),
            "details": details,
        }
    part: dict[str, Any] = {"status": report["status"], "checks": checks}
    # The checks run on threads of their own; the sparklines read the database: without it
    # the checks (which say so) still show.
    sampled = _part("health.metrics", lambda: {"metrics": health_metrics(now=now)})
    part["metrics"] = sampled.get("metrics", [])
    if "error" in sampled:
        part["metrics_error"] = sampled["error"]
    return part


# --- alerts and incidents ---------------------------------------------------------------------


def _severity_rank() -> Case:
    return Case(
        *(When(severity=name, then=rank) for name, rank in SEVERITY_RANK.items()),
        default=-1,
        output_field=IntegerField(),
    )


def alerts_part(*, now: datetime) -> dict[str, Any]:
    open_alerts = Alert.objects.filter(status__in=OPEN_ALERT_STATUSES)
    counts = dict(open_alerts.values_list("severity").annotate(n=Count("id")).order_by())
    by_severity = {s.value: counts.get(s.value, 0) for s in reversed(Severity)}
    items = open_alerts.annotate(rank=_severity_rank()).order_by("-rank", "-last_seen", "-id")
    return {
        "open": sum(counts.values()),
        "by_severity": by_severity,
        "items": [
            {
                "id": a.pk,
                "name": a.name,
                "severity": a.severity,
                "status": a.status,
                "message": a.message,
                "occurrences": a.occurrences,
                "first_seen": _iso(a.first_seen),
                "last_seen": _iso(a.last_seen),
                "acknowledged_at": _iso(a.acknowledged_at),
                "incident_id": a.incident_id,
            }
            for a in items[:MAX_ITEMS]
        ],
    }


def incidents_part(*, now: datetime) -> dict[str, Any]:
    overdue_q = incident_response_overdue_q(now=now)
    active = Incident.objects.filter(stage__in=ACTIVE_STAGES)
    totals = active.aggregate(open=Count("id"), overdue=Count("id", filter=overdue_q))
    # Most urgent first: waiting for a response (by its deadline), then the acknowledged ones
    # by severity.
    items = active.annotate(
        is_overdue=ExpressionWrapper(overdue_q, output_field=BooleanField()),
        waiting=ExpressionWrapper(Q(acknowledged_at__isnull=True), output_field=BooleanField()),
        rank=_severity_rank(),
    ).order_by("-waiting", "response_due_at", "-rank", "id")
    return {
        "open": totals["open"],
        "overdue": totals["overdue"],
        "items": [
            {
                "id": i.pk,
                "title": i.title,
                "severity": i.severity,
                "stage": i.stage,
                "detected_at": _iso(i.detected_at),
                "response_due_at": _iso(i.response_due_at),
                "acknowledged_at": _iso(i.acknowledged_at),
                "seconds_left": round((i.response_due_at - now).total_seconds(), 1),
                "overdue": bool(i.is_overdue),
            }
            for i in items[:MAX_ITEMS]
        ],
    }


# --- events -----------------------------------------------------------------------------------


def events_part(*, now: datetime) -> dict[str, Any]:
    since = now - timedelta(hours=EVENTS_WINDOW_HOURS)
    # One grouped scan of the window (the created_at index carries status and type).
    rows = (
        Event.objects.filter(created_at__gte=since)
        .values_list("status", "type")
        .annotate(n=Count("*"))
        .order_by()
    )
    by_status = {s.value: 0 for s in Status}
    by_type: dict[str, int] = {}
    for status, event_type, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_type[event_type] = by_type.get(event_type, 0) + n
    top = sorted(by_type.items(), key=lambda item: (-item[1], item[0]))[:TOP_TYPES]
    total = sum(by_status.values())
    return {
        "window_hours": EVENTS_WINDOW_HOURS,
        "since": since.isoformat(),
        "total": total,
        "by_status": by_status,
        "by_type": [{"type": t, "count": n} for t, n in top],
        "other_count": total - sum(n for _, n in top),
        "failed": dead_letter_measure(),
    }


# --- backups ----------------------------------------------------------------------------------


def _hours_since(at: datetime, *, now: datetime) -> float:
    return round((now - at).total_seconds() / 3600, 1)


def _overdue(value: Freshness | NotMeasured, *, now: datetime, max_hours: float) -> bool:
    if isinstance(value, NotMeasured):
        return False  # the alert rule does not judge it either
    return freshness_overdue(value, now=now, max_hours=max_hours)


def backups_part(*, now: datetime) -> dict[str, Any]:
    max_hours = float(settings.BACKUP_MAX_AGE_HOURS)
    verify_max_hours = float(settings.BACKUP_VERIFY_MAX_AGE_HOURS)
    backups = MaintenanceRun.objects.filter(operation="backup_db")
    success = backups.filter(outcome=Outcome.SUCCESS).order_by("-started_at", "-id").first()
    last_success = None
    if success is not None:
        at = success.finished_at or success.started_at
        file = (success.summary or {}).get("file")
        verification = last_verifications().get(file) if file else None
        last_success = {
            "run_id": success.pk,
            "at": at.isoformat(),
            "age_hours": _hours_since(at, now=now),
            "file": file,
            "bytes": (success.summary or {}).get("bytes"),
            "verified": None if verification is None else verification.outcome == Outcome.SUCCESS,
            "verify_outcome": verification.outcome if verification else None,
            "verified_at": _iso(verification.at) if verification else None,
        }
    verify = (
        MaintenanceRun.objects.filter(operation="verify_backup")
        .exclude(outcome__in=[Outcome.RUNNING, Outcome.REFUSED])
        .order_by("-started_at", "-id")
        .first()
    )
    last_verify = None
    if verify is not None:
        at = verify.finished_at or verify.started_at
        last_verify = {
            "run_id": verify.pk,
            "at": at.isoformat(),
            "age_hours": _hours_since(at, now=now),
            "outcome": verify.outcome,
            "backup": (verify.summary or {}).get("backup"),
        }
    failures = backups.filter(outcome=Outcome.FAILED)
    if success is not None:
        failures = failures.filter(started_at__gt=success.started_at)
    failure = failures.order_by("-started_at", "-id").first()
    return {
        "max_age_hours": max_hours,
        "verify_max_age_hours": verify_max_hours,
        "last_success": last_success,
        "last_verify": last_verify,
        "last_failure": (
            {
                "run_id": failure.pk,
                "at": (failure.finished_at or failure.started_at).isoformat(),
                "error": failure.error,
            }
            if failure is not None
            else None
        ),
        "overdue": _overdue(freshness_measure(operation="backup_db"), now=now, max_hours=max_hours),
        "verify_overdue": _overdue(
            freshness_measure(operation="verify_backup"), now=now, max_hours=verify_max_hours
        ),
    }


# --- jobs -------------------------------------------------------------------------------------


def beat_last_runs() -> dict[str, datetime]:
    """When beat last sent each entry, from its schedule file (celery's PersistentScheduler);
    empty when there is none yet or beat holds it locked."""
    try:
        with shelve.open(str(settings.CELERY_BEAT_SCHEDULE_FILENAME), flag="r") as store:  # noqa: S301 - beat's own file
            entries = store.get("entries") or {}
            return {
                name: entry.last_run_at
                for name, entry in entries.items()
                if getattr(entry, "last_run_at", None) is not None
            }
    except Exception:  # noqa: BLE001 - missing, locked or unreadable: next runs from now
        return {}


def schedule_entries(*, now: datetime) -> list[dict[str, Any]]:
    beat_schedule = settings.CELERY_BEAT_SCHEDULE
    last_runs = beat_last_runs()
    entries = []
    for job in settings.SCHEDULED_JOBS:
        entry = beat_schedule.get(job.name)
        next_at = None
        if entry is not None:
            cron = entry["schedule"]
            last = last_runs.get(job.name) or now
            if timezone.is_naive(last):
                last = timezone.make_aware(last, timezone.get_default_timezone())
            # crontab.remaining_estimate(last) against this overview's `now`, not the clock.
            start, delta, _ = cron.remaining_delta(last)
            next_at = now + remaining(start, delta, now=cron.maybe_make_aware(now))
        entries.append(
            {
                "job": job.name,
                "task": job.task,
                "cron": job_cron(job, os.environ) if entry is not None else None,
                "enabled": entry is not None,
                "next_run_at": _iso(next_at),
                "seconds_until": (
                    round((next_at - now).total_seconds(), 1) if next_at is not None else None
                ),
            }
        )
    return entries


def jobs_part(*, now: datetime) -> dict[str, Any]:
    return {
        "schedule": schedule_entries(now=now),
        "recent": [
            {
                "id": run.pk,
                "operation": run.operation,
                "trigger": run.trigger,
                "triggered_by": run.triggered_by,
                "outcome": run.outcome,
                "started_at": _iso(run.started_at),
                "duration_seconds": run.duration_seconds,
                "error": run.error,
            }
            for run in run_list().defer("arguments", "summary")[:RECENT_RUNS]
        ],
    }


# --- channels ---------------------------------------------------------------------------------


def channels_part(*, now: datetime) -> dict[str, Any]:
    states = channel_states()
    return {
        "configured": len(states),
        "failing": sum(1 for s in states if s.failing),
        "items": [
            {
                "key": s.key,
                "label": s.label,
                "service": s.service,
                "failing": s.failing,
                "consecutive_failures": s.consecutive_failures,
                "last_success_at": _iso(s.last_success_at),
                "last_failure_at": _iso(s.last_failure_at),
                "last_error": s.last_error,
            }
            for s in states
        ],
        "warning": None if states else NO_CHANNEL_WARNING,
    }


PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "health": health_part,
    "alerts": alerts_part,
    "incidents": incidents_part,
    "events": events_part,
    "backups": backups_part,
    "jobs": jobs_part,
    "workers": lambda *, now: workers_overview(now=now),
    "channels": channels_part,
}


def ops_overview_get(*, now: datetime | None = None) -> dict[str, Any]:
    """The overview (docs/api.md, GET /api/ops/overview/): health, alerts, incidents, events,
    backups, jobs, workers and channels, each {"error": reason} when it cannot be read."""
    at = now or timezone.now()
    overview = {}
    for name, compute in PARTS.items():
        overview[name] = _part(name, functools.partial(compute, now=at))
    return overview
