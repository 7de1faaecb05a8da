"""Run records, overlap refusal, interrupted runs, pruning, and clean operator errors."""

from __future__ import annotations

import fcntl
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from maintenance.models import MaintenanceRun, Outcome, Trigger
from maintenance.services.locks import lock_path, operation_lock
from maintenance.services.run_records import INTERRUPTED, current_os_user
from tests.maintenance.helpers import database_url, sqlite_env
from tests.subprocess_env import free_port, manage

pytestmark = pytest.mark.postgres


@pytest.mark.django_db(transaction=True)
def test_a_command_run_is_recorded_with_who_what_when_and_summary():
    call_command("table_sizes", verbosity=0)

    run = MaintenanceRun.objects.get()
    assert run.operation == "table_sizes"
    assert run.trigger == Trigger.COMMAND
    assert run.triggered_by == current_os_user()
    assert run.outcome == Outcome.SUCCESS
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at
    assert run.duration_seconds is not None
    assert run.duration_seconds >= 0
    assert run.summary["tables"] > 5
    assert run.error == ""


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_is_recorded_with_its_error():
    with pytest.raises(CommandError, match="Unknown table: no_such_table"):
        call_command("vacuum_db", "no_such_table", verbosity=0)

    run = MaintenanceRun.objects.get()
    assert run.operation == "vacuum_db"
    assert run.outcome == Outcome.FAILED
    assert "Unknown table: no_such_table" in run.error
    assert run.arguments == {"tables": ["no_such_table"], "full": False, "analyze": True}


@pytest.mark.django_db(transaction=True)
def test_a_second_run_of_the_same_operation_is_refused_and_recorded():
    with operation_lock("archive_events") as held:
        assert held
        with pytest.raises(CommandError, match="archive_events is already running") as excinfo:
            call_command("archive_events", verbosity=0)

    assert excinfo.value.returncode == 1
    refused = MaintenanceRun.objects.get()
    assert refused.outcome == Outcome.REFUSED
    assert "This run did nothing" in refused.error


@pytest.mark.django_db(transaction=True)
def test_the_refusal_names_the_run_in_progress():
    with operation_lock("vacuum_db"):
        holder = MaintenanceRun.objects.create(
            operation="vacuum_db", trigger=Trigger.SCHEDULE, triggered_by="celery beat", host="h:1"
        )
        with pytest.raises(CommandError, match=f"run #{holder.pk}, started .* by celery beat"):
            call_command("vacuum_db", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_an_overlapping_command_exits_non_zero_with_the_reason():
    with operation_lock("vacuum_db"):
        result = manage("vacuum_db", DATABASE_URL=database_url())

    assert result.returncode == 1
    assert "vacuum_db is already running" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_different_operations_do_not_block_each_other():
    with operation_lock("backup_db"):
        call_command("table_sizes", verbosity=0)
    assert MaintenanceRun.objects.get().outcome == Outcome.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_free_again_after_a_run():
    call_command("table_sizes", verbosity=0)
    call_command("table_sizes", verbosity=0)
    assert list(MaintenanceRun.objects.values_list("outcome", flat=True)) == [
        Outcome.SUCCESS,
        Outcome.SUCCESS,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_run_left_running_by_a_dead_process_is_marked_interrupted():
    dead = MaintenanceRun.objects.create(
        operation="table_sizes", trigger=Trigger.COMMAND, host="gone:123"
    )

    call_command("table_sizes", verbosity=0)

    dead.refresh_from_db()
    assert dead.outcome == Outcome.FAILED
    assert dead.error == INTERRUPTED
    assert MaintenanceRun.objects.filter(outcome=Outcome.SUCCESS).count() == 1


@pytest.mark.django_db(transaction=True)
def test_prune_deletes_finished_runs_older_than_the_retention_only():
    now = timezone.now()
    old = MaintenanceRun.objects.create(
        operation="backup_db",
        trigger=Trigger.SCHEDULE,
        outcome=Outcome.SUCCESS,
        started_at=now - timedelta(days=100),
    )
    old_running = MaintenanceRun.objects.create(
        operation="vacuum_db", trigger=Trigger.SCHEDULE, started_at=now - timedelta(days=100)
    )
    recent = MaintenanceRun.objects.create(
        operation="backup_db",
        trigger=Trigger.SCHEDULE,
        outcome=Outcome.FAILED,
        started_at=now - timedelta(days=10),
    )

    out = call_command("prune_maintenance_runs", "--days", "90", verbosity=0)

    assert out == "Pruned 1 maintenance run records older than 90 days."
    remaining = set(MaintenanceRun.objects.values_list("id", flat=True))
    assert old.pk not in remaining
    assert {old_running.pk, recent.pk} <= remaining


@pytest.mark.django_db(transaction=True)
def test_prune_refuses_a_retention_below_one_day():
    with pytest.raises(CommandError, match="--days must be between 1 and 36,500"):
        call_command("prune_maintenance_runs", "--days", "0", verbosity=0)


def test_an_unreachable_database_gives_an_actionable_error_without_traceback():
    closed_port = free_port()
    result = manage(
        "backup_db",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/nowhere",
        DB_CONNECT_TIMEOUT="1",
    )

    assert result.returncode == 1
    assert "Cannot connect to the database 'nowhere' on 127.0.0.1" in result.stderr
    assert "Check DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_option_value_is_a_clean_error():
    result = manage("archive_events", "--days", "ninety")

    assert result.returncode != 0
    assert "argument --days: invalid int value: 'ninety'" in result.stderr
    assert "Traceback" not in result.stderr


def test_sqlite_refuses_an_overlapping_run_with_a_file_lock(tmp_path):
    env = sqlite_env(tmp_path)
    assert manage("migrate", "-v", "0", **env).returncode == 0
    path = lock_path("vacuum_db", database=str(tmp_path / "db.sqlite3"))

    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = manage("vacuum_db", **env)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    allowed = manage("vacuum_db", **env)

    assert refused.returncode == 1
    assert "vacuum_db is already running" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert "VACUUM" in allowed.stdout
