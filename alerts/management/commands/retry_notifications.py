"""Re-send lost notification deliveries: the same service beat runs every minute."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from beo_automation.command_arguments import bounded_seconds, checked
from beo_automation.operator_commands import OperatorCommand
from maintenance.services.run_records import command_context

GRACE = bounded_seconds(0, 7 * 86400)


class Command(OperatorCommand):
    help = (
        "Queue again every notification whose next attempt is overdue (its Celery message was "
        "lost) and return deliveries whose worker died mid-attempt to pending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=GRACE,
            default=60.0,
            metavar="SECONDS",
            help="Only notifications overdue by at least this long (default 60).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        from alerts import jobs

        outcome = jobs.retry_notifications(
            context=command_context(command="retry_notifications"),
            grace_seconds=checked(GRACE, options["grace"], option="--grace"),
        )
        return f"Re-queued {outcome.requeued} notifications, reclaimed {outcome.reclaimed}"
