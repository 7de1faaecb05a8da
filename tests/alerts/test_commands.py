"""manage.py send_test_alert and evaluate_alerts; the Celery tasks run the same services."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerts.models import Notification, NotificationAttempt, NotificationKind
from alerts.tasks import escalate_incidents, evaluate_alerts, retry_notifications
from maintenance.models import MaintenanceRun, Outcome
from tests.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db


def test_send_test_alert_reports_success_per_channel(channel, capsys):
    call_command("send_test_alert", "--message", "Is this thing on?")

    out = capsys.readouterr().out
    assert f"✓ json://127.0.0.1:{channel.port}/hook: delivered in" in out
    assert "Test alert delivered to 1 of 1 channels" in out
    (body,) = channel.bodies()
    assert body["title"].startswith("[TEST] beo-automation")
    assert body["message"] == "Is this thing on?"
    notification = Notification.objects.get()
    assert notification.kind == NotificationKind.TEST
    assert notification.requested_by.startswith("manage.py send_test_alert (")
    assert NotificationAttempt.objects.get().succeeded


def test_send_test_alert_names_the_failing_channel_and_exits_non_zero(settings, capsys):
    with Receiver().running() as good, Receiver().running() as bad:
        bad.fail_next(500)
        settings.ALERT_NOTIFY_URLS = f"{good.url('/ok')}, {bad.url('/broken')}"

        with pytest.raises(CommandError, match=r"1 of 2 channels.*1 failed"):
            call_command("send_test_alert")

    out = capsys.readouterr().out
    assert f"✓ json://127.0.0.1:{good.port}/ok: delivered" in out
    assert f"✗ json://127.0.0.1:{bad.port}/broken: Failed to send JSON POST notification" in out
    # A test alert is one attempt: no retries queued.
    assert Notification.objects.filter(status="failed").count() == 1


def test_send_test_alert_without_channels_says_what_to_set(settings):
    settings.ALERT_NOTIFY_URLS = ""
    with pytest.raises(CommandError, match="set ALERT_NOTIFY_URLS"):
        call_command("send_test_alert")


def test_send_test_alert_reports_an_invalid_url_without_leaking_it(settings, channel, capsys):
    settings.ALERT_NOTIFY_URLS = f"{channel.url()} nosuchservice://secret-token@x"
    with pytest.raises(CommandError, match="1 of 2 channels"):
        call_command("send_test_alert")
    out = capsys.readouterr().out
    assert "✗ URL 2 (nosuchservice://…): not a valid Apprise URL" in out
    assert "secret-token" not in out


def test_an_invalid_notify_url_fails_the_system_check(settings):
    from alerts.checks import notify_urls_are_valid

    settings.ALERT_NOTIFY_URLS = "json://ok.example/hook nosuchservice://x"
    (error,) = notify_urls_are_valid(None)
    assert error.id == "alerts.E001"
    assert "URL 2" in error.msg


def test_evaluate_alerts_prints_each_check_and_a_summary(capsys, settings):
    settings.ALERT_MEMORY_PCT = 0
    call_command("evaluate_alerts")
    out = capsys.readouterr().out
    assert "✗ memory" in out
    assert "HIGH High Memory Usage" in out
    assert "✓ database" in out
    assert "Evaluated" in out
    assert "firing" in out
    run = MaintenanceRun.objects.get()
    assert run.operation == "evaluate_alerts"
    assert run.trigger == "command"
    assert run.triggered_by.startswith("manage.py evaluate_alerts (")
    assert run.outcome == Outcome.SUCCESS
    assert run.summary["firing"] >= 1
    assert run.summary["measurements"]["memory"]["checks"][0]["firing"] is True


def test_evaluate_alerts_json(capsys):
    call_command("evaluate_alerts", "--json")
    report = json.loads(capsys.readouterr().out)
    assert {r["rule"] for r in report["rules"]} >= {"database", "memory", "disk", "event_queue"}
    assert report["database_ok"] is True


def test_the_evaluate_task_runs_the_same_service():
    result = evaluate_alerts.apply().get()
    assert result["database_ok"] is True
    run = MaintenanceRun.objects.get()
    assert (run.operation, run.trigger, run.triggered_by) == (
        "evaluate_alerts",
        "schedule",
        "celery beat",
    )


def test_the_escalation_and_retry_tasks_return_their_counts_and_are_recorded():
    assert escalate_incidents.apply().get() == {"overdue": 0, "escalated": 0, "resolved": 0}
    assert retry_notifications.apply().get() == {"requeued": 0, "reclaimed": 0}
    assert set(MaintenanceRun.objects.values_list("operation", flat=True)) == {
        "escalate_incidents",
        "retry_notifications",
    }


def test_retry_notifications_command(capsys):
    call_command("retry_notifications")
    assert "Re-queued 0 notifications, reclaimed 0" in capsys.readouterr().out
    run = MaintenanceRun.objects.get()
    assert run.summary == {"requeued": 0, "reclaimed": 0}
    assert run.triggered_by.startswith("manage.py retry_notifications (")


def test_a_failing_job_is_recorded_with_its_error(monkeypatch):
    from alerts import evaluation

    def broken(**kwargs):
        raise RuntimeError("disk read failed")

    monkeypatch.setattr(evaluation, "alerts_evaluate", broken)
    with pytest.raises(RuntimeError):
        call_command("evaluate_alerts")
    run = MaintenanceRun.objects.get()
    assert run.outcome == Outcome.FAILED
    assert run.error == "RuntimeError: disk read failed"


def test_a_test_alert_run_is_recorded_with_the_outcome_per_channel(settings, capsys):
    with Receiver().running() as good, Receiver().running() as bad:
        bad.fail_next(500)
        settings.ALERT_NOTIFY_URLS = f"{good.url('/ok')} {bad.url('/broken')}"
        with pytest.raises(CommandError):
            call_command("send_test_alert")
    run = MaintenanceRun.objects.get(operation="send_test_alert")
    assert run.outcome == Outcome.FAILED
    assert run.summary["delivered"] == [f"json://127.0.0.1:{good.port}/ok"]
    assert list(run.summary["failed"]) == [f"json://127.0.0.1:{bad.port}/broken"]


def test_alerts_job_runs_older_than_their_retention_are_pruned_and_others_kept(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.ALERT_EVALUATION_RETENTION_DAYS = 7
    long_ago = timezone.now() - timedelta(days=8)
    old, backup = (
        MaintenanceRun.objects.create(
            operation=operation, trigger="schedule", started_at=long_ago, outcome=Outcome.SUCCESS
        )
        for operation in ("evaluate_alerts", "backup_db")
    )

    evaluate_alerts.apply().get()

    assert not MaintenanceRun.objects.filter(pk=old.pk).exists()
    # Maintenance runs keep MAINTENANCE_RUN_RETENTION_DAYS (pruned by prune_runs).
    assert MaintenanceRun.objects.filter(pk=backup.pk).exists()
    assert MaintenanceRun.objects.filter(operation="evaluate_alerts").count() == 1
