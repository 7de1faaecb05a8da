"""verify_backup: prove a backup restores, before anyone needs it to.

The backup is restored into a scratch database named after the current one plus a random
suffix (so parallel runs never collide and the real database is never touched), its per-table
row counts are compared with those recorded at backup time (the manifest), and the scratch
database is dropped whatever happens. The outcome is recorded as a maintenance run, which
list_backups shows as the backup's last verification. The scratch database belongs to the
restore role, and psql restores into it exactly as restore_db does (restricted, never as a
superuser): verifying an untrusted file runs none of its code either.
"""

from __future__ import annotations

import dataclasses
import time

from maintenance.errors import MaintenanceError
from maintenance.services import backup_files as files
from maintenance.services.backup_locate import check_kind, locate_backup
from maintenance.services.database import (
    database_create,
    database_drop,
    is_postgres,
    restore_credentials,
    scratch_database_name,
)
from maintenance.services.psql_stream import psql_restore
from maintenance.services.restore import (
    compare_counts,
    postgres_table_counts,
    sqlite_image,
    sqlite_table_counts,
)
from maintenance.services.run_records import RunContext, run_recorded


@dataclasses.dataclass(frozen=True, kw_only=True)
class VerifyResult:
    backup: str
    tables: int
    rows: int
    compared: bool
    checksum_verified: bool
    restore_seconds: float
    seconds: float
    scratch: str

    def summary_line(self) -> str:
        checks = "checksum ok" if self.checksum_verified else "no checksum file"
        counts = (
            "row counts match the manifest"
            if self.compared
            else "no manifest to compare row counts with"
        )
        return (
            f"Verified {self.backup}: restored {self.tables} tables, {self.rows:,} rows in "
            f"{self.restore_seconds:.1f} s ({checks}, {counts}); total {self.seconds:.1f} s."
        )


def backup_verify(
    *, file: str | None = None, latest: bool = False, context: RunContext
) -> VerifyResult:
    """Restore a backup into a scratch database and compare its row counts with the manifest."""
    if bool(file) == bool(latest):
        raise MaintenanceError("Name one backup file, or pass --latest (not both)")
    arguments = {"file": file, "latest": latest}
    with run_recorded(operation="verify_backup", arguments=arguments, context=context) as run:
        started = time.perf_counter()
        with locate_backup(file, latest=latest) as located:
            run.summary = {"backup": located.name}
            check_kind(located.path)
            manifest = files.read_manifest(located.path)
            expected: dict[str, int] = (manifest or {}).get("row_counts", {})
            run.progress(
                f"Verifying {located.name}"
                + (" (checksum ok)" if located.checksum_verified else " (no .sha256 file)")
            )
            restore_started = time.perf_counter()
            if is_postgres():
                scratch = scratch_database_name("verify")
                database_create(scratch, owner=restore_credentials()[0] or None)
                try:
                    run.progress(f"Restoring into scratch database {scratch}")
                    psql_restore(located.path, dbname=scratch, progress=run.progress)
                    actual = postgres_table_counts(scratch)
                finally:
                    database_drop(scratch)
                    run.progress(f"Dropped scratch database {scratch}")
            else:
                scratch = "(temporary SQLite file)"
                with sqlite_image(located.path, directory=files.backup_directory()) as image:
                    actual = sqlite_table_counts(image)
            restore_seconds = time.perf_counter() - restore_started
        problems = compare_counts(expected, actual)
        run.summary = {
            "backup": located.name,
            "tables": len(actual),
            "rows": sum(actual.values()),
            "compared_tables": len(expected),
            "mismatches": problems,
            "checksum_verified": located.checksum_verified,
            "restore_seconds": round(restore_seconds, 3),
            "scratch_database": scratch,
        }
        if problems:
            raise MaintenanceError(
                f"{located.name} restored, but its row counts differ from those recorded at "
                f"backup time: {'; '.join(problems)}. Do not rely on this backup."
            )
        return VerifyResult(
            backup=located.name,
            tables=len(actual),
            rows=sum(actual.values()),
            compared=bool(expected),
            checksum_verified=located.checksum_verified,
            restore_seconds=restore_seconds,
            seconds=time.perf_counter() - started,
            scratch=scratch,
        )
