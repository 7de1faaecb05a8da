"""The Celery beat schedule, declared as a table and adjustable per entry from the environment.

The table (`JOBS`) is here; settings.py builds `CELERY_BEAT_SCHEDULE` from it and the
environment. Each `ScheduledJob` has a default crontab. An operator overrides one entry with
`SCHEDULE_<NAME>="0 3 * * *"` or turns it off with `SCHEDULE_<NAME>=disable`, without a
code change. `expires` keeps missed runs from piling up while workers are down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

DISABLE = "disable"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduledJob:
    name: str
    task: str
    cron: str
    expires: int | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""

    @property
    def env_var(self) -> str:
        return f"SCHEDULE_{self.name.upper()}"


def crontab_from_string(expression: str, *, source: str = "schedule") -> crontab:
    """Parse a five-field cron expression ("minute hour day-of-month month day-of-week")."""
    fields = expression.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(
            f"{source}: {expression!r} is not a cron expression; expected five fields "
            f'"minute hour day-of-month month day-of-week" (e.g. "0 3 * * *") or "{DISABLE}"'
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"{source}: invalid cron expression {expression!r}: {exc}"
        ) from exc


def job_cron(job: ScheduledJob, environ: Mapping[str, str]) -> str | None:
    """The cron expression `job` runs on with this environment; None when it is disabled."""
    override = environ.get(job.env_var, "").strip()
    if override.lower() == DISABLE:
        return None
    return override or job.cron


def build_beat_schedule(
    jobs: Iterable[ScheduledJob], environ: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Turn the job table into Celery's `beat_schedule`, applying environment overrides."""
    schedule: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ImproperlyConfigured(f"Duplicate scheduled job name {job.name!r}")
        seen.add(job.name)
        expression = job_cron(job, environ)
        if expression is None:
            continue
        entry: dict[str, Any] = {
            "task": job.task,
            "schedule": crontab_from_string(expression, source=job.env_var),
            "kwargs": dict(job.kwargs),
            "options": {},
        }
        if job.expires is not None:
            entry["options"]["expires"] = job.expires
        schedule[job.name] = entry
    return schedule


# The beat table (settings.SCHEDULED_JOBS).
JOBS: list[ScheduledJob] = [
    ScheduledJob(
        name="events_sweep",
        task="events.sweep_events",
        cron="* * * * *",
        expires=55,
        description="Re-enqueue pending events whose message was lost; reclaim stuck ones.",
    ),
    # Alerts (alerts/tasks.py): each runs the same service as its manage.py command.
    ScheduledJob(
        name="evaluate_alerts",
        task="alerts.evaluate_alerts",
        cron="* * * * *",
        expires=55,
        description="Measure the key metrics; raise alerts over thresholds, resolve the rest.",
    ),
    ScheduledJob(
        name="escalate_incidents",
        task="alerts.escalate_incidents",
        cron="* * * * *",
        expires=55,
        description="Escalate incidents not acknowledged within their response time.",
    ),
    ScheduledJob(
        name="retry_notifications",
        task="alerts.retry_notifications",
        cron="* * * * *",
        expires=55,
        description="Re-send notification deliveries whose message was lost.",
    ),
    # Maintenance (maintenance/tasks.py): each runs the same service as its manage.py command.
    ScheduledJob(
        name="backup_db",
        task="maintenance.backup_db",
        cron="0 2 * * *",
        expires=4 * 3600,
        description="Back up the database (and media), apply retention, upload off-site.",
    ),
    ScheduledJob(
        name="archive_events",
        task="maintenance.archive_events",
        cron="0 3 * * *",
        expires=4 * 3600,
        description="Move completed events older than ARCHIVE_AFTER_DAYS to the archive.",
    ),
    ScheduledJob(
        name="vacuum_db",
        task="maintenance.vacuum_db",
        cron="0 4 * * 0",
        expires=12 * 3600,
        description="VACUUM ANALYZE every table (weekly, Sunday).",
    ),
    ScheduledJob(
        name="reindex_db",
        task="maintenance.reindex_db",
        cron="0 5 1 * *",
        expires=12 * 3600,
        description="REINDEX … CONCURRENTLY the project's tables (monthly, on the 1st).",
    ),
    ScheduledJob(
        name="verify_backup",
        task="maintenance.verify_backup",
        cron="0 6 * * 0",
        expires=12 * 3600,
        description="Restore the latest backup into a scratch database and compare row counts.",
    ),
    ScheduledJob(
        name="prune_maintenance_runs",
        task="maintenance.prune_runs",
        cron="30 4 * * *",
        expires=12 * 3600,
        description="Delete maintenance run records older than MAINTENANCE_RUN_RETENTION_DAYS.",
    ),
    ScheduledJob(
        name="purge_audit",
        task="maintenance.purge_audit",
        cron="45 4 * * *",
        expires=12 * 3600,
        description="Delete audit records older than AUDIT_RETENTION_DAYS.",
    ),
]


# The minutely beat jobs (the sweep that recovers events of dead workers and lost doorbells,
# alert evaluation and escalation, notification retries) have their own queue
# (settings.HOUSEKEEPING_QUEUE), consumed by the Procfile's `housekeeping` worker, which never
# drains events: a doorbell's drain (up to EVENT_WORKER_TIME_BUDGET seconds in each event worker
# process) cannot delay a sweep. A worker started without -Q (`make worker`) consumes both.
HOUSEKEEPING_TASKS = (
    "events.sweep_events",
    "alerts.evaluate_alerts",
    "alerts.escalate_incidents",
    "alerts.retry_notifications",
)


def _ping_url_check(url: str, *, source: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"{source}: {url!r} is not an http(s) URL (e.g. https://hc-ping.com/<ping-key>/{{job}})"
        )
    return url


def job_ping_urls(
    jobs: Iterable[ScheduledJob], environ: Mapping[str, str], *, template: str
) -> dict[str, str]:
    """The outside monitor's URL of each scheduled job: `JOB_PING_URL_<NAME>` when set
    (`disable`: none for that job), else `template` with `{job}` replaced by the job's name."""
    template = template.strip()
    if template:
        if "{job}" not in template:
            raise ImproperlyConfigured(
                f"JOB_PING_URL: {template!r} has no {{job}} placeholder; every job needs its "
                "own check (e.g. https://hc-ping.com/<ping-key>/{job}), or set JOB_PING_URL_<NAME>"
            )
        _ping_url_check(template, source="JOB_PING_URL")
    urls: dict[str, str] = {}
    for job in jobs:
        variable = f"JOB_PING_URL_{job.name.upper()}"
        own = environ.get(variable, "").strip()
        if own.lower() == DISABLE:
            continue
        if own:
            urls[job.name] = _ping_url_check(own, source=variable).rstrip("/")
        elif template:
            urls[job.name] = template.replace("{job}", job.name).rstrip("/")
    return urls
