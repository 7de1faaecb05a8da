"""Local and off-site backups with size, age, checksum status and last verification."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from maintenance.management.base import MaintenanceCommand
from maintenance.services.backup_files import is_database_backup
from maintenance.services.listing import ListedBackup, backups_list
from maintenance.services.sizes import human_bytes


def age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


class Command(MaintenanceCommand):
    help = "List backups (local and off-site): size, age, checksum status, last verification."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-checksums",
            action="store_true",
            help="Do not re-hash local files (faster for very large backups).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> str | None:
        listing = backups_list(
            verify_checksums=not options["no_checksums"], context=self.run_context(options)
        )
        if options["json"]:
            self.print_json(
                {
                    "directory": str(listing.directory),
                    "offsite_configured": listing.offsite_configured,
                    "backups": [self._as_dict(b) for b in [*listing.local, *listing.offsite]],
                }
            )
            return None
        self.stdout.write(f"Local ({listing.directory}):")
        self._table(listing.local)
        if listing.offsite_configured:
            self.stdout.write("Off-site:")
            self._table(listing.offsite)
        else:
            self.stdout.write(
                "Off-site: not configured (set BACKUP_S3_BUCKET or BACKUP_STORAGE_DIR)."
            )
        return listing.summary_line()

    def _table(self, backups: list[ListedBackup]) -> None:
        if not backups:
            self.stdout.write("  (none)")
            return
        width = max(len(b.name) for b in backups)
        now = timezone.now()
        for b in backups:
            verified = "never verified" if is_database_backup(b.name) else ""
            if b.last_verification is not None:
                v = b.last_verification
                verified = f"verify {v.outcome} {age(now - v.at)} ago (run #{v.run_id})"
            line = (
                f"  {b.name:<{width}}  {human_bytes(b.size):>10}  {age(now - b.stamp):>7} old  "
                f"checksum {b.checksum:<18}  {verified}"
            )
            style = (
                self.style.ERROR
                if b.checksum in {"mismatch", "unreadable", "differs from local"}
                else str
            )
            self.stdout.write(style(line.rstrip()))

    def _as_dict(self, b: ListedBackup) -> dict[str, Any]:
        return {
            "name": b.name,
            "location": b.location,
            "created_at": b.stamp.isoformat(),
            "bytes": b.size,
            "checksum": b.checksum,
            "last_verification": None
            if b.last_verification is None
            else {
                "outcome": b.last_verification.outcome,
                "at": b.last_verification.at.isoformat(),
                "run_id": b.last_verification.run_id,
            },
        }
