"""The embedded default (SQLite): vacuum, reindex, backup, verify and restore work; the
PostgreSQL-only reports say that they need PostgreSQL. Each test runs manage.py in a child
process configured like `make run` without DATABASE_URL/REDIS_URL."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.maintenance.helpers import sqlite_env
from tests.subprocess_env import manage

OLD_EVENTS = """
import django; django.setup()
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from events.models import Event
owner, _ = User.objects.get_or_create(username="sqlite-owner")
old = timezone.now() - timedelta(days=120)
for status in ["completed"] * 5 + ["failed"]:
    Event.objects.create(owner=owner, type="beo.created", payload={}, status=status, created_at=old)
Event.objects.create(owner=owner, type="beo.created", payload={}, status="completed")
"""

EVENTS = """
import django; django.setup()
from django.contrib.auth.models import User
from events.models import Event
owner, _ = User.objects.get_or_create(username="sqlite-owner")
for i in range({count}):
    Event.objects.create(owner=owner, type="beo.created", payload={{"n": i}})
print(Event.objects.count())
"""


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database per module; each test gets a copy."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    migrated = manage("migrate", "-v", "0", timeout=180, **sqlite_env(directory))
    assert migrated.returncode == 0, migrated.stderr
    return directory / "db.sqlite3"


@pytest.fixture
def sqlite_app(tmp_path: Path, migrated_sqlite: Path) -> dict:
    env = sqlite_env(tmp_path)
    shutil.copyfile(migrated_sqlite, tmp_path / "db.sqlite3")
    return env


def add_events(env: dict, count: int) -> int:
    from tests.subprocess_env import python

    result = python(EVENTS.format(count=count), **env)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def event_count(env: dict) -> int:
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM events_event").fetchone()[0])


def test_backup_verify_and_restore_round_trip_on_sqlite(sqlite_app):
    env = sqlite_app
    add_events(env, 3)

    backup = manage("backup_db", **env)
    assert backup.returncode == 0, backup.stderr
    (image,) = Path(env["BACKUP_DIR"]).glob("beo_automation_*.sqlite3.gz")
    assert gzip.decompress(image.read_bytes()).startswith(b"SQLite format 3\x00")
    assert image.with_name(image.name + ".sha256").exists()
    assert add_events(env, 2) == 5

    restore = manage("restore_db", image.name, "--no-input", **env)
    verify = manage("verify_backup", "--latest", **env)
    listing = manage("list_backups", **env)

    assert restore.returncode == 0, restore.stderr
    assert "(checksum verified, row counts match the manifest)" in restore.stdout
    assert event_count(env) == 3
    assert verify.returncode == 0, verify.stderr
    assert "row counts match the manifest" in verify.stdout
    assert "verify success" in listing.stdout


def test_a_truncated_sqlite_backup_is_refused_and_changes_nothing(sqlite_app):
    env = sqlite_app
    add_events(env, 4)
    assert manage("backup_db", **env).returncode == 0
    (image,) = Path(env["BACKUP_DIR"]).glob("beo_automation_*.sqlite3.gz")
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    image.with_name(image.name + ".sha256").unlink()
    add_events(env, 1)

    restore = manage("restore_db", str(image), "--no-input", **env)

    assert restore.returncode == 1
    assert "is truncated or corrupt" in restore.stderr
    assert "Traceback" not in restore.stderr
    assert event_count(env) == 5


def test_vacuum_and_reindex_work_on_sqlite(sqlite_app):
    env = sqlite_app

    vacuum = manage("vacuum_db", **env)
    named = manage("vacuum_db", "events_event", **env)
    reindex = manage("reindex_db", **env)

    assert vacuum.returncode == 0, vacuum.stderr
    assert "SQLite vacuums the whole database file." in vacuum.stdout
    assert named.returncode == 0
    assert "the named tables were analyzed" in named.stdout
    assert reindex.returncode == 0, reindex.stderr
    assert "Reindexed" in reindex.stdout


@pytest.mark.parametrize("command", ["table_sizes", "slow_queries", "index_hints"])
def test_postgresql_only_reports_say_they_need_postgresql(sqlite_app, command):
    result = manage(command, **sqlite_app)

    assert result.returncode == 1
    assert f"{command} needs PostgreSQL; this deployment uses sqlite" in result.stderr
    assert "Traceback" not in result.stderr


def test_restore_refuses_a_postgresql_dump_on_sqlite(sqlite_app, tmp_path):
    dump = tmp_path / "beo_automation_20260101_000000.sql"
    dump.write_text("-- PostgreSQL database dump complete\n")

    result = manage("restore_db", str(dump), "--no-input", **sqlite_app)

    assert result.returncode == 1
    assert "is a PostgreSQL dump; the configured database is sqlite" in result.stderr


def test_archive_events_works_on_sqlite(sqlite_app):
    from tests.subprocess_env import python

    env = sqlite_app
    assert python(OLD_EVENTS, **env).returncode == 0

    result = manage("archive_events", "--batch-size", "2", **env)

    assert result.returncode == 0, result.stderr
    assert "Archived 5 events in 3 batches" in result.stdout
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        live = db.execute("SELECT status, count(*) FROM events_event GROUP BY 1 ORDER BY 1")
        assert live.fetchall() == [("completed", 1), ("failed", 1)]
        assert db.execute("SELECT count(*) FROM events_eventarchive").fetchone()[0] == 5
