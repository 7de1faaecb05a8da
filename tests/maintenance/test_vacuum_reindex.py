"""vacuum_db and reindex_db on real PostgreSQL tables."""

from __future__ import annotations

import io
import os
import pty
import subprocess
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from maintenance.models import MaintenanceRun, Outcome
from tests.maintenance.helpers import database_url, make_events, pg
from tests.subprocess_env import PYTHON, ROOT, child_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def table_stats(table: str) -> tuple[Any, Any]:
    with pg() as conn:
        row = conn.execute(
            "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = %s",
            [table],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def relfilenode(relation: str) -> int:
    with pg() as conn:
        row = conn.execute("SELECT pg_relation_filenode(%s::regclass)", [relation]).fetchone()
    assert row is not None
    return int(row[0])


def index_filenodes(table: str) -> dict[str, int]:
    with pg() as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text, pg_relation_filenode(indexrelid) "
            "FROM pg_index WHERE indrelid = %s::regclass",
            [table],
        ).fetchall()
    return dict(rows)


def test_vacuum_analyzes_every_table_by_default():
    make_events(3)
    started = timezone.now()

    summary = call_command("vacuum_db", verbosity=0)

    for table in ("events_event", "auth_user", "maintenance_maintenancerun"):
        last_vacuum, last_analyze = table_stats(table)
        assert last_vacuum >= started, table
        assert last_analyze >= started, table
    run = MaintenanceRun.objects.get(operation="vacuum_db")
    assert run.outcome == Outcome.SUCCESS
    assert run.summary["tables"] > 10
    assert summary.startswith(f"VACUUM ANALYZE of {run.summary['tables']} tables in")


def test_vacuum_of_named_tables_touches_only_those(capsys):
    call_command("vacuum_db", "events_event", "auth_user")

    out = capsys.readouterr().out
    assert "[1/2] events_event" in out
    assert "[2/2] auth_user" in out
    assert "VACUUM ANALYZE of 2 tables" in out
    assert MaintenanceRun.objects.get().summary["tables"] == 2


def test_vacuum_without_analyze_leaves_statistics_alone():
    _, analyzed_before = table_stats("events_subscription")
    started = timezone.now()

    call_command("vacuum_db", "events_subscription", "--no-analyze", verbosity=0)

    last_vacuum, last_analyze = table_stats("events_subscription")
    assert last_vacuum is not None
    assert last_vacuum >= started
    assert last_analyze == analyzed_before


def test_vacuum_full_needs_confirmation_when_not_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    before = relfilenode("events_event")

    with pytest.raises(CommandError, match="stdin is not a terminal: pass --no-input"):
        call_command("vacuum_db", "events_event", "--full", verbosity=0)

    assert relfilenode("events_event") == before
    assert not MaintenanceRun.objects.exists()


def test_vacuum_full_with_no_input_rewrites_the_table(capsys):
    make_events(5)
    before = relfilenode("events_event")

    call_command("vacuum_db", "events_event", "--full", "--no-input")

    assert relfilenode("events_event") != before
    assert "VACUUM FULL ANALYZE of 1 table" in capsys.readouterr().out


def test_vacuum_of_an_unknown_table_names_the_known_ones():
    with pytest.raises(CommandError) as excinfo:
        call_command("vacuum_db", "events", verbosity=0)

    message = str(excinfo.value)
    assert message.startswith("Unknown table: events.")
    assert "events_event" in message
    assert "table_sizes" in message


def test_reindex_rebuilds_every_index_of_the_named_table(capsys):
    make_events(3)
    before = index_filenodes("events_event")

    call_command("reindex_db", "events_event")

    after = index_filenodes("events_event")
    assert set(after) == set(before)
    assert all(after[name] != before[name] for name in before)
    out = capsys.readouterr().out
    assert f"Reindexed 1 table ({len(before)} indexes)" in out


def test_reindex_defaults_to_the_project_tables():
    before = index_filenodes("maintenance_maintenancerun")

    call_command("reindex_db", verbosity=0)

    assert index_filenodes("maintenance_maintenancerun") != before
    run = MaintenanceRun.objects.exclude(pk__in=[]).get(operation="reindex_db")
    assert run.summary["targets"] >= 10
    assert run.summary["invalid_indexes"] == []


def test_reindex_database_rebuilds_indexes_concurrently():
    before = index_filenodes("events_event")

    summary = call_command("reindex_db", "--database", verbosity=0)

    assert index_filenodes("events_event") != before
    assert summary.startswith("Reindexed database test_beo_")


def test_reindex_refuses_tables_and_database_together():
    with pytest.raises(CommandError, match="Name tables or pass --database, not both"):
        call_command("reindex_db", "events_event", "--database", verbosity=0)


def test_reindex_of_an_unknown_table_is_a_clean_error():
    with pytest.raises(CommandError, match="Unknown table: nope"):
        call_command("reindex_db", "nope", verbosity=0)


def test_vacuum_full_on_a_terminal_runs_after_the_operator_types_yes():
    before = relfilenode("events_event")
    answers: dict[str, tuple[int, str, str]] = {}
    for answer in ("yes", "no"):
        primary, secondary = pty.openpty()
        process = subprocess.Popen(
            [PYTHON, str(ROOT / "manage.py"), "vacuum_db", "events_event", "--full"],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(DATABASE_URL=database_url()),
            text=True,
        )
        os.close(secondary)
        os.write(primary, f"{answer}\n".encode())
        out, err = process.communicate(timeout=60)
        os.close(primary)
        answers[answer] = (process.returncode, out, err)

    returncode, out, err = answers["yes"]
    assert returncode == 0, err
    assert "takes an ACCESS EXCLUSIVE lock on events_event" in err
    assert "VACUUM FULL ANALYZE of 1 table" in out
    assert relfilenode("events_event") != before
    returncode, _, err = answers["no"]
    assert returncode == 1
    assert "VACUUM FULL cancelled: nothing was done." in err
