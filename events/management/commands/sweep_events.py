"""manage.py sweep_events: the beat's every-minute sweep, run by hand."""

from __future__ import annotations

import getpass
from typing import Any

import structlog

from beo_automation.operator_commands import OperatorCommand
from events.pipeline import events_sweep

logger = structlog.get_logger("events.commands")


class Command(OperatorCommand):
    help = (
        "Recover events whose doorbell or worker was lost: ring again for pending events "
        "untouched for EVENT_REQUEUE_AFTER seconds, and return processing events without "
        "progress for EVENT_PROCESSING_TIMEOUT seconds to pending (failed on their last "
        "attempt). The same sweep beat runs every minute (events.sweep_events)."
    )

    def handle(self, *args: Any, **options: Any) -> str:
        outcome = events_sweep()
        logger.info(
            "Operator command finished",
            command="sweep_events",
            user=getpass.getuser(),
            outcome="success",
            requeued=outcome.requeued,
            reclaimed=outcome.reclaimed,
            failed=outcome.failed,
            duration_ms=outcome.duration_ms,
        )
        return (
            f"Swept events in {outcome.duration_ms:,.0f} ms: {outcome.requeued} pending "
            f"re-enqueued, {outcome.reclaimed} stuck returned to pending, {outcome.failed} "
            "stuck on their last attempt failed"
        )
