"""Reads on job run records shared by the admin's run list and the ops overview."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from maintenance.models import MaintenanceRun, Outcome, Trigger

# Beat runs these every minute: a successful run is routine, hidden from run lists by default.
ROUTINE_OPERATIONS = ("evaluate_alerts", "escalate_incidents", "retry_notifications")


def routine_runs_q() -> Q:
    """The successful every-minute job runs beat records (1,440 a day each): hidden from the
    run lists so that backups, archives and failures are what they show."""
    return Q(operation__in=ROUTINE_OPERATIONS, trigger=Trigger.SCHEDULE, outcome=Outcome.SUCCESS)


def run_list(*, routine: bool = False) -> QuerySet[MaintenanceRun]:
    """Job runs newest first; without the routine ones unless `routine`."""
    runs = MaintenanceRun.objects.order_by("-started_at", "-id")
    return runs if routine else runs.exclude(routine_runs_q())
