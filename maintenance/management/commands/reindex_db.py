"""REINDEX … CONCURRENTLY the project's tables, the named ones, or the whole database."""

from __future__ import annotations

from typing import Any

from maintenance.management.base import MaintenanceCommand
from maintenance.services.reindex import database_reindex


class Command(MaintenanceCommand):
    help = (
        "Rebuild indexes with REINDEX TABLE … CONCURRENTLY (reads and writes go on): the "
        "project's tables by default, the named ones, or --database for every index."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "tables", nargs="*", metavar="TABLE", help="Tables (default: the project's)."
        )
        parser.add_argument(
            "--database",
            action="store_true",
            dest="whole_database",
            help="REINDEX DATABASE … CONCURRENTLY: every index of the database.",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        result = database_reindex(
            tables=options["tables"],
            whole_database=options["whole_database"],
            context=self.run_context(options),
        )
        return result.summary_line()
