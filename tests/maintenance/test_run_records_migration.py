"""alerts 0002 moves every alerts JobRun into MaintenanceRun, on PostgreSQL and on SQLite."""

from __future__ import annotations

import json

import pytest

from tests.maintenance.helpers import sqlite_env
from tests.subprocess_env import manage, python

# Migrate to before the move, write two job runs, migrate forward, print what became of them.
MOVE = """
import django, json; django.setup()
from datetime import datetime, timezone
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

before = [("alerts", "0001_alerts_incidents_notifications")]
executor = MigrationExecutor(connection)
executor.migrate(before)
JobRun = executor.loader.project_state(before).apps.get_model("alerts", "JobRun")
started = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
JobRun.objects.create(job="evaluate_alerts", trigger="schedule", triggered_by="celery beat",
    started_at=started, duration_ms=1500.0, succeeded=True, summary={"firing": 2})
JobRun.objects.create(job="send_test_alert", trigger="command", triggered_by="manage.py x (ops)",
    started_at=started, duration_ms=20.0, succeeded=False, error="RuntimeError: boom")
executor = MigrationExecutor(connection)
executor.migrate(executor.loader.graph.leaf_nodes())
from maintenance.models import MaintenanceRun
print(json.dumps([
    [r.operation, r.trigger, r.triggered_by, r.duration_seconds, r.outcome, r.summary, r.error,
     r.finished_at.isoformat()]
    for r in MaintenanceRun.objects.order_by("operation")
]))
print("jobrun table left:", "alerts_jobrun" in connection.introspection.table_names())
"""

EXPECTED = [
    [
        "evaluate_alerts",
        "schedule",
        "celery beat",
        1.5,
        "success",
        {"firing": 2},
        "",
        "2026-11-30T12:00:01.500000+00:00",
    ],
    [
        "send_test_alert",
        "command",
        "manage.py x (ops)",
        0.02,
        "failed",
        {},
        "RuntimeError: boom",
        "2026-11-30T12:00:00.020000+00:00",
    ],
]


def moved(output: str) -> list:
    lines = output.strip().splitlines()
    assert lines[-1] == "jobrun table left: False"
    return json.loads(lines[-2])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_job_runs_move_into_maintenance_runs_on_postgresql():
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        exec(MOVE, {})  # noqa: S102 - the migration script above, in this process's test database
    assert moved(out.getvalue()) == EXPECTED


def test_job_runs_move_into_maintenance_runs_on_sqlite(tmp_path):
    env = sqlite_env(tmp_path)
    migrated = manage("migrate", "-v", "0", timeout=180, **env)
    assert migrated.returncode == 0, migrated.stderr

    result = python(MOVE, timeout=180, **env)

    assert result.returncode == 0, result.stderr
    assert moved(result.stdout) == EXPECTED
