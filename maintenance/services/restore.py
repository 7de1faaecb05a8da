"""restore_db: replace a database's contents with a backup, all or nothing.

PostgreSQL: the (decompressed) SQL is streamed into `psql --single-transaction -v
ON_ERROR_STOP=1`. psql commits only when its input ends cleanly, so before ending it we check
that the stream was complete: gzip's end-of-stream and CRC, and pg_dump's closing
"PostgreSQL database dump complete" line. Anything less (a truncated or corrupt file, an error
in a statement) kills psql instead, its transaction rolls back, and the database is exactly as
it was. The same mechanism restores into the scratch database of verify_backup.

A backup file is untrusted input: psql reads it in restricted mode under a key of this run
(no meta-command of the file runs), as a role that is refused when it is a superuser or can
reach server programs or files (no COPY … TO PROGRAM). docs/operations.md says what to provision.

SQLite: the image is decompressed beside the database, checked with `PRAGMA integrity_check`,
and copied over the live database with the online backup API in one step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

from maintenance.errors import MaintenanceError
from maintenance.services import backup_files as files
from maintenance.services.database import (
    MAX_IDENTIFIER,
    VISIBLE_TABLES,
    client_program,
    database_create,
    database_exists,
    database_name,
    direct_connection,
    is_postgres,
    libpq_environment,
    restore_credentials,
    restore_role_check,
    row_counts,
)
from maintenance.services.run_records import RunContext, run_recorded

CHUNK = 1024 * 1024
PROGRESS_EVERY_SECONDS = 2.0
DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
TAIL_BYTES = 4096


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocatedBackup:
    path: Path
    downloaded: bool
    checksum_verified: bool

    @property
    def name(self) -> str:
        return self.path.name


@contextlib.contextmanager
def locate_backup(file: str | None, *, latest: bool = False) -> Iterator[LocatedBackup]:
    """Find a backup: a path, a name in BACKUP_DIR, or a name off-site (downloaded to a
    temporary directory for the duration). Its checksum is verified when it has one."""
    directory = Path(settings.BACKUP_DIR)
    storage = files.offsite_storage()
    if latest:
        local = [f for f in files.local_files(directory) if files.is_database_backup(f.name)]
        if local and local[0].path is not None:
            path: Path | None = local[0].path
            name = local[0].name
        else:
            remote = (
                [f for f in files.offsite_files(storage) if files.is_database_backup(f.name)]
                if storage is not None
                else []
            )
            if not remote:
                raise MaintenanceError(
                    f"No backups in {directory}"
                    + (" nor off-site" if storage is not None else "")
                    + ": run `manage.py backup_db` first."
                )
            path, name = None, remote[0].name
    elif file:
        candidate = Path(file).expanduser()
        for place in (candidate, directory / file):
            _refuse_odd_file(place, file)
        if candidate.is_file():
            path, name = candidate, candidate.name
        elif (directory / file).is_file():
            path, name = directory / file, file
        elif storage is not None and "/" not in file and storage.exists(file):
            path, name = None, file
        else:
            where = f"{candidate}, {directory / file}" + (" or off-site" if storage else "")
            raise MaintenanceError(
                f"Backup file not found: {file} (looked at {where}). "
                "`manage.py list_backups` lists the available backups."
            )
    else:
        raise MaintenanceError("Name a backup file or pass --latest")

    if path is not None:
        yield LocatedBackup(path=path, downloaded=False, checksum_verified=_checked(path))
        return
    assert storage is not None
    files.backup_directory(directory)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        downloaded = files.download(storage, name, Path(scratch))
        yield LocatedBackup(
            path=downloaded, downloaded=True, checksum_verified=_checked(downloaded)
        )


def _refuse_odd_file(place: Path, file: str) -> None:
    """A backup is a regular file of its own: not a directory, a device, a FIFO (which would
    be read forever) or a symbolic link (which could point psql at any file)."""
    if place.is_symlink():
        raise MaintenanceError(
            f"{place} is a symbolic link: restore reads backup files only, not links. Pass the "
            "file it points to if you trust it."
        )
    if place.exists() and not place.is_file():
        kind = "a directory" if place.is_dir() else "not a regular file"
        raise MaintenanceError(f"{place} is {kind}, not a backup file (`list_backups` lists them)")


def _checked(path: Path) -> bool:
    if not files.is_database_backup(path.name) and not path.name.endswith(
        (".sql", ".sql.gz", ".sqlite3", ".sqlite3.gz")
    ):
        raise MaintenanceError(
            f"{path.name} is not a database backup: restore takes a .sql.gz or .sql file "
            "(PostgreSQL) or a .sqlite3.gz file (SQLite) made by backup_db."
        )
    return files.verify_checksum(path)


def check_kind(path: Path) -> None:
    """A PostgreSQL dump for PostgreSQL, a SQLite image for SQLite."""
    sqlite_image = path.name.endswith((".sqlite3", ".sqlite3.gz"))
    if is_postgres() and sqlite_image:
        raise MaintenanceError(
            f"{path.name} is a SQLite backup; the configured database is PostgreSQL. Restore a "
            ".sql.gz or .sql dump instead."
        )
    if not is_postgres() and not sqlite_image:
        raise MaintenanceError(
            f"{path.name} is a PostgreSQL dump; the configured database is "
            f"{connection.vendor}. On SQLite restore_db takes a .sqlite3.gz backup made by "
            "backup_db."
        )


def _open_plain(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


RESTRICT_LINE = re.compile(rb"\\restrict ([A-Za-z0-9]+)\r?\n")


class MetaCommandGuard:
    """The dump's bytes as psql gets them: first `\\restrict <key>` with a key of this run, so psql
    refuses every meta-command of the file (`\\!`, `\\o |cmd`, `\\copy … program`, `\\gexec`,
    `\\include`…) and the file cannot leave restricted mode, not knowing the key.

    pg_dump (15.14+) writes its own `\\restrict <its key>` in the header and the matching
    `\\unrestrict <its key>` after the completion line. psql would refuse both (a meta-command,
    and the wrong key), so exactly these two lines are dropped: the `\\restrict` only among the
    header's comment lines, the `\\unrestrict` only with that same key. Anything else reaches psql
    unchanged (COPY data included: inside COPY psql reads rows, not commands).
    """

    def __init__(self) -> None:
        self.key = secrets.token_hex(32)
        self._started = False
        self._unrestrict: bytes | None = None
        self._pending = b""

    def prologue(self) -> bytes:
        return b"\\restrict " + self.key.encode() + b"\n"

    def feed(self, chunk: bytes) -> bytes:
        if not self._started:
            self._started = True
            chunk = self._drop_header_restrict(chunk)
        if self._unrestrict is None:
            return chunk
        data = (self._pending + chunk).replace(self._unrestrict, b"\n")
        keep = len(self._unrestrict) - 1
        self._pending = data[-keep:]
        return data[:-keep]

    def finish(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending

    def _drop_header_restrict(self, chunk: bytes) -> bytes:
        position = 0
        while position < len(chunk):
            end = chunk.find(b"\n", position)
            if end < 0:
                return chunk
            line = chunk[position : end + 1]
            if line.strip() == b"" or line.startswith(b"--"):
                position = end + 1
                continue
            match = RESTRICT_LINE.fullmatch(line)
            if match:
                self._unrestrict = b"\n\\unrestrict " + match[1] + b"\n"
                # The line's newline stays: the header keeps its shape, a line of its own.
                return chunk[:position] + chunk[end:]
            return chunk
        return chunk


def psql_restore(
    path: Path, *, dbname: str, progress: Callable[[str], None] | None = None
) -> float:
    """Stream a .sql(.gz) dump into `dbname` in one transaction; returns seconds taken.

    psql runs as the restore role (restore_role_check refuses one whose SQL could reach
    programs or files on the server) and in restricted mode (MetaCommandGuard: no psql
    meta-command of the file runs). Raises MaintenanceError (the database unchanged) on a
    truncated or corrupt file, on any meta-command, or on the first failing statement.
    """
    psql = client_program("psql")
    command = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
    env = _restore_environment(dbname)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
        assert process.stdin is not None
        broken_pipe = False
        try:
            _feed(process.stdin, path, dbname=dbname, progress=progress, started=started)
            process.stdin.close()
        except BrokenPipeError:
            # psql stopped reading: it hit an error and exited; its stderr says which.
            broken_pipe = True
        except BaseException:
            # Never let psql see a clean end of input: killed, it commits nothing.
            process.kill()
            process.wait()
            raise
        returncode = process.wait()
        if returncode != 0 or broken_pipe:
            stderr.seek(0)
            raise MaintenanceError(_psql_failure(stderr.read().decode(errors="replace"), dbname))
    return time.perf_counter() - started


def _restore_environment(dbname: str) -> dict[str, str]:
    """libpq's environment for psql, as the (checked) restore role."""
    role = restore_role_check(dbname=dbname)
    _user, password = restore_credentials()
    env = libpq_environment(dbname=dbname)
    env["PGUSER"] = role
    if password:
        env["PGPASSWORD"] = password
    else:
        env.pop("PGPASSWORD", None)
    env["PGOPTIONS"] = "-c client_min_messages=warning"
    return env


def _feed(
    stdin: IO[bytes],
    path: Path,
    *,
    dbname: str,
    progress: Callable[[str], None] | None,
    started: float,
) -> None:
    """Write the guarded dump to psql; raise unless the file was read whole and complete."""
    guard = MetaCommandGuard()
    stdin.write(guard.prologue())
    tail = b""
    fed, last_report = 0, time.perf_counter()
    try:
        with _open_plain(path) as source:
            while chunk := source.read(CHUNK):
                stdin.write(guard.feed(chunk))
                tail = (tail + chunk)[-TAIL_BYTES:]
                fed += len(chunk)
                now = time.perf_counter()
                if progress is not None and now - last_report >= PROGRESS_EVERY_SECONDS:
                    last_report = now
                    progress(
                        f"Restored {fed / 2**20:,.1f} MiB of SQL into {dbname} "
                        f"({fed / 2**20 / (now - started):,.1f} MiB/s)"
                    )
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise MaintenanceError(
            f"{path.name} is truncated or corrupt ({exc}). Nothing was restored: "
            f"database {dbname!r} is unchanged. Use another backup (`list_backups`)."
        ) from exc
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise MaintenanceError(
            f"Cannot read {path.name}: {exc.strerror or exc}. Nothing was restored: "
            f"database {dbname!r} is unchanged."
        ) from exc
    if DUMP_COMPLETE not in tail:
        raise MaintenanceError(
            f"{path.name} does not end with pg_dump's completion line, so it is "
            f"truncated. Nothing was restored: database {dbname!r} is unchanged. Use "
            "another backup (`list_backups`)."
        )
    stdin.write(guard.finish())


def _psql_failure(stderr: str, dbname: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if "invalid command \\restrict" in stderr:
        return (
            "This psql cannot restrict meta-commands (\\restrict needs psql 15.14, 16.10, 17.6 "
            "or newer): install a current postgresql-client and run the command again. Nothing "
            f"was restored: database {dbname!r} is unchanged."
        )
    if "backslash commands are restricted" in stderr or "\\unrestrict: wrong key" in stderr:
        return (
            "Restore refused and rolled back: the file contains a psql meta-command (a "
            "backslash command such as \\! or \\copy), which restore never runs; a dump made "
            f"by backup_db has none. Database {dbname!r} is unchanged."
        )
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line] or lines
    detail = " ".join(errors[:2]) if errors else "psql exited with an error"
    # A restored line can be anything: keep the message one readable line.
    detail = detail[:500] + ("…" if len(detail) > 500 else "")
    hint = ""
    if "already exists" in stderr:
        hint = (
            " The dump has no DROP statements (it was not made with pg_dump --clean): restore "
            "it into an empty database with --database NEW_NAME --create."
        )
    elif "does not exist" in stderr and "role" in stderr:
        hint = " The dump refers to a role this server lacks: make it with pg_dump --no-owner."
    elif any(s in stderr for s in ("permission denied", "must be owner", "must be superuser")):
        hint = (
            " The restore role lacks a privilege the file needs: it must own the database's "
            "objects, and it never has superuser rights (COPY … PROGRAM, server files)."
        )
    return f"Restore failed and was rolled back: {detail}.{hint} Database {dbname!r} is unchanged."


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
            with _open_plain(path) as source, image.open("wb") as target:
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
