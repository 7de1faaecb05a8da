"""The record of every run of a job, maintenance or alerts: who ran what, when, how it ended.

Every job runs inside `run_recorded()`, in its service: the command, the Celery task and the
admin call that one service and differ only in the `RunContext` they pass. A maintenance
operation (`exclusive=True`) takes its lock (or records a `refused` run and raises), writes a
`running` record, and on the way out stores the outcome, duration, summary and error. An alerts
job (`exclusive=False`) runs every minute and must run while the database is down (the
evaluation alerts about that), so it takes no lock and writes one record when it ends; a record
the database cannot take is logged instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import structlog
from django.db import DatabaseError
from django.utils import timezone

from maintenance.errors import MaintenanceError, OperationInProgressError
from maintenance.models import MaintenanceRun, Outcome, Trigger
from maintenance.services.database import ensure_reachable
from maintenance.services.locks import operation_lock

# Longest look-back an operator can ask for (a century): older cutoffs overflow dates.
MAX_DAYS = 36_500

logger = structlog.get_logger("maintenance")

INTERRUPTED = (
    "Interrupted: the process running it ended without recording an outcome "
    "(killed, crashed, or the machine restarted)."
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunContext:
    """Who started a run and how, and where its progress lines go."""

    trigger: Trigger = Trigger.COMMAND
    triggered_by: str = ""
    progress: Callable[[str], None] | None = None


def current_os_user() -> str:
    """The operator behind a command: the login name (and who sudo'd, when they did)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    sudo_user = os.environ.get("SUDO_USER")
    return f"{sudo_user} (sudo {user})" if sudo_user and sudo_user != user else user


def command_context(
    progress: Callable[[str], None] | None = None, *, command: str = ""
) -> RunContext:
    """A run started by an operator; `command` names it in `triggered_by` ("manage.py
    evaluate_alerts (alice)") where one record lists runs of several commands' jobs."""
    who = current_os_user()
    return RunContext(
        trigger=Trigger.COMMAND,
        triggered_by=f"manage.py {command} ({who})" if command else who,
        progress=progress,
    )


def this_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunRecorder:
    """Handed to the job: report progress, fill in the summary, mark a failure that is not an
    exception (a checklist item failed, a channel was not reached)."""

    def __init__(self, run: MaintenanceRun, context: RunContext) -> None:
        self.run = run
        self.context = context
        self.summary: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.failure = ""

    def fail(self, error: str) -> None:
        """Record the run as failed with `error` when it ends without an exception."""
        self.failure = error

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def progress(self, message: str, **fields: Any) -> None:
        """A progress line: to the operator's terminal and, for every trigger, to the log."""
        logger.info(message, operation=self.run.operation, run_id=self.run.pk, **fields)
        if self.context.progress is not None:
            self.context.progress(message)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, MaintenanceError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted by the operator (Ctrl-C)."
    name = type(exc).__name__
    if name == "SoftTimeLimitExceeded":
        return "Stopped: the task's time limit (MAINTENANCE_TASK_TIME_LIMIT) was reached."
    text = str(exc).strip()
    return f"{name}: {text}" if text else name


@contextlib.contextmanager
def run_recorded(
    *,
    operation: str,
    context: RunContext,
    arguments: Mapping[str, Any] | None = None,
    exclusive: bool = True,
    keep_days: int | None = None,
) -> Iterator[RunRecorder]:
    """Run one job and record it (see the module docstring). `keep_days` deletes this
    operation's records older than that after each run (for jobs beat runs every minute)."""
    arguments = dict(arguments or {})
    arguments_check(arguments)
    if not exclusive:
        run = _new_run(operation=operation, arguments=arguments, context=context)
        yield from _recorded(RunRecorder(run, context), keep_days=keep_days, exclusive=False)
        return
    ensure_reachable()
    with operation_lock(operation) as held:
        if not held:
            _refuse(operation=operation, arguments=arguments, context=context)
        # We hold the lock, so a `running` record of this operation is a dead process's.
        MaintenanceRun.objects.filter(operation=operation, outcome=Outcome.RUNNING).update(
            outcome=Outcome.FAILED, finished_at=timezone.now(), error=INTERRUPTED
        )
        run = _new_run(operation=operation, arguments=arguments, context=context)
        run.save(force_insert=True)
        logger.info(
            "Maintenance run started",
            operation=operation,
            run_id=run.pk,
            trigger=context.trigger,
            triggered_by=context.triggered_by,
            arguments=arguments,
        )
        yield from _recorded(RunRecorder(run, context), keep_days=keep_days, exclusive=True)


def _new_run(*, operation: str, arguments: dict[str, Any], context: RunContext) -> MaintenanceRun:
    return MaintenanceRun(
        operation=operation,
        arguments=arguments,
        trigger=context.trigger,
        triggered_by=context.triggered_by[:150],
        host=this_host()[:200],
        started_at=timezone.now(),
    )


def _recorded(
    recorder: RunRecorder, *, keep_days: int | None, exclusive: bool
) -> Iterator[RunRecorder]:
    try:
        yield recorder
    except BaseException as exc:
        # A job that is not exclusive fails loudly through its caller (the command's one
        # line, Celery's task failure); its record's log line is a warning.
        _finish(recorder, outcome=Outcome.FAILED, error=describe_error(exc), loud=exclusive)
        raise
    if recorder.failure:
        _finish(recorder, outcome=Outcome.FAILED, error=recorder.failure, loud=exclusive)
    else:
        _finish(recorder, outcome=Outcome.SUCCESS, error="")
    if keep_days is not None:
        cutoff = recorder.run.started_at - timedelta(days=keep_days)
        with contextlib.suppress(DatabaseError):  # the next run prunes them
            MaintenanceRun.objects.filter(
                operation=recorder.run.operation, started_at__lt=cutoff
            ).exclude(outcome=Outcome.RUNNING).delete()


def _refuse(*, operation: str, arguments: Mapping[str, Any], context: RunContext) -> None:
    holder = (
        MaintenanceRun.objects.filter(operation=operation, outcome=Outcome.RUNNING)
        .order_by("-started_at")
        .first()
    )
    if holder is not None:
        since = holder.started_at.isoformat(timespec="seconds")
        who = f" by {holder.triggered_by}" if holder.triggered_by else ""
        detail = f"run #{holder.pk}, started {since}{who} on {holder.host}"
    else:
        detail = "another process holds its lock"
    message = (
        f"{operation} is already running ({detail}). This run did nothing: wait for that "
        "one to finish (see Maintenance runs in the admin) and run it again if needed."
    )
    now = timezone.now()
    MaintenanceRun.objects.create(
        operation=operation,
        arguments=dict(arguments),
        trigger=context.trigger,
        triggered_by=context.triggered_by[:150],
        host=this_host()[:200],
        started_at=now,
        finished_at=now,
        duration_seconds=0.0,
        outcome=Outcome.REFUSED,
        error=message,
    )
    logger.warning("Maintenance run refused", operation=operation, reason=message)
    raise OperationInProgressError(message)


def _finish(recorder: RunRecorder, *, outcome: Outcome, error: str, loud: bool = True) -> None:
    run = recorder.run
    run.outcome = outcome
    run.finished_at = timezone.now()
    run.duration_seconds = round(recorder.elapsed, 3)
    run.summary = recorder.summary
    run.error = error
    fields = ["outcome", "finished_at", "duration_seconds", "summary", "error"]
    try:
        updated = (
            0
            if run.pk is None
            else MaintenanceRun.objects.filter(pk=run.pk).update(
                **{name: getattr(run, name) for name in fields}
            )
        )
        if updated == 0:
            # Not written yet (a job that is not exclusive), or the record vanished with the
            # table it was in: a restore replaced maintenance_maintenancerun with the backup's.
            # Write it again, in the restored table, so the restore itself stays on record.
            run.pk = None
            run.save(force_insert=True)
        if run.trigger != Trigger.SCHEDULE:
            _audit(run)
    except DatabaseError as exc:
        # The failure may be the database itself; the log line below still records the run.
        logger.warning(
            "Run not recorded: database unavailable",
            operation=run.operation,
            run_id=run.pk,
            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
    failed = logger.error if loud else logger.warning
    log = logger.info if outcome == Outcome.SUCCESS else failed
    log(
        "Run finished",
        operation=run.operation,
        run_id=run.pk,
        outcome=outcome,
        duration_seconds=run.duration_seconds,
        summary=recorder.summary,
        error=error or None,
    )


def _audit(run: MaintenanceRun) -> None:
    """An operator's or staff member's run (not beat's) on the audit trail too, beside its run
    record: who, outcome and parameters, searchable with the API's and the admin's changes."""
    from maintenance.services.audit import audit_record

    audit_record(
        model=MaintenanceRun,
        object_id=run.pk,
        object_repr=f"{run.operation} run #{run.pk}",
        action="create",
        additional_data={
            "operation": run.operation,
            "trigger": run.trigger,
            "triggered_by": run.triggered_by,
            "outcome": run.outcome,
            "arguments": run.arguments,
            "summary": run.summary,
            "error": run.error or None,
        },
    )


def arguments_check(arguments: Mapping[str, Any]) -> None:
    """Refuse operator input that no record can hold: text with a NUL character (PostgreSQL's
    text and JSON cannot store one; the OS refuses it in paths)."""
    for name, value in arguments.items():
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise MaintenanceError(
                f"The {name} argument contains a NUL character (\\x00): nothing was done."
            )


def maintenance_runs_prune(*, older_than_days: int, context: RunContext) -> int:
    """Delete finished run records older than `older_than_days`; returns how many."""
    if not 1 <= older_than_days <= MAX_DAYS:
        raise MaintenanceError(
            f"--days must be between 1 and {MAX_DAYS:,} (got {older_than_days}): run records are "
            "the audit trail"
        )
    with run_recorded(
        operation="prune_runs", arguments={"days": older_than_days}, context=context
    ) as run:
        cutoff = timezone.now() - timedelta(days=older_than_days)
        deleted, _ = (
            MaintenanceRun.objects.filter(started_at__lt=cutoff)
            .exclude(outcome=Outcome.RUNNING)
            .delete()
        )
        run.summary = {"deleted": deleted, "cutoff": cutoff.isoformat(timespec="seconds")}
        run.progress(f"Deleted {deleted:,} run records started before {cutoff:%Y-%m-%d %H:%M}")
        return deleted
