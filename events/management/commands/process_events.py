"""manage.py process_events: drain claimable events in this process, with progress."""

from __future__ import annotations

import getpass
from typing import Any

import structlog
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from beo_automation.command_arguments import bounded_seconds, checked
from beo_automation.operator_commands import OperatorCommand, database_failure_message
from events.pipeline import BatchOutcome, events_process_available

logger = structlog.get_logger("events.commands")

TIME_BUDGET = bounded_seconds(0, 7 * 86400, low_inclusive=False)


class Command(OperatorCommand):
    help = (
        "Process claimable pending events now, in this process, the way a worker does (priority "
        "order, race-safe claims: safe while workers run). Stops when none are left or after "
        "--time-budget seconds. Useful without a worker, or to check a handler by hand."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--time-budget",
            type=TIME_BUDGET,
            default=300.0,
            help="Stop claiming new batches after this many seconds (default 300).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        budget = checked(TIME_BUDGET, options["time_budget"], option="--time-budget")
        seen = 0

        def progress(batch: BatchOutcome) -> None:
            nonlocal seen
            seen += batch.claimed
            self.stderr.write(
                f"  {seen:,} events processed (batch of {batch.claimed}: {batch.completed} "
                f"completed, {batch.retried} to retry, {batch.failed} failed) "
                f"in {batch.duration_ms:,.0f} ms"
            )

        user = getpass.getuser()
        try:
            total = events_process_available(time_budget=budget, on_batch=progress)
        except DatabaseError as exc:
            # An operator error (no database, no tables), not a bug: one line, no traceback.
            message = database_failure_message(exc)
            logger.error(
                "Operator command finished",
                command="process_events",
                user=user,
                outcome="failed",
                error=message,
            )
            raise CommandError(f"Processing stopped: {message}") from exc
        except Exception as exc:
            logger.exception(
                "Operator command finished", command="process_events", user=user, outcome="failed"
            )
            raise CommandError(f"Processing stopped: {type(exc).__name__}: {exc}") from exc
        logger.info(
            "Operator command finished",
            command="process_events",
            user=user,
            outcome="success",
            claimed=total.claimed,
            completed=total.completed,
            retried=total.retried,
            failed=total.failed,
            duration_ms=total.duration_ms,
        )
        rate = total.claimed / (total.duration_ms / 1000) if total.duration_ms else 0.0
        return (
            f"Processed {total.claimed:,} events in {total.duration_ms / 1000:,.1f} s "
            f"({rate:,.0f}/s): {total.completed:,} completed, {total.retried:,} to retry, "
            f"{total.failed:,} failed, {total.skipped:,} skipped (reclaimed)"
        )
