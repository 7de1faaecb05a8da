"""Every run of an alerts job is recorded: which job, who or what started it, when, how long,
and how it ended (with the error when it failed). Commands and tasks both go through here."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from alerts.models import JobRun

logger = structlog.get_logger("alerts.runs")

T = TypeVar("T")


def job_run(
    *,
    job: str,
    trigger: str,
    triggered_by: str,
    work: Callable[[], T],
    summarize: Callable[[T], Mapping[str, Any]],
    succeeded: Callable[[T], bool] | None = None,
) -> T:
    """Run `work`, record the run (also when it fails, then re-raise) and return its result.

    `succeeded` judges a result that is a failure without an exception (a test alert that
    reached no channel).

    A run the database cannot record (it is down: the evaluation still alerts about that) is
    logged instead.
    """
    started_at = timezone.now()
    started = time.perf_counter()
    try:
        result = work()
    except Exception as exc:
        _record(
            job=job,
            trigger=trigger,
            triggered_by=triggered_by,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            succeeded=False,
            summary={},
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise
    _record(
        job=job,
        trigger=trigger,
        triggered_by=triggered_by,
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        succeeded=succeeded(result) if succeeded is not None else True,
        summary=dict(summarize(result)),
        error="",
    )
    return result


def _record(*, job: str, started_at: Any, duration_ms: float, **fields: Any) -> None:
    try:
        JobRun.objects.create(
            job=job, started_at=started_at, duration_ms=round(duration_ms, 1), **fields
        )
        # A week (ALERT_EVALUATION_RETENTION_DAYS) of minute-by-minute runs is plenty.
        cutoff = started_at - timedelta(days=settings.ALERT_EVALUATION_RETENTION_DAYS)
        JobRun.objects.filter(job=job, started_at__lt=cutoff).delete()
    except DatabaseError as exc:
        logger.warning(
            "Job run not recorded: database unavailable",
            job=job,
            succeeded=fields.get("succeeded"),
            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
