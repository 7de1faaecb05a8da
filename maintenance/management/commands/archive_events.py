"""Move completed events older than --days into the archive table, in batches."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from maintenance.management.base import MaintenanceCommand
from maintenance.services.archive import events_archive


class Command(MaintenanceCommand):
    help = (
        "Move completed events created more than --days days ago from events_event to "
        "events_eventarchive, one batch per statement and transaction (crash-safe, resumable)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.ARCHIVE_AFTER_DAYS,
            help="Archive events created more than this many days ago (default: "
            "ARCHIVE_AFTER_DAYS, %(default)s).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.ARCHIVE_BATCH_SIZE,
            help="Events moved per statement (default: ARCHIVE_BATCH_SIZE, %(default)s).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would move; move nothing."
        )

    def handle(self, *args: Any, **options: Any) -> str:
        result = events_archive(
            days=options["days"],
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
            context=self.run_context(options),
        )
        return result.summary_line()
