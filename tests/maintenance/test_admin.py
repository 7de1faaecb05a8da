"""Maintenance runs in the admin: read-only, newest first; starting an operation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from maintenance.models import MaintenanceRun, Outcome, Trigger

CHANGELIST = "admin:maintenance_maintenancerun_changelist"
RUN = "admin:maintenance_maintenancerun_run"


def make_run(operation: str, minutes_ago: int, **fields) -> MaintenanceRun:
    values = {
        "trigger": Trigger.SCHEDULE,
        "triggered_by": "celery beat",
        "outcome": Outcome.SUCCESS,
        "summary": {"moved": 12},
        **fields,
    }
    return MaintenanceRun.objects.create(
        operation=operation, started_at=timezone.now() - timedelta(minutes=minutes_ago), **values
    )


@pytest.mark.django_db
def test_the_changelist_shows_runs_newest_first(client, superuser):
    make_run("vacuum_db", 60)
    make_run("backup_db", 5, error="", duration_seconds=3.2)
    make_run("archive_events", 30, outcome=Outcome.FAILED, error="Could not lock")
    client.force_login(superuser)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    operations = [run.operation for run in response.context["cl"].result_list]
    assert operations == ["backup_db", "archive_events", "vacuum_db"]
    body = response.content.decode()
    assert "Could not lock" in body
    assert "3.2 s" in body
    assert "Run an operation" in body


@pytest.mark.django_db
def test_runs_are_read_only_in_the_admin(client, superuser):
    run = make_run("backup_db", 1)
    client.force_login(superuser)

    detail = client.get(reverse("admin:maintenance_maintenancerun_change", args=[run.pk]))
    add = client.get(reverse("admin:maintenance_maintenancerun_add"))
    delete = client.post(
        reverse("admin:maintenance_maintenancerun_delete", args=[run.pk]), {"post": "yes"}
    )
    changed = client.post(
        reverse("admin:maintenance_maintenancerun_change", args=[run.pk]), {"operation": "x"}
    )

    assert detail.status_code == 200
    assert "&quot;moved&quot;: 12" in detail.content.decode()
    assert 'name="operation"' not in detail.content.decode()
    assert add.status_code == 403
    assert delete.status_code == 403
    assert changed.status_code == 403
    run.refresh_from_db()
    assert run.operation == "backup_db"


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_start_operations(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_maintenancerun"))
    client.force_login(staff_user)

    listing = client.get(reverse(CHANGELIST))
    page = client.get(reverse(RUN))
    post = client.post(reverse(RUN), {"operation": "backup_db"})

    assert listing.status_code == 200
    assert "Run an operation" not in listing.content.decode()
    assert page.status_code == 403
    assert post.status_code == 403


@pytest.mark.django_db
def test_an_unknown_operation_is_refused_by_the_form(client, superuser):
    client.force_login(superuser)

    response = client.post(reverse(RUN), {"operation": "drop_everything"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.postgres
@pytest.mark.redis
def test_starting_an_operation_runs_its_task_recorded_with_the_admin_user(
    client, superuser, celery_worker
):
    client.force_login(superuser)

    response = client.post(reverse(RUN), {"operation": "prune_runs"}, follow=True)

    assert "Queued: Prune old maintenance run records" in response.content.decode()
    deadline = time.monotonic() + 30
    while not MaintenanceRun.objects.filter(
        operation="prune_runs", outcome=Outcome.SUCCESS
    ).exists():
        assert time.monotonic() < deadline, "the worker did not run the operation"
        time.sleep(0.1)
    run = MaintenanceRun.objects.get(operation="prune_runs")
    assert (run.trigger, run.triggered_by) == (Trigger.ADMIN, superuser.username)


@pytest.mark.django_db
def test_an_alert_evaluation_run_shows_its_measurements_per_rule(client, superuser):
    run = make_run(
        "evaluate_alerts",
        1,
        summary={
            "firing": 1,
            "measurements": {
                "memory": {"checks": [{"firing": True, "message": "memory 91% > 85%"}]},
                "connections": {"not_measured": "SQLite has no connection count", "checks": []},
            },
        },
    )
    client.force_login(superuser)

    response = client.get(reverse("admin:maintenance_maintenancerun_change", args=[run.pk]))

    body = response.content.decode()
    assert "<th>memory</th>" in body
    assert "✗ memory 91% &gt; 85%" in body or "✗ memory 91% > 85%" in body
    assert "not measured: SQLite has no connection count" in body


@pytest.mark.django_db
def test_routine_job_runs_are_hidden_by_default_with_a_toggle(client, superuser):
    make_run("evaluate_alerts", 1)
    make_run("retry_notifications", 2)
    make_run("evaluate_alerts", 3, outcome=Outcome.FAILED, error="boom")
    make_run("evaluate_alerts", 4, trigger=Trigger.COMMAND)
    make_run("backup_db", 5)
    client.force_login(superuser)

    default = client.get(reverse(CHANGELIST))
    shown = [(r.operation, r.outcome, r.trigger) for r in default.context["cl"].result_list]
    # A failed routine run, or one an operator started, is news; a successful tick is not.
    assert shown == [
        ("evaluate_alerts", "failed", "schedule"),
        ("evaluate_alerts", "success", "command"),
        ("backup_db", "success", "schedule"),
    ]
    assert "Hidden when successful" in default.content.decode()

    everything = client.get(reverse(CHANGELIST), {"routine": "shown"})
    assert len(everything.context["cl"].result_list) == 5
    only = client.get(reverse(CHANGELIST), {"routine": "only"})
    assert {r.operation for r in only.context["cl"].result_list} == {
        "evaluate_alerts",
        "retry_notifications",
    }


@pytest.mark.django_db
def test_the_runs_list_colours_outcomes_with_classes_not_inline_styles(client, superuser):
    make_run("backup_db", 5, outcome=Outcome.FAILED, error="x" * 500)
    client.force_login(superuser)
    body = client.get(reverse(CHANGELIST)).content.decode()
    assert '<span class="beo-status beo-status--failed">failed</span>' in body
    assert 'class="beo-cut"' in body
    assert 'style="' not in body.split("<body", 1)[1]
