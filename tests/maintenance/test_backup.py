"""backup_db against real PostgreSQL: the files, checksums, manifest, media, retention, upload."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from events.models import Event
from maintenance.models import MaintenanceRun, Outcome
from maintenance.services.backup_files import STAMP_FORMAT, expired_stamps, local_files
from tests.maintenance.helpers import database_url, make_events, pg
from tests.subprocess_env import manage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def the_backup(directory: Path) -> Path:
    (path,) = directory.glob("beo_automation_*.sql.gz")
    return path


def test_backup_writes_a_gzipped_dump_a_checksum_and_a_manifest(backup_dir):
    events = make_events(3, payload={"beo": "BEO-42", "guests": 99})

    summary = call_command("backup_db", verbosity=0)

    dump = the_backup(backup_dir)
    assert dump.name == f"beo_automation_{dump.name[15:30]}.sql.gz"
    datetime.strptime(dump.name[15:30], STAMP_FORMAT)
    sql = gzip.decompress(dump.read_bytes()).decode()
    assert "-- PostgreSQL database dump complete" in sql
    assert "DROP TABLE IF EXISTS public.events_event;" in sql  # restorable over a database
    assert '"beo": "BEO-42"' in sql
    checksum = dump.with_name(dump.name + ".sha256").read_text()
    assert checksum == f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {dump.name}\n"
    manifest = json.loads(dump.with_name(dump.name[:30] + ".manifest.json").read_text())
    assert manifest["database"]["file"] == dump.name
    assert manifest["database"]["sha256"] == checksum.split()[0]
    assert manifest["row_counts"]["events_event"] == len(events)
    assert manifest["row_counts"]["auth_user"] == 1
    assert manifest["media"] is None
    assert summary.startswith(f"Backup {dump.name}: ")
    assert "no off-site storage configured" in summary


def test_backup_files_are_readable_by_their_owner_only(backup_dir):
    call_command("backup_db", verbosity=0)

    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    for path in backup_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_the_backup_run_is_recorded_with_its_summary(backup_dir):
    make_events(2)

    call_command("backup_db", verbosity=0)

    run = MaintenanceRun.objects.get(operation="backup_db")
    assert run.outcome == Outcome.SUCCESS
    assert run.summary["file"] == the_backup(backup_dir).name
    assert run.summary["rows"] >= 3  # 2 events, their owner (and the running record)
    assert run.summary["bytes"] == the_backup(backup_dir).stat().st_size


def test_media_files_are_backed_up_when_there_are_any(backup_dir, media_root):
    (media_root / "menus").mkdir()
    (media_root / "menus" / "gala.pdf").write_bytes(b"%PDF-1.7 gala menu")
    (media_root / "logo.png").write_bytes(b"\x89PNG fake")

    call_command("backup_db", verbosity=0)

    (archive,) = backup_dir.glob("beo_automation_media_*.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["media/logo.png", "media/menus/gala.pdf"]
        gala = tar.extractfile("media/menus/gala.pdf")
        assert gala is not None
        assert gala.read() == b"%PDF-1.7 gala menu"
    assert archive.with_name(archive.name + ".sha256").exists()
    manifest = json.loads(next(backup_dir.glob("*.manifest.json")).read_text())
    assert manifest["media"]["files"] == 2


def test_no_media_archive_without_media_files(backup_dir, media_root):
    call_command("backup_db", verbosity=0)

    assert list(backup_dir.glob("beo_automation_media_*")) == []


def fake_set(directory: Path, age: timedelta, *, media: bool = False) -> list[Path]:
    stamp = (datetime.now(UTC) - age).strftime(STAMP_FORMAT)
    names = [
        f"beo_automation_{stamp}.sql.gz",
        f"beo_automation_{stamp}.sql.gz.sha256",
        f"beo_automation_{stamp}.manifest.json",
    ]
    if media:
        names += [
            f"beo_automation_media_{stamp}.tar.gz",
            f"beo_automation_media_{stamp}.tar.gz.sha256",
        ]
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in names]
    for path in paths:
        path.write_bytes(b"old")
    return paths


def test_retention_deletes_whole_sets_older_than_the_retention_by_their_timestamp(
    backup_dir, settings
):
    settings.BACKUP_RETENTION_DAYS = 30
    expired = fake_set(backup_dir, timedelta(days=31), media=True)
    kept = fake_set(backup_dir, timedelta(days=29))
    unrelated = backup_dir / "notes.txt"
    unrelated.write_text("operator notes")
    # A copy resets mtime; the name's timestamp is what counts.
    for path in expired:
        os.utime(path)

    call_command("backup_db", verbosity=0)

    assert not any(path.exists() for path in expired)
    assert all(path.exists() for path in kept)
    assert unrelated.exists()
    run = MaintenanceRun.objects.get(operation="backup_db")
    assert sorted(run.summary["deleted_local"]) == sorted(p.name for p in expired)


def test_stale_partial_files_of_interrupted_backups_are_cleaned_up(backup_dir):
    backup_dir.mkdir(parents=True)
    stale = backup_dir / "beo_automation_20200101_000000.sql.gz.partial"
    fresh = backup_dir / "beo_automation_20991231_000000.sql.gz.partial"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(stale, (two_days_ago, two_days_ago))

    call_command("backup_db", verbosity=0)

    assert not stale.exists()
    assert fresh.exists()  # may belong to a backup still being written


def test_retention_never_deletes_the_newest_set():
    now = datetime.now(UTC)
    files = local_files(Path("/nonexistent"))
    assert files == []
    from maintenance.services.backup_files import BackupFile

    old = [
        BackupFile(
            name=f"beo_automation_{s}.sql.gz",
            stamp=now - timedelta(days=d),
            size=1,
            location="local",
        )
        for s, d in (("a", 40), ("b", 50))
    ]
    assert expired_stamps(old, days=30) == {now - timedelta(days=50)}
    assert expired_stamps(old, days=0) == set()


def test_retention_zero_keeps_everything(backup_dir, settings):
    settings.BACKUP_RETENTION_DAYS = 0
    ancient = fake_set(backup_dir, timedelta(days=3000))

    call_command("backup_db", verbosity=0)

    assert all(path.exists() for path in ancient)


def test_the_backup_is_uploaded_off_site_and_retention_applies_there(backup_dir, offsite, settings):
    settings.BACKUP_RETENTION_DAYS = 30
    remote_expired = fake_set(offsite, timedelta(days=45))
    remote_kept = fake_set(offsite, timedelta(days=5))

    summary = call_command("backup_db", verbosity=0)

    dump = the_backup(backup_dir)
    uploaded = offsite / dump.name
    assert uploaded.read_bytes() == dump.read_bytes()
    for sidecar in (dump.name + ".sha256", dump.name[:30] + ".manifest.json"):
        assert (offsite / sidecar).read_bytes() == (backup_dir / sidecar).read_bytes()
    assert not any(p.exists() for p in remote_expired)
    assert all(p.exists() for p in remote_kept)
    assert "uploaded 3 files off-site, deleted 3 there" in summary


def test_no_upload_keeps_the_backup_local(backup_dir, offsite):
    call_command("backup_db", "--no-upload", verbosity=0)

    assert the_backup(backup_dir).exists()
    assert list(offsite.iterdir()) == []


def test_a_failed_upload_fails_the_run_but_keeps_the_local_backup(backup_dir, settings, tmp_path):
    not_a_directory = tmp_path / "offsite-is-a-file"
    not_a_directory.write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(not_a_directory)},
        },
    }

    with pytest.raises(
        CommandError, match=r"to the off-site storage failed: .* The local backup is intact"
    ):
        call_command("backup_db", verbosity=0)

    assert the_backup(backup_dir).exists()
    assert MaintenanceRun.objects.get(operation="backup_db").outcome == Outcome.FAILED


def test_output_dir_writes_elsewhere(tmp_path, backup_dir):
    target = tmp_path / "elsewhere" / "nested"

    call_command("backup_db", "--output-dir", str(target), verbosity=0)

    assert the_backup(target).exists()
    assert not backup_dir.exists()


def test_an_output_dir_that_is_a_file_is_an_operator_error(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")

    with pytest.raises(CommandError, match="is not a directory: choose another --output-dir"):
        call_command("backup_db", "--output-dir", str(a_file), verbosity=0)


def test_an_output_dir_that_cannot_be_created_is_an_operator_error(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")

    with pytest.raises(CommandError, match=r"Cannot create the backup directory .*Not a directory"):
        call_command("backup_db", "--output-dir", str(a_file / "sub"), verbosity=0)


def test_backup_without_pg_dump_exits_2_saying_how_to_install_it(tmp_path):
    result = manage(
        "backup_db", DATABASE_URL=database_url(), PATH=str(tmp_path), BACKUP_DIR=str(tmp_path)
    )

    assert result.returncode == 2
    assert "pg_dump was not found on the PATH" in result.stderr
    assert "postgresql-client" in result.stderr
    assert list(tmp_path.glob("*.sql.gz*")) == []


def test_recorded_row_counts_match_the_dump_while_events_are_written(backup_dir):
    owner = make_events(20)[0].owner_id
    stop = threading.Event()
    written = []

    def write_events() -> None:
        with pg() as conn:
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO events_event (type, payload, priority, status, created_at, "
                    "updated_at, available_at, attempts, max_attempts, last_error, request_hash, "
                    "request_id, owner_id) VALUES ('beo.created', '{}', 1, 'pending', now(), "
                    "now(), now(), 0, 5, '', '', '', %s)",
                    [owner],
                )
                written.append(1)

    writer = threading.Thread(target=write_events)
    writer.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        call_command("backup_db", verbosity=0)
    finally:
        stop.set()
        writer.join()

    manifest = json.loads(next(backup_dir.glob("*.manifest.json")).read_text())
    sql = gzip.decompress(the_backup(backup_dir).read_bytes()).decode()
    copy_block = sql.split("COPY public.events_event ", 1)[1].split("\n\\.\n", 1)[0]
    dumped = len(copy_block.splitlines()) - 1
    assert dumped == manifest["row_counts"]["events_event"]
    assert 40 <= dumped <= Event.objects.count()
