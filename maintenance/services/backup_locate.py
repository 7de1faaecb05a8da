"""The backup a restore or a verification reads: found by path, by name in BACKUP_DIR or
off-site (downloaded for the duration), refused when it is not a regular backup file (a link,
a FIFO, a device) or not the kind the configured database takes; checksum verified."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

from maintenance.errors import MaintenanceError
from maintenance.services import backup_files as files
from maintenance.services import backup_offsite as offsite
from maintenance.services.database import (
    is_postgres,
)


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
    storage = offsite.offsite_storage()
    if latest:
        local = [f for f in files.local_files(directory) if files.is_database_backup(f.name)]
        if local and local[0].path is not None:
            path: Path | None = local[0].path
            name = local[0].name
        else:
            remote = (
                [f for f in offsite.offsite_files(storage) if files.is_database_backup(f.name)]
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
        downloaded = offsite.download(storage, name, Path(scratch))
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
