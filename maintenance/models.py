"""The record of every job run (maintenance operations and the alerts jobs): who ran what,
when, and how it ended."""

from __future__ import annotations

from typing import ClassVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Trigger(models.TextChoices):
    COMMAND = "command", "command"
    SCHEDULE = "schedule", "schedule"
    ADMIN = "admin", "admin"


class Outcome(models.TextChoices):
    RUNNING = "running", "running"
    SUCCESS = "success", "success"
    FAILED = "failed", "failed"
    # Another run of the same operation held the lock: nothing was done.
    REFUSED = "refused", "refused"


class MaintenanceRun(models.Model):
    """One run of one operation (backup, archive, vacuum, …, evaluate_alerts, …).

    An exclusive operation's run is written when it starts and ends: one still `running` when
    the next run of its operation gets the lock was left by a process that died, and the next
    run marks it failed. An alerts job's run is written once, when it ends
    (maintenance.services.run_records).
    """

    operation = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # Who asked: the OS user for a command, the staff user for the admin, the beat entry for
    # a schedule.
    triggered_by = models.CharField(max_length=150, blank=True, default="")
    # Where it ran: "host:pid", to find the process of a run that looks stuck.
    host = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    # Counts, sizes, file names: what an operator needs to judge the run at a glance.
    summary = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-started_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            # The admin changelist and "latest run of X" (list_backups' last verification).
            models.Index(fields=["operation", "-started_at"], name="mrun_operation_newest_idx"),
            models.Index(fields=["-started_at"], name="mrun_newest_idx"),
        ]
        permissions = [
            ("run_maintenance", "Can start maintenance operations from the admin"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} #{self.pk} ({self.outcome})"


class Heartbeat(models.Model):
    """The last sign of life of a process that leaves no run record of its own: Celery beat
    (beo_automation.liveness.HeartbeatScheduler writes it from its tick).

    A database row rather than a Redis key: it must stay readable when Redis is down (the
    very time an operator asks "is beat alive?"), and it works on the embedded SQLite
    default, where beat runs the schedule in-process without any Redis.
    """

    name = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField()
    # Which process: "host:pid", to tell two beats apart (there should be one).
    host = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
