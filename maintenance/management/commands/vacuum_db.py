"""VACUUM ANALYZE all tables or the named ones; --full after confirmation."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError

from maintenance.management.base import MaintenanceCommand
from maintenance.services.vacuum import database_vacuum


class Command(MaintenanceCommand):
    help = "VACUUM ANALYZE every table, or the named ones (reclaims space, refreshes statistics)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tables", nargs="*", metavar="TABLE", help="Tables (default: all).")
        parser.add_argument(
            "--full",
            action="store_true",
            help="VACUUM FULL: rewrites each table under an exclusive lock (blocks reads and "
            "writes of that table while it runs).",
        )
        parser.add_argument(
            "--no-analyze", action="store_true", help="Skip ANALYZE (statistics refresh)."
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation of --full.",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        if options["full"] and options["interactive"]:
            self._confirm_full(options["tables"])
        result = database_vacuum(
            tables=options["tables"],
            full=options["full"],
            analyze=not options["no_analyze"],
            context=self.run_context(options),
        )
        return result.summary_line()

    def _confirm_full(self, tables: list[str]) -> None:
        what = ", ".join(tables) if tables else "EVERY table"
        self.stderr.write(
            self.style.WARNING(
                f"VACUUM FULL takes an ACCESS EXCLUSIVE lock on {what} while it rewrites it: "
                "the API cannot read or write that table until it finishes."
            )
        )
        if not sys.stdin or not sys.stdin.isatty():
            raise CommandError(
                "VACUUM FULL needs confirmation and stdin is not a terminal: pass --no-input "
                "to run it non-interactively."
            )
        answer = input("Type 'yes' to continue: ")
        if answer.strip().lower() != "yes":
            raise CommandError("VACUUM FULL cancelled: nothing was done.")
