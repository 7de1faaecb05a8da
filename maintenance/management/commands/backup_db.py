"""Back up the database (and media), apply retention, upload off-site."""

from __future__ import annotations

from typing import Any

from maintenance.management.base import MaintenanceCommand
from maintenance.services.backup import database_backup


class Command(MaintenanceCommand):
    help = (
        "pg_dump (or SQLite's online backup) gzip-compressed to "
        "BACKUP_DIR/beo_automation_YYYYmmdd_HHMMSS.sql.gz with a .sha256 and a manifest of row "
        "counts; media files when present; deletes backups older than BACKUP_RETENTION_DAYS; "
        'uploads to STORAGES["backups"] when configured and applies the same retention there.'
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--output-dir", help="Write here instead of BACKUP_DIR (created if missing)."
        )
        parser.add_argument(
            "--no-upload", action="store_true", help="Do not copy the backup off-site."
        )

    def handle(self, *args: Any, **options: Any) -> str:
        result = database_backup(
            output_dir=options["output_dir"],
            upload=not options["no_upload"],
            context=self.run_context(options),
        )
        return result.summary_line()
