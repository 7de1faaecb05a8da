"""restore_db: replace a database's contents with a backup, all or nothing.

PostgreSQL: the dump is streamed into psql in one transaction that commits only when the
stream was complete (maintenance.services.psql_stream; verify_backup restores into its scratch
database the same way). The backup is found and checked by maintenance.services.backup_locate;
docs/operations.md says what role to provision.

SQLite: the image is decompressed beside the database, checked with `PRAGMA integrity_check`,
and copied over the live database with the online backup API in one step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import shutil
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from maintenance.errors import MaintenanceError
from maintenance.services import backup_files as files
from maintenance.services.backup_locate import check_kind, locate_backup
from maintenance.services.database import (
    MAX_IDENTIFIER,
    VISIBLE_TABLES,
    database_create,
    database_exists,
    database_name,
    direct_connection,
    is_postgres,
    restore_credentials,
    restore_role_check,
    row_counts,
)
from maintenance.services.psql_stream import CHUNK, open_plain, psql_restore
from maintenance.services.run_records import RunContext, run_recorded


def postgres_table_counts(dbname: str) -> dict[str, int]:
    with direct_connection(dbname=dbname) as conn, conn.cursor() as cursor:
        tables = [row[0] for row in cursor.execute(VISIBLE_TABLES).fetchall()]
        return row_counts(cursor, tables, postgres=True)


@contextlib.contextmanager
def sqlite_image(path: Path, *, directory: Path) -> Iterator[Path]:
    """The backup's SQLite image, decompressed into `directory`, integrity-checked."""
    with tempfile.TemporaryDirectory(dir=directory, prefix=".restore-") as scratch:
        image = Path(scratch) / "image.sqlite3"
        try:
            with open_plain(path) as source, image.open("wb") as target:
                shutil.copyfileobj(source, target, CHUNK)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise MaintenanceError(
                f"{path.name} is truncated or corrupt ({exc}). Nothing was restored."
            ) from exc
        check = sqlite3.connect(image)
        try:
            result = check.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise MaintenanceError(
                f"{path.name} is not a valid SQLite database ({exc}). Nothing was restored."
            ) from exc
        finally:
            check.close()
        if not result or result[0] != "ok":
            raise MaintenanceError(
                f"{path.name} fails SQLite's integrity check ({result}). Nothing was restored."
            )
        yield image


def sqlite_table_counts(image: Path) -> dict[str, int]:
    db = sqlite3.connect(image)
    try:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return row_counts(db.cursor(), tables, postgres=False)
    finally:
        db.close()


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Human-readable differences between recorded and restored row counts."""
    problems = []
    for table, count in sorted(expected.items()):
        if table not in actual:
            problems.append(f"{table}: missing after restore (expected {count:,} rows)")
        elif actual[table] != count:
            problems.append(f"{table}: {actual[table]:,} rows restored, {count:,} recorded")
    return problems


@dataclasses.dataclass(frozen=True, kw_only=True)
class RestoreResult:
    backup: str
    database: str
    seconds: float
    row_counts: dict[str, int]
    checksum_verified: bool
    manifest_compared: bool

    def summary_line(self) -> str:
        checks = "checksum verified" if self.checksum_verified else "no checksum file"
        if self.manifest_compared:
            checks += ", row counts match the manifest"
        return (
            f"Restored {self.backup} into {self.database!r} in {self.seconds:.1f} s: "
            f"{len(self.row_counts)} tables, {sum(self.row_counts.values()):,} rows ({checks})."
        )


def database_restore(
    *,
    file: str,
    target_database: str | None = None,
    create: bool = False,
    context: RunContext,
) -> RestoreResult:
    """Restore a backup into the configured database (or `target_database`), all or nothing.

    Callers must have confirmed with the operator: this replaces the database's contents.
    """
    restore_arguments_check(file=file, target_database=target_database)
    arguments = {"file": file, "database": target_database, "create": create}
    with run_recorded(operation="restore_db", arguments=arguments, context=context) as run:
        started = time.perf_counter()
        with locate_backup(file) as located:
            check_kind(located.path)
            manifest = files.read_manifest(located.path)
            run.progress(
                f"Restoring {located.name}"
                + (" (checksum verified)" if located.checksum_verified else " (no .sha256 file)")
            )
            if is_postgres():
                dbname = target_database or database_name()
                missing = dbname != database_name() and not database_exists(dbname)
                if missing and not create:
                    raise MaintenanceError(
                        f"Database {dbname!r} does not exist: pass --create to create it."
                    )
                # Refuse an unsafe role before anything is created (psql_restore checks again).
                restore_role_check(dbname=database_name() if missing else dbname)
                if missing:
                    database_create(dbname, owner=restore_credentials()[0] or None)
                    run.progress(f"Created database {dbname!r}")
                psql_restore(located.path, dbname=dbname, progress=run.progress)
                counts = postgres_table_counts(dbname)
            else:
                if target_database:
                    raise MaintenanceError("--database is for PostgreSQL; SQLite has one file")
                dbname = str(connection.settings_dict["NAME"])
                counts = _sqlite_restore(located.path)
        problems = compare_counts(manifest.get("row_counts", {}), counts) if manifest else []
        result = RestoreResult(
            backup=located.name,
            database=dbname,
            seconds=time.perf_counter() - started,
            row_counts=counts,
            checksum_verified=located.checksum_verified,
            manifest_compared=manifest is not None and not problems,
        )
        run.summary = {
            "backup": located.name,
            "database": dbname,
            "tables": len(counts),
            "rows": sum(counts.values()),
            "seconds": round(result.seconds, 3),
            "checksum_verified": located.checksum_verified,
            "count_mismatches": problems,
        }
        if problems:
            raise MaintenanceError(
                "The restore committed, but row counts differ from the backup's manifest: "
                + "; ".join(problems)
                + ". Investigate before using the data."
            )
        return result


def restore_arguments_check(*, file: str, target_database: str | None) -> None:
    """Refuse an unusable FILE or --database before anything (a confirmation prompt included)."""
    if not file or not file.strip():
        raise MaintenanceError(
            "Name the backup file to restore: a path, a name in BACKUP_DIR or an off-site name "
            "(`list_backups` lists them)."
        )
    if "\x00" in file:
        raise MaintenanceError("FILE contains a NUL character (\\x00): nothing was done.")
    if target_database is None:
        return
    name = target_database
    # An empty --database (an unset shell variable) must not mean "the configured database".
    if not name.strip():
        raise MaintenanceError(
            "--database is empty: name the database to restore into, or leave the option out "
            "to restore into the configured one. Nothing was restored."
        )
    if "\x00" in name:
        raise MaintenanceError("--database contains a NUL character (\\x00): nothing was done.")
    if len(name.encode()) > MAX_IDENTIFIER:
        raise MaintenanceError(
            f"--database is {len(name.encode())} bytes long; PostgreSQL names are at most "
            f"{MAX_IDENTIFIER} (a longer one would be cut short). Nothing was restored."
        )


def _sqlite_restore(path: Path) -> dict[str, int]:
    target = Path(str(connection.settings_dict["NAME"]))
    with sqlite_image(path, directory=target.parent) as image:
        counts = sqlite_table_counts(image)
        # Our own connection lets go of the file; the backup API then replaces every page in
        # one step under the destination's lock, so other readers see old or new, never a mix.
        connection.close()
        source = sqlite3.connect(image)
        destination = sqlite3.connect(target, timeout=30)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()
    return counts
