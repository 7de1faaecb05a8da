"""Re-send lost notification deliveries: the same service beat runs every minute."""

from __future__ import annotations

import dataclasses
import getpass
from typing import Any

from django.core.management.base import CommandParser

from beo_automation.command_arguments import bounded_seconds, checked
from beo_automation.operator_commands import OperatorCommand

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
        from alerts.notifications import notifications_sweep
        from alerts.runs import job_run

        outcome = job_run(
            job="retry_notifications",
            trigger="command",
            triggered_by=f"manage.py retry_notifications ({getpass.getuser()})",
            work=lambda: notifications_sweep(
                grace_seconds=checked(GRACE, options["grace"], option="--grace")
            ),
            summarize=dataclasses.asdict,
        )
        return f"Re-queued {outcome.requeued} notifications, reclaimed {outcome.reclaimed}"
