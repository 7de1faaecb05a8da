"""Delete maintenance run records older than --days (the scheduled pruning, by hand)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from maintenance.management.base import MaintenanceCommand
from maintenance.services.run_records import maintenance_runs_prune


class Command(MaintenanceCommand):
    help = "Delete finished maintenance run records older than --days."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.MAINTENANCE_RUN_RETENTION_DAYS,
            help="Keep this many days (default: MAINTENANCE_RUN_RETENTION_DAYS, %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        deleted = maintenance_runs_prune(
            older_than_days=options["days"], context=self.run_context(options)
        )
        return f"Pruned {deleted:,} maintenance run records older than {options['days']} days."
