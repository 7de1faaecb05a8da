"""backup_db: dump the database (and media files), checksum it, apply retention, copy off-site.

PostgreSQL: `pg_dump --clean --if-exists --no-owner` (plain SQL, restorable with psql into an
existing or an empty database) streamed through zlib into the file, hashed on the way; nothing
is held in memory but one chunk. gzip's default level is the bottleneck of the guide's
`pg_dump | gzip`, hence BACKUP_COMPRESSION_LEVEL (figures: docs/performance.md). The
per-table row counts that verify_backup compares are taken in the very snapshot pg_dump dumps
(an exported snapshot), so writes during the backup cannot make them disagree.

SQLite: the online backup API copies a consistent image while the app keeps running; it is
gzip-compressed like the dump.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from maintenance.errors import MaintenanceError
from maintenance.services import backup_files as files
from maintenance.services import backup_offsite as offsite
from maintenance.services.database import (
    VISIBLE_TABLES,
    client_program,
    database_name,
    direct_connection,
    is_postgres,
    libpq_environment,
    row_counts,
)
from maintenance.services.run_records import RunContext, RunRecorder, run_recorded

CHUNK = 1024 * 1024
PROGRESS_EVERY_SECONDS = 2.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class DumpOutcome:
    path: Path
    size: int
    sha256: str
    row_counts: dict[str, int]
    seconds: float
    server_version: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class MediaOutcome:
    path: Path
    size: int
    sha256: str
    files: int
    source_bytes: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackupResult:
    database: DumpOutcome
    media: MediaOutcome | None
    manifest: Path
    deleted_local: list[str]
    uploaded: list[str]
    deleted_offsite: list[str]
    offsite_configured: bool
    seconds: float

    def summary_line(self) -> str:
        rows = sum(self.database.row_counts.values())
        head = (
            f"Backup {self.database.path.name}: {self.database.size / 2**20:,.1f} MiB, "
            f"{len(self.database.row_counts)} tables, {rows:,} rows, in {self.seconds:.1f} s "
            f"(dump {self.database.seconds:.1f} s)"
        )
        parts = [head]
        if self.media is not None:
            parts.append(f"media: {self.media.files:,} files in {self.media.path.name}")
        parts.append(f"retention deleted {len(self.deleted_local)} local files")
        if self.offsite_configured:
            parts.append(
                f"uploaded {len(self.uploaded)} files off-site, deleted "
                f"{len(self.deleted_offsite)} there"
            )
        else:
            parts.append("no off-site storage configured")
        return "; ".join(parts) + "."


def database_backup(
    *,
    output_dir: str | Path | None = None,
    upload: bool = True,
    context: RunContext,
) -> BackupResult:
    """Back up the database and media, keep BACKUP_RETENTION_DAYS, copy off-site."""
    arguments = {
        "output_dir": str(output_dir) if output_dir is not None else None,
        "upload": upload,
    }
    with run_recorded(operation="backup_db", arguments=arguments, context=context) as run:
        started = time.perf_counter()
        directory = files.backup_directory(output_dir)
        storage = offsite.offsite_storage() if upload else None
        stamp = files.new_stamp()
        level = settings.BACKUP_COMPRESSION_LEVEL
        if is_postgres():
            dump = _dump_postgres(directory, stamp, level=level, run=run)
        else:
            dump = _dump_sqlite(directory, stamp, level=level, run=run)
        run.summary = {"file": dump.path.name, "bytes": dump.size, "sha256": dump.sha256}
        media = _archive_media(directory, stamp, level=level, run=run)
        manifest = directory / files.manifest_name(stamp)
        files.write_text_file(manifest, json.dumps(_manifest(stamp, dump, media), indent=2))
        deleted_local = files.local_retention(
            directory, days=settings.BACKUP_RETENTION_DAYS, keep=dump.path.name
        )
        if deleted_local:
            run.progress(f"Retention: deleted {len(deleted_local)} local files")
        uploaded: list[str] = []
        deleted_offsite: list[str] = []
        if storage is not None:
            # The manifest goes last: its presence off-site means the set is complete.
            to_upload = [dump.path, dump.path.with_name(files.checksum_name(dump.path.name))]
            if media is not None:
                to_upload += [
                    media.path,
                    media.path.with_name(files.checksum_name(media.path.name)),
                ]
            to_upload.append(manifest)
            for path in to_upload:
                offsite.upload(storage, path)
                uploaded.append(path.name)
                run.progress(f"Uploaded {path.name} off-site")
            deleted_offsite = offsite.offsite_retention(
                storage, days=settings.BACKUP_RETENTION_DAYS, keep=dump.path.name
            )
        result = BackupResult(
            database=dump,
            media=media,
            manifest=manifest,
            deleted_local=deleted_local,
            uploaded=uploaded,
            deleted_offsite=deleted_offsite,
            offsite_configured=storage is not None,
            seconds=time.perf_counter() - started,
        )
        run.summary = {
            "file": dump.path.name,
            "directory": str(directory),
            "bytes": dump.size,
            "sha256": dump.sha256,
            "tables": len(dump.row_counts),
            "rows": sum(dump.row_counts.values()),
            "dump_seconds": round(dump.seconds, 3),
            "seconds": round(result.seconds, 3),
            "media_file": media.path.name if media else None,
            "media_files": media.files if media else 0,
            "deleted_local": deleted_local,
            "uploaded": uploaded,
            "deleted_offsite": deleted_offsite,
        }
        return result


def _manifest(stamp: str, dump: DumpOutcome, media: MediaOutcome | None) -> dict[str, Any]:
    return {
        "format": files.MANIFEST_FORMAT,
        "app": settings.SERVICE_NAME,
        "created_at": timezone.now().isoformat(timespec="seconds"),
        "stamp": stamp,
        "database": {
            "vendor": connection.vendor,
            "name": database_name(),
            "server_version": dump.server_version,
            "file": dump.path.name,
            "bytes": dump.size,
            "sha256": dump.sha256,
            "compression_level": settings.BACKUP_COMPRESSION_LEVEL,
            "dump_seconds": round(dump.seconds, 3),
        },
        "row_counts": dump.row_counts,
        "media": None
        if media is None
        else {
            "file": media.path.name,
            "bytes": media.size,
            "sha256": media.sha256,
            "files": media.files,
            "source_bytes": media.source_bytes,
        },
    }


class _Progress:
    """Rate-limited progress lines while bytes stream through."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.started = time.perf_counter()
        self.last = self.started

    def update(self, raw: int, written: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        self.report(
            f"Dumped {raw / 2**20:,.1f} MiB → {written / 2**20:,.1f} MiB compressed "
            f"({raw / 2**20 / elapsed:,.1f} MiB/s)"
        )


def _dump_postgres(directory: Path, stamp: str, *, level: int, run: RunRecorder) -> DumpOutcome:
    pg_dump = client_program("pg_dump")
    final = directory / files.database_file_name(stamp, "sql.gz")
    started = time.perf_counter()
    with direct_connection(application_name="beo-automation backup snapshot") as snap:
        # One REPEATABLE READ snapshot, exported to pg_dump: the counts below and the dump
        # see exactly the same rows.
        snap.autocommit = False
        snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap.read_only = True
        snapshot = snap.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        server_version = snap.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        tables = [row[0] for row in snap.execute(VISIBLE_TABLES).fetchall()]
        counts: dict[str, int] = {}
        count_errors: list[BaseException] = []

        def count_rows() -> None:
            try:
                with snap.cursor() as cursor:
                    counts.update(row_counts(cursor, tables, postgres=True))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                count_errors.append(exc)

        command = [
            pg_dump,
            "--format=plain",
            "--clean",
            "--if-exists",
            "--no-owner",
            f"--snapshot={snapshot}",
        ]
        writer = files.HashingWriter(final)
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=libpq_environment(),
            )
            counter = threading.Thread(target=count_rows, name="backup-row-counts")
            counter.start()
            try:
                assert process.stdout is not None
                _grow_pipe(process.stdout.fileno())
                _compress_stream(process.stdout, writer, level=level, run=run)
                returncode = process.wait()
                counter.join()
                if returncode != 0:
                    stderr.seek(0)
                    raise MaintenanceError(_pg_dump_failure(stderr.read().decode(errors="replace")))
                if count_errors:
                    raise MaintenanceError(
                        f"Counting rows for the manifest failed: {count_errors[0]}"
                    ) from count_errors[0]
                digest = writer.commit()
            except BaseException:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                counter.join()
                writer.discard()
                raise
        snap.rollback()
    seconds = time.perf_counter() - started
    run.progress(
        f"Dump written: {final.name}, {writer.size / 2**20:,.1f} MiB in {seconds:.1f} s, "
        f"{len(counts)} tables, {sum(counts.values()):,} rows"
    )
    return DumpOutcome(
        path=final,
        size=writer.size,
        sha256=digest,
        row_counts=dict(sorted(counts.items())),
        seconds=seconds,
        server_version=str(server_version),
    )


def _grow_pipe(fd: int) -> None:
    # A 1 MiB pipe (Linux) lets pg_dump run ahead while a chunk is being compressed.
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)


def _compress_stream(
    source: Any, writer: files.HashingWriter, *, level: int, run: RunRecorder
) -> int:
    """gzip `source` into `writer` chunk by chunk; returns the uncompressed size."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    progress = _Progress(run.progress)
    raw = 0
    try:
        while chunk := source.read(CHUNK):
            raw += len(chunk)
            writer.write(compressor.compress(chunk))
            progress.update(raw, writer.size)
        writer.write(compressor.flush())
    except OSError as exc:
        raise MaintenanceError(
            f"Writing {writer.final} failed: {exc.strerror or exc}. Free space in "
            f"{writer.final.parent} (or choose another --output-dir) and run backup_db again."
        ) from exc
    progress.update(raw, writer.size, force=True)
    return raw


def _pg_dump_failure(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    detail = " ".join(lines[-3:]) if lines else "no error output"
    hint = ""
    if "server version mismatch" in stderr:
        hint = (
            " Install the pg_dump of the server's major version (or newer) "
            "(apt-get install postgresql-client-<major>)."
        )
    elif "connection" in stderr and "failed" in stderr:
        hint = " Check DATABASE_URL and that the server accepts connections from this host."
    return f"pg_dump failed: {detail}.{hint} No backup was written."


def _dump_sqlite(directory: Path, stamp: str, *, level: int, run: RunRecorder) -> DumpOutcome:
    source = str(connection.settings_dict["NAME"])
    if source in {":memory:", ""} or source.startswith("file:memorydb"):
        raise MaintenanceError("An in-memory SQLite database cannot be backed up")
    final = directory / files.database_file_name(stamp, "sqlite3.gz")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".backup-") as scratch:
        image = Path(scratch) / "image.sqlite3"
        # The online backup API: a consistent copy while other connections keep writing.
        src = sqlite3.connect(source)
        dst = sqlite3.connect(image)
        try:
            src.backup(dst)
            tables = [
                row[0]
                for row in dst.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            counts = row_counts(dst.cursor(), tables, postgres=False)
            version = sqlite3.sqlite_version
        finally:
            dst.close()
            src.close()
        writer = files.HashingWriter(final)
        try:
            with image.open("rb") as handle:
                _compress_stream(handle, writer, level=level, run=run)
            digest = writer.commit()
        except BaseException:
            writer.discard()
            raise
    seconds = time.perf_counter() - started
    run.progress(f"Database image written: {final.name}, {writer.size / 2**20:,.1f} MiB")
    return DumpOutcome(
        path=final,
        size=writer.size,
        sha256=digest,
        row_counts=counts,
        seconds=seconds,
        server_version=f"SQLite {version}",
    )


def _archive_media(
    directory: Path, stamp: str, *, level: int, run: RunRecorder
) -> MediaOutcome | None:
    """tar.gz of MEDIA_ROOT (the guide's "application state"), when it holds any file."""
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        return None
    members = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    if not members:
        return None
    final = directory / files.media_file_name(stamp)
    writer = files.HashingWriter(final)
    source_bytes = 0
    try:
        with tarfile.open(fileobj=writer, mode="w:gz", compresslevel=level) as tar:  # type: ignore[call-overload]
            for path in members:
                tar.add(path, arcname=str(Path("media") / path.relative_to(root)))
                source_bytes += path.stat().st_size
        digest = writer.commit()
    except BaseException:
        writer.discard()
        raise
    run.progress(f"Media: {len(members):,} files → {final.name}")
    return MediaOutcome(
        path=final, size=writer.size, sha256=digest, files=len(members), source_bytes=source_bytes
    )
