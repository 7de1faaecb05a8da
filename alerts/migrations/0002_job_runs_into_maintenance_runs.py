"""Alerts job runs move into maintenance.MaintenanceRun, the one record of every job's runs.

A JobRun becomes a finished run of operation `job`: its duration in seconds, `success` or
`failed`. Backwards, those four jobs' runs move back into a recreated JobRun table.
"""

from datetime import timedelta

from django.db import migrations

JOBS = ("evaluate_alerts", "escalate_incidents", "retry_notifications", "send_test_alert")
BATCH = 1000


def job_runs_forward(apps, schema_editor):
    JobRun = apps.get_model("alerts", "JobRun")
    MaintenanceRun = apps.get_model("maintenance", "MaintenanceRun")
    batch = []
    for job_run in JobRun.objects.order_by("id").iterator(chunk_size=BATCH):
        batch.append(
            MaintenanceRun(
                operation=job_run.job,
                arguments={},
                trigger=job_run.trigger,
                triggered_by=job_run.triggered_by,
                host="",
                started_at=job_run.started_at,
                finished_at=job_run.started_at + timedelta(milliseconds=job_run.duration_ms),
                duration_seconds=round(job_run.duration_ms / 1000, 3),
                outcome="success" if job_run.succeeded else "failed",
                summary=job_run.summary,
                error=job_run.error,
            )
        )
        if len(batch) >= BATCH:
            MaintenanceRun.objects.bulk_create(batch)
            batch = []
    MaintenanceRun.objects.bulk_create(batch)


def job_runs_backward(apps, schema_editor):
    JobRun = apps.get_model("alerts", "JobRun")
    MaintenanceRun = apps.get_model("maintenance", "MaintenanceRun")
    runs = MaintenanceRun.objects.filter(operation__in=JOBS).exclude(outcome="running")
    JobRun.objects.bulk_create(
        (
            JobRun(
                job=run.operation,
                trigger=run.trigger,
                triggered_by=run.triggered_by,
                started_at=run.started_at,
                duration_ms=(run.duration_seconds or 0.0) * 1000,
                succeeded=run.outcome == "success",
                summary=run.summary,
                error=run.error,
            )
            for run in runs.order_by("id").iterator(chunk_size=BATCH)
        ),
        batch_size=BATCH,
    )
    runs.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_alerts_incidents_notifications"),
        ("maintenance", "0001_maintenance_runs"),
    ]

    operations = [
        migrations.RunPython(job_runs_forward, job_runs_backward, elidable=True),
        migrations.DeleteModel(name="JobRun"),
    ]
