"""The Celery beat schedule, declared as a table and adjustable per entry from the environment.

Each `ScheduledJob` has a default crontab. An operator overrides one entry with
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
        override = environ.get(job.env_var, "").strip()
        if override.lower() == DISABLE:
            continue
        entry: dict[str, Any] = {
            "task": job.task,
            "schedule": crontab_from_string(override or job.cron, source=job.env_var),
            "kwargs": dict(job.kwargs),
            "options": {},
        }
        if job.expires is not None:
            entry["options"]["expires"] = job.expires
        schedule[job.name] = entry
    return schedule
