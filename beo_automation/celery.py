"""The Celery application: JSON only, late acks, one prefetched message per worker process.

Configuration lives in settings (CELERY_*); the beat schedule comes from the table in
settings.SCHEDULED_JOBS. Without REDIS_URL tasks run eagerly in-process.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    celeryd_init,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_success,
    worker_process_shutdown,
    worker_shutdown,
)
from django_structlog.celery.steps import DjangoStructLogInitStep

from beo_automation.logs import logging_queue_drain, logging_queue_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")

app = Celery("beo_automation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Binds the request_id carried in task headers to the task's log lines.
app.steps["worker"].add(DjangoStructLogInitStep)


# Set by `celery worker` (celeryd_init), not by a worker started inside another program.
_worker_program: list[bool] = []


@celeryd_init.connect
def mark_worker_program(**kwargs: Any) -> None:
    _worker_program.append(True)


@setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Keep Django's LOGGING (structlog JSON, log files) instead of Celery's own setup; in
    `celery worker`, with its handlers behind a queue: a task's log call does not wait for
    the file lock."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if _worker_program:
        logging_queue_start()


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_database_connections(**kwargs: Any) -> None:
    from beo_automation.lifecycle import close_database_connections as close

    close(reason="celery worker shutdown")
    # Last: a pool process leaves through os._exit (no atexit), so write the queued lines now.
    logging_queue_drain()


@task_prerun.connect
@task_postrun.connect
def return_database_connections(sender: Any = None, **kwargs: Any) -> None:
    """Between tasks, what Django does between requests: give the connection back to the pool
    (or close it when it broke or outlived CONN_MAX_AGE), but keep the pool.

    Celery's own fix-up would close the pool after every task (settings.CELERY_DB_REUSE_MAX);
    eager tasks run inside the caller's request or transaction and are left alone.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@task_success.connect
def ping_outside_monitor(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
    """A scheduled job's run, reported to the outside monitor (beo_automation.liveness)."""
    from beo_automation.liveness import job_run_ping

    job_run_ping(task_name=getattr(sender, "name", ""), ok=True, detail=result)


@task_failure.connect
def ping_outside_monitor_failure(
    sender: Any = None, exception: BaseException | None = None, **kwargs: Any
) -> None:
    from beo_automation.liveness import job_run_ping

    job_run_ping(
        task_name=getattr(sender, "name", ""),
        ok=False,
        detail=f"{type(exception).__name__}: {exception}",
    )
