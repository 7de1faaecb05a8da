"""A backup file is untrusted input: restore_db and verify_backup run none of its code.

Each hostile file is a real dump of this run's data with one attack injected after pg_dump's
header, and a matching .sha256 (the checksum says nothing about who wrote the file). The attack
would create a marker file; the marker must not exist afterwards, the command must end in one
CommandError, and the target database must hold exactly what it held before.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from psycopg import sql

from tests.maintenance.helpers import (
    current_database_name,
    database_url,
    make_events,
    pg,
    scratch_databases_left,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_role"),
]

EVENT_ROWS = "SELECT id, type, payload::text, status FROM events_event ORDER BY id"
META_REFUSED = "the file contains a psql meta-command"


def rows(dbname: str) -> list[tuple]:
    with pg(dbname) as conn:
        return conn.execute(EVENT_ROWS).fetchall()


@pytest.fixture
def marker() -> Iterator[Path]:
    """A path in /tmp that the attack would create: writable by this user and by the database
    server's user alike (the server runs on this machine), so a server-side attack shows too."""
    path = Path("/tmp") / f"beo-restore-attack-{secrets.token_hex(6)}"
    yield path
    if path.exists():
        path.unlink()


@pytest.fixture
def plain_dump() -> bytes:
    """pg_dump's plain SQL of the test database (as backup_db makes it) with 4 events."""
    make_events(4)
    result = subprocess.run(
        [
            "pg_dump",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--dbname",
            database_url().replace("postgres://", "postgresql://"),
        ],
        capture_output=True,
        check=True,
    )
    assert b"\\restrict " in result.stdout  # pg_dump 15.14+: the guard must cope with its key
    return result.stdout


@pytest.fixture
def target(backup_dir: Path, scratch_database: str) -> tuple[str, list[tuple]]:
    """A scratch database restored from a backup of 2 events: (name, its rows)."""
    make_events(2)
    call_command("backup_db", verbosity=0)
    backup = max(backup_dir.glob("beo_automation_*.sql.gz"))
    call_command(
        "restore_db", str(backup), "--database", scratch_database, "--create", "--no-input"
    )
    for path in backup_dir.iterdir():
        path.unlink()
    return scratch_database, rows(scratch_database)


def hostile_file(directory: Path, dump: bytes, attack: str) -> Path:
    """The dump with `attack` after its header, beside a .sha256 that matches it."""
    head, separator, rest = dump.partition(b"SET statement_timeout")
    assert separator
    data = head + attack.encode() + b"\n" + separator + rest
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "beo_automation_20260101_000000.sql"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return path


def dump_key(dump: bytes) -> str:
    line = next(x for x in dump.splitlines() if x.startswith(b"\\restrict "))
    return line.split()[1].decode()


META_ATTACKS = {
    "shell": "\\! touch {marker}",
    "output pipe": "\\o |touch {marker}\nSELECT 1;\n\\o",
    "client copy to program": "\\copy (SELECT 1) TO PROGRAM 'touch {marker}'",
    "gexec": "SELECT 'COPY (SELECT 1) TO PROGRAM ''touch {marker}''' \\gexec",
    "set and shell": "\\set x 1\n\\! touch {marker}",
    "include": "\\include {included}",
    "inline shell": "SELECT 1 \\! touch {marker}",
}


@pytest.mark.parametrize("attack", META_ATTACKS.values(), ids=META_ATTACKS.keys())
def test_restore_runs_no_meta_command_of_the_file(target, plain_dump, tmp_path, marker, attack):
    scratch, before = target
    included = tmp_path / "included.sql"
    included.write_text(f"\\! touch {marker}\n")
    path = hostile_file(
        tmp_path / "in", plain_dump, attack.format(marker=marker, included=included)
    )

    with pytest.raises(CommandError) as excinfo:
        call_command("restore_db", str(path), "--database", scratch, "--no-input", verbosity=0)

    assert META_REFUSED in str(excinfo.value)
    assert f"Database {scratch!r} is unchanged." in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert not marker.exists()
    assert rows(scratch) == before


def test_the_dumps_own_unrestrict_key_does_not_lift_the_restriction(
    target, plain_dump, tmp_path, marker
):
    """An attacker knows the key in the file; psql runs under this run's key, not that one."""
    scratch, before = target
    attack = f"\\unrestrict {dump_key(plain_dump)}\n\\! touch {marker}"
    path = hostile_file(tmp_path, plain_dump, attack)

    with pytest.raises(CommandError, match=META_REFUSED):
        call_command("restore_db", str(path), "--database", scratch, "--no-input", verbosity=0)

    assert not marker.exists()
    assert rows(scratch) == before


def test_a_guessed_unrestrict_key_is_refused(target, plain_dump, tmp_path, marker):
    scratch, before = target
    path = hostile_file(tmp_path, plain_dump, f"\\unrestrict {'a' * 64}\n\\! touch {marker}")

    with pytest.raises(CommandError, match=META_REFUSED):
        call_command("restore_db", str(path), "--database", scratch, "--no-input", verbosity=0)

    assert not marker.exists()
    assert rows(scratch) == before


SERVER_ATTACKS = {
    "copy to program": "COPY (SELECT 1) TO PROGRAM 'touch {marker}';",
    "copy from program": "CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'touch {marker}';",
    "server file write": "COPY (SELECT 1) TO '{marker}';",
    "become superuser": "SET ROLE postgres; COPY (SELECT 1) TO PROGRAM 'touch {marker}';",
    "grant itself": (
        "GRANT pg_execute_server_program TO CURRENT_USER; "
        "COPY (SELECT 1) TO PROGRAM 'touch {marker}';"
    ),
}


@pytest.mark.parametrize("attack", SERVER_ATTACKS.values(), ids=SERVER_ATTACKS.keys())
def test_restore_runs_no_server_side_program(target, plain_dump, tmp_path, marker, attack):
    scratch, before = target
    path = hostile_file(tmp_path, plain_dump, attack.format(marker=marker))

    with pytest.raises(CommandError) as excinfo:
        call_command("restore_db", str(path), "--database", scratch, "--no-input", verbosity=0)

    message = str(excinfo.value)
    assert message.startswith("Restore failed and was rolled back: ")
    assert f"Database {scratch!r} is unchanged." in message
    assert not marker.exists()
    assert rows(scratch) == before


@pytest.mark.parametrize(
    "attack",
    [META_ATTACKS["shell"], SERVER_ATTACKS["copy to program"]],
    ids=["meta-command", "server program"],
)
def test_verify_backup_runs_no_code_of_the_file(plain_dump, backup_dir, marker, attack):
    path = hostile_file(backup_dir, plain_dump, attack.format(marker=marker))

    with pytest.raises(CommandError, match="rolled back"):
        call_command("verify_backup", path.name, verbosity=0)

    assert not marker.exists()
    assert scratch_databases_left() == []


def test_restore_refuses_a_superuser_role(target, plain_dump, tmp_path, settings, marker):
    """Without RESTORE_DATABASE_USER the app's role restores; the suite's is a superuser."""
    scratch, before = target
    settings.RESTORE_DATABASE_USER = ""
    path = hostile_file(
        tmp_path, plain_dump, SERVER_ATTACKS["copy to program"].format(marker=marker)
    )

    with pytest.raises(CommandError) as excinfo:
        call_command("restore_db", str(path), "--database", scratch, "--no-input", verbosity=0)

    message = str(excinfo.value)
    assert message.startswith("Refusing to restore as role 'postgres': it is superuser (postgres")
    assert "Set RESTORE_DATABASE_USER" in message
    assert "Nothing was restored." in message
    assert not marker.exists()
    assert rows(scratch) == before


def test_verify_refuses_a_superuser_role_and_drops_its_scratch(plain_dump, backup_dir, settings):
    settings.RESTORE_DATABASE_USER = ""
    call_command("backup_db", verbosity=0)

    with pytest.raises(CommandError, match="Refusing to restore as role 'postgres'"):
        call_command("verify_backup", "--latest", verbosity=0)

    assert scratch_databases_left() == []


@pytest.fixture
def privileged_role(restore_role_name) -> Iterator[str]:
    """A role of this run that the check must refuse (granted something per test)."""
    name = f"{restore_role_name}_x"
    with pg("postgres") as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    with pg("postgres") as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.mark.parametrize(
    "case",
    [
        ("GRANT pg_execute_server_program TO {role}", "member of pg_execute_server_program"),
        ("GRANT pg_write_server_files TO {role}", "member of pg_write_server_files"),
        ("ALTER ROLE {role} CREATEROLE", "CREATEROLE"),
        ("GRANT postgres TO {role}", "superuser (postgres)"),
    ],
    ids=["server programs", "server files", "createrole", "member of a superuser"],
)
def test_restore_refuses_a_role_that_reaches_the_server(
    target, backup_dir, settings, privileged_role, case
):
    grant, reason = case
    scratch, before = target
    with pg("postgres") as conn:
        conn.execute(sql.SQL(grant).format(role=sql.Identifier(privileged_role)))
    settings.RESTORE_DATABASE_USER = privileged_role
    call_command("backup_db", verbosity=0)
    backup = max(backup_dir.glob("beo_automation_*.sql.gz"))

    with pytest.raises(CommandError) as excinfo:
        call_command("restore_db", str(backup), "--database", scratch, "--no-input", verbosity=0)

    assert f"Refusing to restore as role {privileged_role!r}: it is {reason}" in str(excinfo.value)
    assert rows(scratch) == before


def test_restore_as_an_unknown_role_names_it(target, backup_dir, settings):
    scratch, before = target
    settings.RESTORE_DATABASE_USER = "no_such_role_" + secrets.token_hex(3)
    call_command("backup_db", verbosity=0)
    backup = max(backup_dir.glob("beo_automation_*.sql.gz"))

    with pytest.raises(CommandError) as excinfo:
        call_command("restore_db", str(backup), "--database", scratch, "--no-input", verbosity=0)

    message = str(excinfo.value)
    assert message.startswith(
        f"Cannot connect to {scratch!r} as the restore role {settings.RESTORE_DATABASE_USER!r}"
    )
    assert "\n" not in message
    assert rows(scratch) == before


def test_a_good_dump_with_pg_dumps_own_restrict_lines_restores(target, plain_dump, tmp_path):
    """The guard drops exactly pg_dump's \\restrict/\\unrestrict pair; the rest restores."""
    scratch, _ = target
    path = hostile_file(tmp_path, plain_dump, "")

    summary = call_command(
        "restore_db", str(path), "--database", scratch, "--no-input", verbosity=0
    )

    assert "checksum verified" in summary
    assert rows(scratch) == rows(current_database_name())


def test_the_restored_objects_belong_to_the_restore_role(target, restore_role):
    scratch, _ = target
    with pg(scratch) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    assert owners == [(restore_role,)]
    assert os.environ["RESTORE_DATABASE_USER"] == restore_role
