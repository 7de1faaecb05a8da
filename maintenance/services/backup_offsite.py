"""Off-site copies of the backup sets in STORAGES["backups"] (django-storages): listing,
upload, download and retention, through the storage's public API whatever the backend."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import Storage, storages

from maintenance.errors import MaintenanceError
from maintenance.services.backup_files import (
    CHUNK,
    STAMP_FORMAT,
    BackupFile,
    HashingWriter,
    checksum_name,
    expired_stamps,
    manifest_name,
    stamp_of,
)


def offsite_storage() -> Storage | None:
    """STORAGES["backups"] when configured, else None."""
    if "backups" not in settings.STORAGES:
        return None
    try:
        return storages["backups"]
    except ImproperlyConfigured as exc:
        raise MaintenanceError(f"STORAGES['backups'] is misconfigured: {exc}") from exc


def offsite_files(storage: Storage) -> list[BackupFile]:
    try:
        _, names = storage.listdir("")
    except FileNotFoundError:
        return []
    except Exception as exc:  # any backend (S3, SFTP, …) fails its own way
        raise MaintenanceError(f"Cannot list the off-site backups: {exc}") from exc
    found = []
    for name in names:
        stamp = stamp_of(name)
        if stamp is not None:
            found.append(
                BackupFile(name=name, stamp=stamp, size=storage.size(name), location="off-site")
            )
    return sorted(found, key=lambda f: (f.stamp, f.name), reverse=True)


def upload(storage: Storage, path: Path) -> str:
    """Copy one file to the off-site storage under its own name (streamed, not read whole)."""
    name = path.name
    try:
        if storage.exists(name):
            storage.delete(name)  # a rerun replaces a partial upload of the same file
        with path.open("rb") as handle:
            saved = storage.save(name, File(handle, name=name))
    except Exception as exc:  # any backend fails its own way
        raise MaintenanceError(
            f"Uploading {name} to the off-site storage failed: {exc}. The local backup is "
            "intact; check the storage settings and credentials, then run backup_db again."
        ) from exc
    return saved


def download(storage: Storage, name: str, directory: Path) -> Path:
    """Fetch an off-site file (and its .sha256 and manifest when there) into `directory`."""
    stamp = stamp_of(name)
    wanted = [name, checksum_name(name)]
    if stamp is not None:
        wanted.append(manifest_name(stamp.strftime(STAMP_FORMAT)))
    for item in wanted:
        if not storage.exists(item):
            if item == name:
                raise MaintenanceError(f"{name} is not in the off-site storage")
            continue
        target = directory / item
        with storage.open(item, "rb") as source:
            writer = HashingWriter(target)
            try:
                while chunk := source.read(CHUNK):
                    writer.write(chunk)
                writer.handle.flush()
                writer.handle.close()
                writer.partial.replace(target)
            except BaseException:
                writer.discard()
                raise
    return directory / name


def offsite_retention(storage: Storage, *, days: int, keep: str | None = None) -> list[str]:
    files = offsite_files(storage)
    expired = expired_stamps(files, days=days, keep=keep)
    deleted = []
    for item in files:
        if item.stamp in expired:
            try:
                storage.delete(item.name)
            except Exception as exc:
                raise MaintenanceError(f"Deleting {item.name} off-site failed: {exc}") from exc
            deleted.append(item.name)
    return sorted(deleted)
