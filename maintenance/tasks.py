"""Celery entry points for the scheduled maintenance: thin callers of maintenance.services.

Each task runs the same service as its manage.py command, recorded with trigger `schedule`
(or `admin` when started from the admin). A failed run raises an alert through
alerts.services.send_alert: `critical` for a backup, `high` otherwise. Runs are acknowledged
when they start (not late): a maintenance run killed half-way must not be redelivered hours
later by the broker; the next scheduled run (or an operator) takes over, and the dead run's
record is marked interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from celery import shared_task
from django.conf import settings

from maintenance.models import Trigger
from maintenance.services.archive import events_archive
from maintenance.services.audit import audit_purge
from maintenance.services.backup import database_backup
from maintenance.services.reindex import database_reindex
from maintenance.services.run_records import RunContext, describe_error, maintenance_runs_prune
from maintenance.services.vacuum import database_vacuum
from maintenance.services.verify import backup_verify

logger = structlog.get_logger("maintenance")

TASK_OPTIONS: dict[str, Any] = {
    "ignore_result": True,
    "acks_late": False,
    "soft_time_limit": settings.MAINTENANCE_TASK_TIME_LIMIT,
    "time_limit": settings.MAINTENANCE_TASK_TIME_LIMIT + 300,
}


def _context(trigger: str, triggered_by: str) -> RunContext:
    resolved = Trigger(trigger)
    who = triggered_by or ("celery beat" if resolved == Trigger.SCHEDULE else "")
    return RunContext(trigger=resolved, triggered_by=who)


def run_unattended(
    operation: str,
    call: Callable[[RunContext], Any],
    *,
    trigger: str,
    triggered_by: str,
) -> dict[str, Any]:
    """Run a service for a task; alert when it fails (nobody is watching a terminal)."""
    context = _context(trigger, triggered_by)
    try:
        result = call(context)
    except Exception as exc:
        alert_failure(operation=operation, error=describe_error(exc), context=context)
        raise
    summary = result.summary_line() if hasattr(result, "summary_line") else str(result)
    return {"operation": operation, "summary": summary}


def alert_failure(*, operation: str, error: str, context: RunContext) -> None:
    from maintenance.models import MaintenanceRun

    run = MaintenanceRun.objects.filter(operation=operation).order_by("-started_at").first()
    try:
        from alerts.services import send_alert

        send_alert(
            name=f"Maintenance {operation} failed",
            severity="critical" if operation == "backup_db" else "high",
            message=error,
            metadata={
                "operation": operation,
                "run_id": run.pk if run else None,
                "trigger": str(context.trigger),
                "triggered_by": context.triggered_by,
            },
        )
    except Exception:  # the run's own failure is what must propagate
        logger.exception("Could not send the maintenance failure alert", operation=operation)


@shared_task(name="maintenance.backup_db", **TASK_OPTIONS)
def backup_db(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "backup_db",
        lambda context: database_backup(context=context),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.archive_events", **TASK_OPTIONS)
def archive_events(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "archive_events",
        lambda context: events_archive(
            days=settings.ARCHIVE_AFTER_DAYS,
            batch_size=settings.ARCHIVE_BATCH_SIZE,
            context=context,
        ),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.vacuum_db", **TASK_OPTIONS)
def vacuum_db(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "vacuum_db",
        lambda context: database_vacuum(context=context),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.reindex_db", **TASK_OPTIONS)
def reindex_db(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "reindex_db",
        lambda context: database_reindex(context=context),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.verify_backup", **TASK_OPTIONS)
def verify_backup(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "verify_backup",
        lambda context: backup_verify(latest=True, context=context),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.prune_runs", **TASK_OPTIONS)
def prune_runs(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "prune_runs",
        lambda context: maintenance_runs_prune(
            older_than_days=settings.MAINTENANCE_RUN_RETENTION_DAYS, context=context
        ),
        trigger=trigger,
        triggered_by=triggered_by,
    )


@shared_task(name="maintenance.purge_audit", **TASK_OPTIONS)
def purge_audit(trigger: str = Trigger.SCHEDULE, triggered_by: str = "") -> dict[str, Any]:
    return run_unattended(
        "purge_audit",
        lambda context: audit_purge(context=context),
        trigger=trigger,
        triggered_by=triggered_by,
    )


# What the admin's "Run an operation" page offers: label and task.
ADMIN_OPERATIONS: dict[str, tuple[str, Any]] = {
    "backup_db": ("Back up the database now (then retention and upload)", backup_db),
    "verify_backup": ("Verify the latest backup (restore into a scratch database)", verify_backup),
    "archive_events": ("Archive completed events older than ARCHIVE_AFTER_DAYS", archive_events),
    "vacuum_db": ("VACUUM ANALYZE every table", vacuum_db),
    "reindex_db": ("REINDEX CONCURRENTLY the project's tables", reindex_db),
    "prune_runs": ("Prune old maintenance run records", prune_runs),
}
