"""Hostile operator input for the maintenance commands: each ends in one CommandError line
that says what is wrong, and nothing is written, deleted or recorded.

(A NUL byte cannot be passed on a real command line; call_command can, and tasks or scripts
calling the services can too.)
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from maintenance.models import MaintenanceRun
from tests.maintenance.helpers import database_url, make_events, scratch_databases_left
from tests.subprocess_env import ROOT, manage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def refused(*args: str) -> str:
    """Run a command that must fail; its one-line message."""
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, verbosity=0)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "Unexpected error" not in message
    assert "Traceback" not in message
    return message


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def checkout_backups() -> list[str]:
    return sorted(p.name for p in ROOT.rglob("beo_automation_*") if ".venv" not in p.parts)


# --- backup_db --output-dir ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_dir", "message"),
    [
        ("", "--output-dir is empty: name a directory (or leave the option out for BACKUP_DIR)"),
        ("   ", "--output-dir is empty: name a directory (or leave the option out for BACKUP_DIR)"),
        ("a\x00b", "The output_dir argument contains a NUL character (\\x00): nothing was done."),
    ],
    ids=["empty", "blank", "NUL"],
)
def test_backup_refuses_an_unusable_output_dir(backup_dir, output_dir, message):
    before = checkout_backups()

    assert refused("backup_db", "--output-dir", output_dir) == message

    assert checkout_backups() == before
    assert not MaintenanceRun.objects.exclude(outcome="failed").exists()


@pytest.mark.parametrize("where", [".", "maintenance", "/", ROOT.parent.as_posix()])
def test_backup_refuses_the_checkout_its_parents_and_anything_inside(backup_dir, where):
    before = checkout_backups()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        message = refused("backup_db", "--output-dir", where)
    finally:
        os.chdir(cwd)

    assert message.startswith(f"--output-dir {where} is ")
    assert f"the application's directory ({ROOT})" in message
    assert checkout_backups() == before
    assert not MaintenanceRun.objects.filter(outcome="success").exists()


def test_backup_to_an_unwritable_directory_says_so(backup_dir):
    message = refused("backup_db", "--output-dir", "/sys/kernel")

    assert message.startswith("Cannot write to the backup directory /sys/kernel (")
    assert "set BACKUP_DIR / --output-dir to a writable directory" in message


def test_backup_to_a_file_or_below_one_says_so(tmp_path, backup_dir):
    plain = tmp_path / "plain"
    plain.write_text("x")

    assert refused("backup_db", "--output-dir", str(plain)) == (
        f"{plain} is not a directory: choose another --output-dir"
    )
    below = refused("backup_db", "--output-dir", str(plain / "below"))
    assert below.startswith(
        f"Cannot create the backup directory {plain / 'below'}: Not a directory"
    )
    assert plain.read_text() == "x"


# --- archive_events, prune_maintenance_runs --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "99999999999"], "--days must be between 0 and 36,500 (got 99999999999)"),
        (["--days", "36501"], "--days must be between 0 and 36,500 (got 36501)"),
        (["--days", "-5"], "--days must be between 0 and 36,500 (got -5)"),
        (
            ["--batch-size", "0"],
            "--batch-size must be between 1 and 100000 (got 0); larger batches hold their row "
            "locks longer",
        ),
        (["--days", "abc"], "Error: argument --days: invalid int value: 'abc'"),
    ],
)
def test_archive_refuses_out_of_range_numbers(args, message):
    make_events(1)

    assert refused("archive_events", *args) == message
    assert not MaintenanceRun.objects.exists()


@pytest.mark.parametrize("days", ["99999999999", "0", "-1"])
def test_prune_refuses_out_of_range_days(days):
    message = refused("prune_maintenance_runs", "--days", days)

    assert message == (
        f"--days must be between 1 and 36,500 (got {days}): run records are the audit trail"
    )


# --- vacuum_db, reindex_db, table_sizes, generate_secret_key ---------------------------------


@pytest.mark.parametrize("command", ["vacuum_db", "reindex_db"])
@pytest.mark.parametrize("table", ["", "events_event\x00"], ids=["empty", "NUL"])
def test_table_names_must_be_names(command, table):
    args = [command, table] + (["--no-input"] if command == "vacuum_db" else [])

    message = refused(*args)

    assert message.startswith(
        (
            "A table name is empty or contains a NUL character",
            "The tables argument contains a NUL character",
        )
    )
    # At most the refused attempt is on record; nothing ran.
    assert not MaintenanceRun.objects.exclude(outcome="failed").exists()


def test_table_sizes_refuses_a_negative_limit():
    assert refused("table_sizes", "--limit", "-1") == (
        "Error: argument --limit: must be between 0 and 1,000,000, not -1"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-3", "Error: argument --bytes: must be between 1 and 1,024, not -3"),
        ("999999999999", "Error: argument --bytes: must be between 1 and 1,024, not 999999999999"),
        ("abc", "Error: argument --bytes: 'abc' is not a whole number"),
        ("10", "--bytes 10 gives fewer than 50 characters"),
    ],
)
def test_generate_secret_key_refuses_unusable_sizes(value, message):
    assert refused("generate_secret_key", "--bytes", value) == message


# --- restore_db and verify_backup: unusable arguments and hostile files -------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["", "--no-input"],
            "Name the backup file to restore: a path, a name in BACKUP_DIR or an off-site name "
            "(`list_backups` lists them).",
        ),
        (["x\x00.sql", "--no-input"], "FILE contains a NUL character (\\x00): nothing was done."),
        (
            ["x.sql", "--database", "", "--no-input"],
            "--database is empty: name the database to restore into, or leave the option out "
            "to restore into the configured one. Nothing was restored.",
        ),
        (
            ["x.sql", "--database", "d" * 64, "--no-input"],
            "--database is 64 bytes long; PostgreSQL names are at most 63 (a longer one would be "
            "cut short). Nothing was restored.",
        ),
        (
            ["x.sql", "--database", "a\x00b", "--no-input"],
            "--database contains a NUL character (\\x00): nothing was done.",
        ),
    ],
    ids=["empty file", "NUL file", "empty database", "long database", "NUL database"],
)
def test_restore_refuses_unusable_arguments(args, message):
    assert refused("restore_db", *args) == message
    assert not MaintenanceRun.objects.exists()


def test_an_empty_database_option_never_restores_into_the_configured_database(
    backup_dir, restore_role
):
    """`--database "$UNSET"` must not fall back to the live database, even with a good file."""
    make_events(2)
    call_command("backup_db", verbosity=0)
    backup = max(backup_dir.glob("beo_automation_*.sql.gz"))

    message = refused("restore_db", str(backup), "--database", "", "--no-input")

    assert message.startswith("--database is empty")
    assert not MaintenanceRun.objects.filter(operation="restore_db").exists()


@pytest.fixture
def dump_file(backup_dir) -> Path:
    """A good backup (its checksum beside it) to damage or point at."""
    make_events(2)
    call_command("backup_db", verbosity=0)
    return max(backup_dir.glob("beo_automation_*.sql.gz"))


@pytest.mark.parametrize("command", ["restore_db", "verify_backup"])
def test_a_symbolic_link_is_not_followed(command, dump_file, tmp_path):
    link = tmp_path / "beo_automation_20260101_000000.sql.gz"
    link.symlink_to(dump_file)
    args = [command, str(link)] + (
        ["--database", "x", "--no-input"] if command == "restore_db" else []
    )

    message = refused(*args)

    assert message == (
        f"{link} is a symbolic link: restore reads backup files only, not links. Pass the file "
        "it points to if you trust it."
    )
    assert scratch_databases_left() == []


@pytest.mark.parametrize("command", ["restore_db", "verify_backup"])
def test_a_directory_is_not_a_backup(command, tmp_path):
    directory = tmp_path / "beo_automation_20260101_000000.sql.gz"
    directory.mkdir()
    args = [command, str(directory)] + (["--no-input"] if command == "restore_db" else [])

    assert refused(*args) == (
        f"{directory} is a directory, not a backup file (`list_backups` lists them)"
    )


def test_a_fifo_is_not_read(tmp_path):
    fifo = tmp_path / "beo_automation_20260101_000000.sql"
    os.mkfifo(fifo)

    assert refused("verify_backup", str(fifo)) == (
        f"{fifo} is not a regular file, not a backup file (`list_backups` lists them)"
    )


def test_a_file_that_is_not_gzip_is_refused(tmp_path, restore_role):
    fake = tmp_path / "beo_automation_20260101_000000.sql.gz"
    fake.write_bytes(b"SELECT 1;\n-- PostgreSQL database dump complete\n")

    message = refused("verify_backup", str(fake))

    assert message.startswith(f"{fake.name} is truncated or corrupt (Not a gzipped file")
    assert scratch_databases_left() == []


def test_a_checksum_file_that_is_a_directory_is_refused(dump_file):
    sidecar = dump_file.with_name(dump_file.name + ".sha256")
    sidecar.unlink()
    sidecar.mkdir()

    assert refused("verify_backup", dump_file.name) == (
        f"Checksum unreadable for {dump_file.name}: the file does not match "
        f"{sidecar.name}, so it is corrupt or was altered. Use another backup "
        "(`manage.py list_backups`)."
    )


def test_a_binary_checksum_file_is_refused(dump_file):
    sidecar = dump_file.with_name(dump_file.name + ".sha256")
    sidecar.write_bytes(b"\xff\xfe" * 10_000)

    assert refused("verify_backup", dump_file.name).startswith(
        f"Checksum unreadable for {dump_file.name}"
    )


def test_a_huge_line_fails_with_a_bounded_message(tmp_path, restore_role):
    huge = tmp_path / "beo_automation_20260101_000000.sql.gz"
    with gzip.open(huge, "wb", compresslevel=1) as out:
        out.write(b"SELECT '" + b"x" * (20 * 2**20) + b"' +;\n")
        out.write(b"--\n-- PostgreSQL database dump complete\n--\n")

    message = refused("verify_backup", str(huge))

    assert message.startswith("Restore failed and was rolled back: ")
    assert len(message) < 1000
    assert scratch_databases_left() == []


def test_verify_refuses_a_nul_in_its_file_argument():
    assert refused("verify_backup", "a\x00b") == (
        "The file argument contains a NUL character (\\x00): nothing was done."
    )


# --- the database itself is not there -----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["vacuum_db", "--no-input"],
        ["backup_db"],
        ["archive_events"],
        ["table_sizes"],
        ["process_events", "--time-budget", "1"],
        ["sweep_events"],
        ["escalate_incidents"],
        ["retry_notifications"],
    ],
)
def test_a_database_that_does_not_exist_is_named_without_its_password(args, tmp_path):
    url = database_url("no_such_database_here").replace("://postgres", "://postgres:s3cr3t-pw", 1)

    result = manage(*args, DATABASE_URL=url, BACKUP_DIR=str(tmp_path / "b"), LOG_LEVEL="error")

    assert result.returncode == 1, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert 'database "no_such_database_here" does not exist' in last
    assert "'no_such_database_here' on 127.0.0.1:" in last or "no_such_database_here" in last
    assert "couldn't get a connection" not in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert files_in(tmp_path / "b") == []


@pytest.mark.parametrize(
    "args", [["process_events", "--time-budget", "1"], ["sweep_events"], ["escalate_incidents"]]
)
def test_a_database_without_the_apps_tables_says_to_migrate(args, scratch_database):
    from maintenance.services.database import database_create

    database_create(scratch_database)

    result = manage(*args, DATABASE_URL=database_url(scratch_database), LOG_LEVEL="error")

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "run `manage.py migrate` first" in last
    assert "Traceback" not in result.stderr
