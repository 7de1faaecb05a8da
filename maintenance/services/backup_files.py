"""Backup files: names, checksums, manifests, listing and retention (off-site copies:
maintenance.services.backup_offsite).

One backup is a *set* of files sharing a UTC timestamp:

    beo_automation_20261127_020000.sql.gz            the database (.sqlite3.gz on SQLite)
    beo_automation_20261127_020000.sql.gz.sha256     its checksum, `sha256sum -c` format
    beo_automation_media_20261127_020000.tar.gz      MEDIA_ROOT, when it has files
    beo_automation_media_20261127_020000.tar.gz.sha256
    beo_automation_20261127_020000.manifest.json     row counts at backup time, sizes, checksums

Files are written under a `.partial` name and renamed when complete, so an interrupted backup
never looks like a backup. Retention works on whole sets, by the timestamp in the name (which a
copy does not change, unlike the file's mtime), and always keeps the newest set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from maintenance.errors import MaintenanceError

PREFIX = "beo_automation"
STAMP_FORMAT = "%Y%m%d_%H%M%S"
DATABASE_EXTENSIONS = ("sql.gz", "sql", "sqlite3.gz", "sqlite3")
NAME_PATTERN = re.compile(
    rf"^{PREFIX}_(?:(?P<media>media)_)?(?P<stamp>\d{{8}}_\d{{6}})"
    r"(?:\.(?P<ext>sql\.gz|sql|sqlite3\.gz|sqlite3|tar\.gz|manifest\.json))"
    r"(?P<sha>\.sha256)?$"
)
CHUNK = 1024 * 1024
MANIFEST_FORMAT = 1
# Leftovers of interrupted backups are removed once they are this old.
PARTIAL_MAX_AGE = timedelta(hours=24)


def stamp_of(name: str) -> datetime | None:
    match = NAME_PATTERN.match(Path(name).name)
    if not match:
        return None
    return datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)


def new_stamp(now: datetime | None = None) -> str:
    return (now or timezone.now()).astimezone(UTC).strftime(STAMP_FORMAT)


def database_file_name(stamp: str, extension: str) -> str:
    return f"{PREFIX}_{stamp}.{extension}"


def media_file_name(stamp: str) -> str:
    return f"{PREFIX}_media_{stamp}.tar.gz"


def manifest_name(stamp: str) -> str:
    return f"{PREFIX}_{stamp}.manifest.json"


def checksum_name(name: str) -> str:
    return f"{name}.sha256"


def is_database_backup(name: str) -> bool:
    match = NAME_PATTERN.match(Path(name).name)
    return bool(
        match and not match["media"] and not match["sha"] and match["ext"] in DATABASE_EXTENSIONS
    )


# --- Writing -------------------------------------------------------------------------------


def backup_directory(path: str | os.PathLike[str] | None = None) -> Path:
    """The directory to write to, created owner-only; an unusable one is an operator error.

    An --output-dir must be named (an empty one would mean the current directory) and must not
    be the checkout or lie inside it: retention deletes old backups where backups are written.
    Writability is proven by creating a file, not guessed from permission bits (root passes
    those on read-only filesystems such as /sys).
    """
    if path is not None and not str(path).strip():
        raise MaintenanceError(
            "--output-dir is empty: name a directory (or leave the option out for BACKUP_DIR)"
        )
    directory = Path(path).expanduser() if path is not None else Path(settings.BACKUP_DIR)
    if path is not None:
        _outside_checkout(directory)
    if directory.exists() and not directory.is_dir():
        raise MaintenanceError(f"{directory} is not a directory: choose another --output-dir")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise MaintenanceError(
            f"Cannot create the backup directory {directory}: {exc.strerror}. Create it (owned "
            "by the user running the app) or set BACKUP_DIR / --output-dir to a writable one."
        ) from exc
    try:
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-")  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise MaintenanceError(
            f"Cannot write to the backup directory {directory} ({exc.strerror or exc}). Fix "
            "its permissions or set BACKUP_DIR / --output-dir to a writable directory."
        ) from exc
    return directory


def _outside_checkout(directory: Path) -> None:
    checkout = Path(settings.BASE_DIR).resolve()
    resolved = directory.resolve()
    if resolved == Path(settings.BACKUP_DIR).resolve():
        return  # the configured directory, wherever the operator put it
    if resolved == checkout or checkout in resolved.parents or resolved in checkout.parents:
        raise MaintenanceError(
            f"--output-dir {directory} is {'inside ' if resolved != checkout else ''}the "
            f"application's directory ({checkout}) or contains it; backups and their retention "
            "belong in a directory of their own: choose another --output-dir"
        )


class HashingWriter:
    """A binary file written under `<name>.partial`, hashed as it goes, renamed on commit()."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.partial = final.with_name(final.name + ".partial")
        # Owner-only from the first byte: a backup holds every row of the database.
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.handle: IO[bytes] = os.fdopen(fd, "wb", buffering=0)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        if data:
            self.handle.write(data)
            self.digest.update(data)
            self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.handle.flush()

    def commit(self) -> str:
        """Flush to disk, rename into place, write the .sha256 file; returns the digest."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.partial.replace(self.final)
        hexdigest = self.digest.hexdigest()
        write_text_file(
            self.final.with_name(checksum_name(self.final.name)),
            f"{hexdigest}  {self.final.name}\n",
        )
        return hexdigest

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.partial.unlink(missing_ok=True)


def write_text_file(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


# --- Checksums and manifests ------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksum_text(text: str) -> str | None:
    parts = text.split()
    if parts and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
        return parts[0]
    return None


def checksum_status(path: Path) -> str:
    """`ok`, `mismatch`, `missing` (no .sha256 beside it) or `unreadable`."""
    sidecar = path.with_name(checksum_name(path.name))
    if not sidecar.exists() and not sidecar.is_symlink():
        return "missing"
    try:
        # A checksum line is ~100 bytes: a huge, binary or directory sidecar is unreadable.
        with sidecar.open("rb") as handle:
            text = handle.read(4096).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return "unreadable"
    expected = read_checksum_text(text)
    if expected is None:
        return "unreadable"
    return "ok" if sha256_of(path) == expected else "mismatch"


def verify_checksum(path: Path) -> bool:
    """True when a .sha256 file exists and matches; False when there is none; raises on a
    mismatch (a corrupt or altered backup must never be restored)."""
    status = checksum_status(path)
    if status == "missing":
        return False
    if status != "ok":
        raise MaintenanceError(
            f"Checksum {status} for {path.name}: the file does not match "
            f"{checksum_name(path.name)}, so it is corrupt or was altered. Use another backup "
            "(`manage.py list_backups`)."
        )
    return True


def read_manifest(backup: Path) -> dict[str, Any] | None:
    stamp = stamp_of(backup.name)
    if stamp is None:
        return None
    path = backup.with_name(manifest_name(stamp.strftime(STAMP_FORMAT)))
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MaintenanceError(f"The manifest {path.name} is unreadable: {exc}") from exc
    return data if isinstance(data, dict) else None


# --- Listing --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackupFile:
    name: str
    stamp: datetime
    size: int
    location: str  # "local" or "off-site"
    path: Path | None = None

    @property
    def age(self) -> timedelta:
        return timezone.now() - self.stamp


def local_files(directory: Path) -> list[BackupFile]:
    """Every backup-set file in `directory`, newest first."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        stamp = stamp_of(entry.name)
        if stamp is not None and entry.is_file():
            found.append(
                BackupFile(
                    name=entry.name,
                    stamp=stamp,
                    size=entry.stat().st_size,
                    location="local",
                    path=entry,
                )
            )
    return sorted(found, key=lambda f: (f.stamp, f.name), reverse=True)


# --- Retention ------------------------------------------------------------------------------


def expired_stamps(
    files: Iterable[BackupFile], *, days: int, keep: str | None = None
) -> set[datetime]:
    """Timestamps of the sets older than `days`, never the newest set nor `keep`'s."""
    stamps = sorted({f.stamp for f in files}, reverse=True)
    if days <= 0 or not stamps:
        return set()
    cutoff = timezone.now() - timedelta(days=days)
    kept = {stamps[0]}
    if keep is not None and (stamp := stamp_of(keep)) is not None:
        kept.add(stamp)
    return {s for s in stamps if s < cutoff and s not in kept}


def local_retention(directory: Path, *, days: int, keep: str | None = None) -> list[str]:
    """Delete the local sets older than `days` (and stale .partial files); returns names."""
    files = local_files(directory)
    expired = expired_stamps(files, days=days, keep=keep)
    deleted = []
    for item in files:
        if item.stamp in expired and item.path is not None:
            item.path.unlink(missing_ok=True)
            deleted.append(item.name)
    now = timezone.now().timestamp()
    for partial in directory.glob(f"{PREFIX}_*.partial"):
        if now - partial.stat().st_mtime > PARTIAL_MAX_AGE.total_seconds():
            partial.unlink(missing_ok=True)
            deleted.append(partial.name)
    return sorted(deleted)
