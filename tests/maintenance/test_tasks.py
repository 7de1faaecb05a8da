"""The scheduled side: beat entries, the Celery tasks calling the same services, and alerts
for failed unattended runs."""

from __future__ import annotations

import time

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings

from maintenance import tasks
from maintenance.models import MaintenanceRun, Outcome, Trigger
from maintenance.services.locks import operation_lock
from tests.maintenance.helpers import old_completed_events

EXPECTED = {
    "backup_db": ("maintenance.backup_db", crontab(minute="0", hour="2")),
    "archive_events": ("maintenance.archive_events", crontab(minute="0", hour="3")),
    "vacuum_db": ("maintenance.vacuum_db", crontab(minute="0", hour="4", day_of_week="0")),
    "reindex_db": ("maintenance.reindex_db", crontab(minute="0", hour="5", day_of_month="1")),
    "verify_backup": ("maintenance.verify_backup", crontab(minute="0", hour="6", day_of_week="0")),
    "prune_maintenance_runs": ("maintenance.prune_runs", crontab(minute="30", hour="4")),
}


def test_every_maintenance_job_is_on_the_beat_schedule_with_an_expiry():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    for name, (task, cron) in EXPECTED.items():
        assert schedule[name]["task"] == task, name
        assert schedule[name]["schedule"] == cron, name
        assert schedule[name]["options"]["expires"] > 0, name


def test_maintenance_tasks_run_long_and_are_not_redelivered():
    for task in (tasks.backup_db, tasks.archive_events, tasks.vacuum_db, tasks.verify_backup):
        assert task.acks_late is False
        assert task.soft_time_limit == django_settings.MAINTENANCE_TASK_TIME_LIMIT
        assert task.time_limit > task.soft_time_limit


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_scheduled_backup_runs_the_backup_service(backup_dir):
    result = tasks.backup_db()

    run = MaintenanceRun.objects.get(operation="backup_db")
    assert (run.trigger, run.triggered_by, run.outcome) == (
        Trigger.SCHEDULE,
        "celery beat",
        Outcome.SUCCESS,
    )
    assert (backup_dir / run.summary["file"]).exists()
    assert result["summary"].startswith(f"Backup {run.summary['file']}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_scheduled_archive_uses_the_configured_age_and_batch_size(settings):
    settings.ARCHIVE_AFTER_DAYS = 30
    settings.ARCHIVE_BATCH_SIZE = 2
    old_completed_events(3, days=31)

    tasks.archive_events()

    run = MaintenanceRun.objects.get(operation="archive_events")
    assert run.arguments == {"days": 30, "batch_size": 2, "dry_run": False}
    assert run.summary["moved"] == 3
    assert run.summary["batches"] == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scheduled_vacuum_reindex_verify_and_prune_record_their_runs(backup_dir, restore_role):
    tasks.backup_db()
    tasks.vacuum_db()
    tasks.reindex_db()
    tasks.verify_backup()
    tasks.prune_runs()

    outcomes = dict(MaintenanceRun.objects.values_list("operation", "outcome"))
    assert outcomes == {
        "backup_db": "success",
        "vacuum_db": "success",
        "reindex_db": "success",
        "verify_backup": "success",
        "prune_runs": "success",
    }


def alerts_named(name: str) -> list:
    from alerts.models import Alert

    return list(Alert.objects.filter(name=name))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_scheduled_backup_raises_a_critical_alert(settings, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    settings.BACKUP_DIR = blocked / "backups"

    with pytest.raises(Exception, match="Cannot create the backup directory"):
        tasks.backup_db()

    run = MaintenanceRun.objects.get(operation="backup_db")
    assert run.outcome == Outcome.FAILED
    (alert,) = alerts_named("Maintenance backup_db failed")
    assert alert.severity == "critical"
    assert "Cannot create the backup directory" in alert.message
    assert alert.metadata["run_id"] == run.pk
    assert alert.metadata["operation"] == "backup_db"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refused_scheduled_vacuum_raises_a_high_alert():
    with operation_lock("vacuum_db"), pytest.raises(Exception, match="already running"):
        tasks.vacuum_db()

    (alert,) = alerts_named("Maintenance vacuum_db failed")
    assert alert.severity == "high"
    assert MaintenanceRun.objects.get().outcome == Outcome.REFUSED


@pytest.mark.postgres
@pytest.mark.redis
def test_a_worker_runs_the_maintenance_task_from_the_queue(celery_worker):
    tasks.prune_runs.apply_async()

    deadline = time.monotonic() + 30
    while (
        not MaintenanceRun.objects.filter(operation="prune_runs")
        .exclude(outcome=Outcome.RUNNING)
        .exists()
    ):
        assert time.monotonic() < deadline, "the worker did not run the task"
        time.sleep(0.1)
    run = MaintenanceRun.objects.get(operation="prune_runs")
    assert (run.trigger, run.outcome) == (Trigger.SCHEDULE, Outcome.SUCCESS)
