"""Restore the database from a backup, in one transaction (all or nothing)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError

from maintenance.management.base import MaintenanceCommand
from maintenance.services.database import database_name, is_postgres
from maintenance.services.restore import database_restore, restore_arguments_check


class Command(MaintenanceCommand):
    help = (
        "Replace the database's contents with a backup (.sql.gz or .sql; .sqlite3.gz on "
        "SQLite). Runs in one transaction with ON_ERROR_STOP: a corrupt or truncated file "
        "leaves the database exactly as it was. Checks the .sha256 file when present. Asks "
        "you to type the database name unless --no-input. Stop web, worker and beat first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "file", metavar="FILE", help="A path, a name in BACKUP_DIR, or an off-site name."
        )
        parser.add_argument(
            "--database",
            dest="target_database",
            help="Restore into this database on the same server instead (PostgreSQL).",
        )
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the --database first when it does not exist.",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (scripts, CI).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        restore_arguments_check(file=options["file"], target_database=options["target_database"])
        target = options["target_database"] or (
            database_name() if is_postgres() else "the SQLite database"
        )
        if options["interactive"]:
            self._confirm(
                options["file"], target, typed=options["target_database"] or database_name()
            )
        result = database_restore(
            file=options["file"],
            target_database=options["target_database"],
            create=options["create"],
            context=self.run_context(options),
        )
        return result.summary_line()

    def _confirm(self, file: str, target: str, *, typed: str) -> None:
        self.stderr.write(
            self.style.WARNING(
                f"This replaces every table of {target} with the contents of {file}. "
                "Stop the web, worker and beat processes first."
            )
        )
        self.stderr.write(f"Type the database name ({typed}) to continue: ", ending="")
        self.stderr.flush()
        answer = sys.stdin.readline() if sys.stdin else ""
        if not answer:
            raise CommandError(
                "No confirmation was given (stdin is closed): type the database name when "
                "asked, or pass --no-input. Nothing was restored."
            )
        if answer.strip() != typed:
            raise CommandError(
                f"You typed {answer.strip()!r}, not {typed!r}: restore cancelled. Nothing was "
                "restored."
            )
