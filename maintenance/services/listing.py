"""list_backups: local and off-site backups with size, age, checksum status, last verification."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from django.conf import settings

from maintenance.models import MaintenanceRun, Outcome
from maintenance.services import backup_files as files
from maintenance.services import backup_offsite
from maintenance.services.run_records import RunContext, run_recorded


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verification:
    outcome: str
    at: datetime
    run_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListedBackup:
    name: str
    location: str
    stamp: datetime
    size: int
    checksum: str  # ok / mismatch / missing / unreadable / not checked / present
    last_verification: Verification | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackupListing:
    directory: Path
    local: list[ListedBackup]
    offsite: list[ListedBackup]
    offsite_configured: bool

    def summary_line(self) -> str:
        bad = [b.name for b in self.local if b.checksum in {"mismatch", "unreadable"}]
        line = f"{len(self.local)} local backup files in {self.directory}"
        line += (
            f", {len(self.offsite)} off-site"
            if self.offsite_configured
            else ", no off-site storage"
        )
        if bad:
            line += f"; CHECKSUM FAILURES: {', '.join(bad)}"
        return line + "."


def last_verifications() -> dict[str, Verification]:
    """The newest verify_backup outcome per backup file name."""
    latest: dict[str, Verification] = {}
    runs = (
        MaintenanceRun.objects.filter(operation="verify_backup")
        .exclude(outcome__in=[Outcome.RUNNING, Outcome.REFUSED])
        .order_by("-started_at")
        .values("id", "summary", "outcome", "started_at")[:1000]
    )
    for run in runs:
        name = (run["summary"] or {}).get("backup")
        if name and name not in latest:
            latest[name] = Verification(
                outcome=run["outcome"], at=run["started_at"], run_id=run["id"]
            )
    return latest


def backups_list(*, verify_checksums: bool = True, context: RunContext) -> BackupListing:
    """Every backup file (not its .sha256/manifest sidecars), newest first."""
    arguments = {"verify_checksums": verify_checksums}
    with run_recorded(operation="list_backups", arguments=arguments, context=context) as run:
        directory = Path(settings.BACKUP_DIR)
        verifications = last_verifications()
        local_all = files.local_files(directory)
        local_names = {f.name for f in local_all}
        local = []
        for item in local_all:
            if _is_sidecar(item.name):
                continue
            status = (
                files.checksum_status(item.path)
                if verify_checksums and item.path is not None
                else "not checked"
            )
            local.append(
                ListedBackup(
                    name=item.name,
                    location="local",
                    stamp=item.stamp,
                    size=item.size,
                    checksum=status,
                    last_verification=verifications.get(item.name),
                )
            )
        storage = backup_offsite.offsite_storage()
        offsite = []
        if storage is not None:
            remote_all = backup_offsite.offsite_files(storage)
            remote_names = {f.name for f in remote_all}
            for item in remote_all:
                if _is_sidecar(item.name):
                    continue
                sidecar = files.checksum_name(item.name)
                if sidecar not in remote_names:
                    status = "missing"
                elif sidecar in local_names:
                    with storage.open(sidecar, "rb") as handle:
                        remote_sum = files.read_checksum_text(handle.read().decode())
                    local_sum = files.read_checksum_text((directory / sidecar).read_text())
                    same = remote_sum is not None and remote_sum == local_sum
                    status = "same as local" if same else "differs from local"
                else:
                    status = "present"
                offsite.append(
                    ListedBackup(
                        name=item.name,
                        location="off-site",
                        stamp=item.stamp,
                        size=item.size,
                        checksum=status,
                        last_verification=verifications.get(item.name),
                    )
                )
        listing = BackupListing(
            directory=directory,
            local=local,
            offsite=offsite,
            offsite_configured=storage is not None,
        )
        run.summary = {
            "local": len(local),
            "offsite": len(offsite),
            "checksum_failures": [
                b.name for b in local if b.checksum in {"mismatch", "unreadable"}
            ],
        }
        return listing


def _is_sidecar(name: str) -> bool:
    return name.endswith((".sha256", ".manifest.json"))
