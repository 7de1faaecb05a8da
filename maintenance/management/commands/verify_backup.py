"""Restore a backup into a scratch database and compare row counts with the manifest."""

from __future__ import annotations

from typing import Any

from maintenance.management.base import MaintenanceCommand
from maintenance.services.verify import backup_verify


class Command(MaintenanceCommand):
    help = (
        "Prove a backup restores: restore FILE (or the latest backup) into a scratch database "
        "named after this one, compare per-table row counts with those recorded at backup "
        "time, drop the scratch database, record the outcome."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "file",
            nargs="?",
            metavar="FILE",
            help="A path, a file name in BACKUP_DIR, or an off-site file name.",
        )
        parser.add_argument("--latest", action="store_true", help="Verify the newest backup.")

    def handle(self, *args: Any, **options: Any) -> str:
        result = backup_verify(
            file=options["file"], latest=options["latest"], context=self.run_context(options)
        )
        return result.summary_line()
