"""verify_backup, restore_db and list_backups against real PostgreSQL.

Restores go into scratch databases named after this run's test database (the `scratch_database`
fixture drops them); the test database itself is only ever read.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from maintenance.models import MaintenanceRun, Outcome
from tests.maintenance.helpers import (
    current_database_name,
    database_url,
    make_events,
    pg,
    scratch_databases_left,
)
from tests.subprocess_env import PYTHON, ROOT, child_env, manage

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_role"),
]

EVENT_ROWS = (
    "SELECT id, type, payload::text, priority, status, created_at, owner_id, attempts "
    "FROM events_event ORDER BY id"
)


def rows(dbname: str, query: str = EVENT_ROWS) -> list[tuple]:
    with pg(dbname) as conn:
        return conn.execute(query).fetchall()


def make_backup(backup_dir: Path) -> Path:
    call_command("backup_db", verbosity=0)
    return max(backup_dir.glob("beo_automation_*.sql.gz"))


def restore_into(scratch: str, backup: Path, *, create: bool = True) -> str:
    args = [str(backup), "--database", scratch, "--no-input"]
    return call_command("restore_db", *args, *(["--create"] if create else []), verbosity=0)


def test_backup_verify_restore_round_trips_counts_and_content(backup_dir, scratch_database):
    make_events(5, payload={"beo": "BEO-9", "menu": ["soup", "fish"]})
    backup = make_backup(backup_dir)

    verified = call_command("verify_backup", "--latest", verbosity=0)
    restored = restore_into(scratch_database, backup)

    assert verified.startswith(f"Verified {backup.name}: restored ")
    assert "row counts match the manifest" in verified
    assert scratch_databases_left() == [scratch_database]  # verify dropped its own
    assert rows(scratch_database) == rows(current_database_name())
    assert len(rows(scratch_database)) == 5
    assert "row counts match the manifest" in restored
    runs = dict(MaintenanceRun.objects.values_list("operation", "outcome"))
    assert runs == {"backup_db": "success", "verify_backup": "success", "restore_db": "success"}


def test_verify_records_its_outcome_for_list_backups(backup_dir, capsys):
    backup = make_backup(backup_dir)
    call_command("verify_backup", backup.name, verbosity=0)
    run = MaintenanceRun.objects.get(operation="verify_backup")

    call_command("list_backups")

    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if backup.name + " " in line)
    assert "checksum ok" in line
    assert f"verify success 0 min ago (run #{run.pk})" in line
    assert run.summary["backup"] == backup.name
    assert run.summary["mismatches"] == []


def test_verify_fails_when_restored_counts_differ_from_the_manifest(backup_dir):
    make_events(2)
    backup = make_backup(backup_dir)
    manifest_path = next(backup_dir.glob("*.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["row_counts"]["events_event"] = 3
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match=r"events_event: 2 rows restored, 3 recorded"):
        call_command("verify_backup", backup.name, verbosity=0)

    run = MaintenanceRun.objects.get(operation="verify_backup")
    assert run.outcome == Outcome.FAILED
    assert run.summary["mismatches"] == ["events_event: 2 rows restored, 3 recorded"]
    assert scratch_databases_left() == []


def truncate(path: Path, *, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_verify_refuses_a_backup_whose_checksum_does_not_match(backup_dir):
    make_events(20)
    backup = make_backup(backup_dir)
    truncate(backup)

    with pytest.raises(CommandError, match=f"Checksum mismatch for {backup.name}"):
        call_command("verify_backup", backup.name, verbosity=0)
    assert scratch_databases_left() == []


def test_verify_of_a_truncated_backup_fails_cleanly_and_drops_the_scratch_database(backup_dir):
    make_events(20)
    backup = make_backup(backup_dir)
    truncate(backup)
    backup.with_name(backup.name + ".sha256").unlink()

    with pytest.raises(CommandError, match="is truncated or corrupt"):
        call_command("verify_backup", "--latest", verbosity=0)

    assert scratch_databases_left() == []
    assert MaintenanceRun.objects.get(operation="verify_backup").outcome == Outcome.FAILED


@pytest.fixture
def restored(backup_dir, scratch_database):
    """A scratch database restored from a backup of 3 events; returns (name, its rows)."""
    make_events(3)
    restore_into(scratch_database, make_backup(backup_dir))
    return scratch_database, rows(scratch_database)


def newer_backup(backup_dir: Path, *, checksum: bool = False) -> Path:
    """A backup with more events than `restored`'s (the file under test is damaged next)."""
    for path in backup_dir.iterdir():
        path.unlink()
    make_events(4)
    backup = make_backup(backup_dir)
    if not checksum:
        backup.with_name(backup.name + ".sha256").unlink()
    return backup


def test_restore_of_a_truncated_file_fails_and_leaves_the_database_unchanged(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir)
    truncate(backup, keep=0.7)

    with pytest.raises(CommandError, match=r"is truncated or corrupt .* is unchanged"):
        restore_into(scratch, backup, create=False)

    assert rows(scratch) == before


def test_restore_of_a_dump_cut_at_a_statement_boundary_is_refused(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir)
    sql = gzip.decompress(backup.read_bytes()).decode()
    # Everything up to and including the events data: every statement complete, the rest gone.
    cut = sql[: sql.index("\n\\.\n", sql.index("COPY public.events_event ")) + 4]
    plain = backup.with_name(backup.name.removesuffix(".gz"))
    plain.write_text(cut)

    with pytest.raises(CommandError, match="does not end with pg_dump's completion line"):
        restore_into(scratch, plain, create=False)

    assert rows(scratch) == before


def test_restore_of_a_corrupt_file_leaves_the_database_unchanged(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir)
    data = bytearray(backup.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    backup.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="is unchanged"):
        restore_into(scratch, backup, create=False)

    assert rows(scratch) == before


def test_restore_refuses_a_file_whose_checksum_does_not_match(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir, checksum=True)
    truncate(backup, keep=0.9)

    with pytest.raises(CommandError, match="Checksum mismatch"):
        restore_into(scratch, backup, create=False)

    assert rows(scratch) == before


def test_restore_of_a_good_backup_replaces_the_contents(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir, checksum=True)

    summary = restore_into(scratch, backup, create=False)

    assert len(rows(scratch)) == 7
    assert rows(scratch)[:3] == before
    assert "(checksum verified, row counts match the manifest)" in summary


def test_a_failing_statement_rolls_back_the_whole_restore(restored, backup_dir, tmp_path):
    scratch, before = restored
    plain = tmp_path / "beo_automation_20260101_000000.sql"
    # A dump without --clean: its CREATE TABLE fails on the tables that already exist.
    dump = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "--dbname",
            database_url().replace("postgres://", "postgresql://"),
        ],
        capture_output=True,
        check=True,
    )
    plain.write_bytes(dump.stdout)

    with pytest.raises(CommandError) as excinfo:
        restore_into(scratch, plain, create=False)

    message = str(excinfo.value)
    assert "Restore failed and was rolled back" in message
    assert "already exists" in message
    assert "--database NEW_NAME --create" in message
    assert rows(scratch) == before


def test_restore_asks_for_the_database_name_and_refuses_a_wrong_answer(restored, backup_dir):
    scratch, before = restored
    backup = newer_backup(backup_dir)
    env = {"DATABASE_URL": database_url(), "BACKUP_DIR": str(backup_dir)}

    wrong = subprocess.run(
        manage_args("restore_db", str(backup), "--database", scratch),
        input="yes\n",
        capture_output=True,
        text=True,
        env=child(env),
        check=False,
    )
    closed = subprocess.run(
        manage_args("restore_db", str(backup), "--database", scratch),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=child(env),
        check=False,
    )

    assert wrong.returncode == 1
    assert f"Type the database name ({scratch}) to continue" in wrong.stderr
    assert f"You typed 'yes', not '{scratch}': restore cancelled" in wrong.stderr
    assert closed.returncode == 1
    assert "No confirmation was given" in closed.stderr
    assert rows(scratch) == before

    typed = subprocess.run(
        manage_args("restore_db", str(backup), "--database", scratch),
        input=f"{scratch}\n",
        capture_output=True,
        text=True,
        env=child(env),
        check=False,
    )
    assert typed.returncode == 0, typed.stderr
    assert len(rows(scratch)) == 7


def manage_args(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def child(env: dict[str, str]) -> dict[str, str]:
    return child_env(**env)


def test_restore_of_a_missing_file_says_where_it_looked(backup_dir):
    with pytest.raises(CommandError, match=r"Backup file not found: nope.sql.gz .*list_backups"):
        call_command("restore_db", "nope.sql.gz", "--no-input", verbosity=0)


def test_restore_refuses_a_sqlite_backup_on_postgresql(backup_dir, tmp_path):
    image = tmp_path / "beo_automation_20260101_000000.sqlite3.gz"
    image.write_bytes(gzip.compress(b"SQLite format 3\x00"))

    with pytest.raises(
        CommandError, match="is a SQLite backup; the configured database is PostgreSQL"
    ):
        call_command("restore_db", str(image), "--no-input", verbosity=0)


def test_restore_into_a_missing_database_needs_create(backup_dir, scratch_database):
    backup = make_backup(backup_dir)

    with pytest.raises(
        CommandError, match=f"Database '{scratch_database}' does not exist: pass --create"
    ):
        restore_into(scratch_database, backup, create=False)


def test_verify_and_restore_fetch_a_backup_that_is_only_off_site(
    backup_dir, offsite, scratch_database
):
    make_events(2)
    backup = make_backup(backup_dir)
    for path in backup_dir.iterdir():
        path.unlink()

    verified = call_command("verify_backup", backup.name, verbosity=0)
    restore_into(scratch_database, backup.name)  # type: ignore[arg-type]

    assert "checksum ok, row counts match the manifest" in verified
    assert len(rows(scratch_database)) == 2
    assert not any(p.name.startswith(".download-") for p in backup_dir.iterdir())


def test_verify_latest_without_any_backup_says_to_make_one(backup_dir):
    with pytest.raises(CommandError, match=r"No backups in .*: run `manage.py backup_db` first"):
        call_command("verify_backup", "--latest", verbosity=0)


def test_verify_needs_a_file_or_latest_but_not_both():
    with pytest.raises(CommandError, match="Name one backup file, or pass --latest"):
        call_command("verify_backup", verbosity=0)
    with pytest.raises(CommandError, match="Name one backup file, or pass --latest"):
        call_command("verify_backup", "x.sql.gz", "--latest", verbosity=0)


def test_list_backups_shows_local_and_off_site_with_checksum_status(backup_dir, offsite, capsys):
    backup = make_backup(backup_dir)
    # Damage the local copy: the listing must say so.
    truncate(backup, keep=0.99)
    capsys.readouterr()

    call_command("list_backups", "--json")

    listing = json.loads(capsys.readouterr().out)
    by_place = {(b["location"], b["name"]): b for b in listing["backups"]}
    assert by_place[("local", backup.name)]["checksum"] == "mismatch"
    assert by_place[("off-site", backup.name)]["checksum"] == "same as local"
    assert by_place[("local", backup.name)]["last_verification"] is None
    assert listing["offsite_configured"] is True
    assert not any(name.endswith((".sha256", ".json")) for _, name in by_place)


def test_list_backups_without_off_site_storage_says_so(backup_dir, capsys):
    make_backup(backup_dir)
    capsys.readouterr()

    summary = call_command("list_backups")

    assert (
        "Off-site: not configured (set BACKUP_S3_BUCKET or BACKUP_STORAGE_DIR)."
        in capsys.readouterr().out
    )
    assert summary == f"1 local backup files in {backup_dir}, no off-site storage."


def test_restore_into_the_configured_database_keeps_its_own_run_record(restored, backup_dir):
    scratch, _ = restored
    backup = newer_backup(backup_dir, checksum=True)

    result = manage(
        "restore_db",
        str(backup),
        "--no-input",
        DATABASE_URL=database_url(scratch),
        BACKUP_DIR=str(backup_dir),
    )

    assert result.returncode == 0, result.stderr
    assert f"into '{scratch}'" in result.stdout
    assert len(rows(scratch)) == 7
    # The restored table replaced the one the run was recorded in; the record is written again.
    records = rows(
        scratch,
        "SELECT operation, outcome, summary->>'backup' FROM maintenance_maintenancerun "
        "WHERE operation = 'restore_db'",
    )
    assert records == [("restore_db", "success", backup.name)]
    # ...and so does its audit record, for the same run.
    ((run_id,),) = rows(
        scratch, "SELECT id FROM maintenance_maintenancerun WHERE operation = 'restore_db'"
    )
    audit = rows(
        scratch,
        "SELECT object_pk, additional_data->>'outcome', additional_data->>'trigger' "
        "FROM auditlog_logentry WHERE additional_data->>'operation' = 'restore_db'",
    )
    assert (str(run_id), "success", "command") in audit


def test_a_restore_into_another_database_is_on_the_audit_trail_here(restored):
    from auditlog.models import LogEntry

    scratch, _ = restored
    (entry,) = [
        e
        for e in LogEntry.objects.filter(content_type__model="maintenancerun")
        if e.additional_data["operation"] == "restore_db"
    ]
    assert entry.additional_data["outcome"] == "success"
    assert entry.additional_data["arguments"]["database"] == scratch
