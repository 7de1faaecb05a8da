"""The ops overview's numbers, panel by panel, against what the database holds; a part whose
store is down fails alone. Real PostgreSQL and Redis, time under control."""

from __future__ import annotations

import shelve
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.beat import ScheduleEntry
from django.db import connection
from django.utils import timezone

from alerts.models import Alert, Incident, MetricSample, NotificationChannel, Stage
from alerts.notifiers import configured_channels
from beo_automation.ops.overview import NO_CHANNEL_WARNING, ops_overview_get
from events.models import Status
from maintenance.models import MaintenanceRun, Outcome, Trigger
from tests.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db

PARTS = ["health", "alerts", "incidents", "events", "backups", "jobs", "workers", "channels"]
# Dead ports of this helper's range: nothing listens there.
DEAD_DB_PORT = "22999"
DEAD_REDIS_URL = "redis://127.0.0.1:22998/1"


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_the_overview_has_every_part_and_none_failed():
    overview = ops_overview_get()
    assert list(overview) == PARTS
    assert not [name for name, part in overview.items() if "error" in part]


def test_events_of_the_last_24_hours_by_status_and_type_and_the_dead_letter_count(clock):
    now = timezone.now()
    owner = UserFactory()

    def events(count: int, *, hours_ago: float, **fields) -> None:
        for _ in range(count):
            EventFactory(owner=owner, created_at=now - timedelta(hours=hours_ago), **fields)

    events(3, hours_ago=1, status=Status.COMPLETED, type="beo.created")
    events(2, hours_ago=23.9, status=Status.FAILED, type="beo.updated")
    events(1, hours_ago=2, status=Status.PENDING, type="beo.created")
    # 11 more types of one event each: the top 10 by count, the rest in other_count.
    for i in range(11):
        events(1, hours_ago=3, status=Status.COMPLETED, type=f"misc.{i:02d}")
    # Outside the window: not in the 24 h figures, but a failed one is in the dead-letter count.
    events(4, hours_ago=24.1, status=Status.FAILED, type="old.failed")
    events(5, hours_ago=48, status=Status.COMPLETED, type="beo.created")

    part = ops_overview_get()["events"]

    assert part["window_hours"] == 24
    assert part["since"] == (now - timedelta(hours=24)).isoformat()
    assert part["total"] == 17
    assert part["by_status"] == {
        "pending": 1,
        "processing": 0,
        "completed": 14,
        "failed": 2,
        "cancelled": 0,
    }
    assert part["by_type"][:2] == [
        {"type": "beo.created", "count": 4},
        {"type": "beo.updated", "count": 2},
    ]
    assert len(part["by_type"]) == 10
    assert [t["type"] for t in part["by_type"][2:]] == [f"misc.{i:02d}" for i in range(8)]
    assert part["other_count"] == 3  # misc.08-10
    assert part["failed"] == 6  # all time: 2 in the window, 4 before it


def test_open_alerts_by_severity_worst_first_without_the_resolved(clock):
    now = timezone.now()
    for i, severity in enumerate(["low", "critical", "medium", "high"]):
        Alert.objects.create(
            fingerprint=f"f{i}",
            name=f"{severity} alert",
            severity=severity,
            last_seen=now - timedelta(minutes=i),
        )
    Alert.objects.create(
        fingerprint="acked",
        name="acknowledged high",
        severity="high",
        status="acknowledged",
        acknowledged_at=now,
        last_seen=now - timedelta(hours=1),
    )
    Alert.objects.create(
        fingerprint="gone", name="resolved critical", severity="critical", status="resolved"
    )

    part = ops_overview_get()["alerts"]

    assert part["open"] == 5
    assert part["by_severity"] == {"critical": 1, "high": 2, "medium": 1, "low": 1}
    assert [a["name"] for a in part["items"]] == [
        "critical alert",
        "high alert",
        "acknowledged high",
        "medium alert",
        "low alert",
    ]
    acked = part["items"][2]
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_at"] == now.isoformat()
    assert set(acked) == {
        "id",
        "name",
        "severity",
        "status",
        "message",
        "occurrences",
        "first_seen",
        "last_seen",
        "acknowledged_at",
        "incident_id",
    }


def test_incidents_time_left_overdue_and_urgency(clock):
    now = timezone.now()
    overdue = Incident.objects.create(
        title="Overdue", severity="critical", response_due_at=now - timedelta(minutes=5)
    )
    due_soon = Incident.objects.create(
        title="Due soon",
        severity="high",
        stage=Stage.ASSESSED,
        response_due_at=now + timedelta(minutes=10),
    )
    Incident.objects.create(
        title="Acknowledged late",
        severity="medium",
        response_due_at=now - timedelta(hours=1),
        acknowledged_at=now - timedelta(minutes=30),
    )
    Incident.objects.create(
        title="Resolved", severity="critical", stage=Stage.RESOLVED, response_due_at=now
    )

    part = ops_overview_get()["incidents"]

    assert part["open"] == 3
    assert part["overdue"] == 1
    items = {i["title"]: i for i in part["items"]}
    assert [i["title"] for i in part["items"]] == ["Overdue", "Due soon", "Acknowledged late"]
    assert items["Overdue"]["seconds_left"] == -300.0
    assert items["Overdue"]["overdue"] is True
    assert items["Overdue"]["id"] == overdue.pk
    assert items["Due soon"]["seconds_left"] == 600.0
    assert items["Due soon"]["overdue"] is False
    assert items["Due soon"]["stage"] == "assessed"
    assert items["Acknowledged late"]["overdue"] is False  # someone is on it

    clock.shift(timedelta(minutes=11))
    part = ops_overview_get()["incidents"]
    assert part["overdue"] == 2
    later = next(i for i in part["items"] if i["id"] == due_soon.pk)
    assert later["seconds_left"] == -60.0
    assert later["overdue"] is True


def _run(operation: str, *, at: datetime, outcome: str = Outcome.SUCCESS, **fields):
    return MaintenanceRun.objects.create(
        operation=operation,
        trigger=fields.pop("trigger", Trigger.SCHEDULE),
        started_at=at,
        finished_at=at + timedelta(minutes=1),
        duration_seconds=60.0,
        outcome=outcome,
        **fields,
    )


def test_backups_last_success_verification_failure_and_overdue(clock, settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    now = timezone.now()
    _run("backup_db", at=now - timedelta(hours=50), summary={"file": "old.dump", "bytes": 1})
    success = _run(
        "backup_db",
        at=now - timedelta(hours=20, minutes=1),
        summary={"file": "beo-1.dump", "bytes": 123_456},
    )
    verify = _run("verify_backup", at=now - timedelta(hours=10), summary={"backup": "beo-1.dump"})
    # Older than the last success: not the "last failure" the panel reports.
    _run("backup_db", at=now - timedelta(hours=30), outcome=Outcome.FAILED, error="old error")

    part = ops_overview_get()["backups"]

    assert part["max_age_hours"] == 26.0
    assert part["last_success"] == {
        "run_id": success.pk,
        "at": (now - timedelta(hours=20)).isoformat(),
        "age_hours": 20.0,
        "file": "beo-1.dump",
        "bytes": 123_456,
        "verified": True,
        "verify_outcome": "success",
        "verified_at": verify.started_at.isoformat(),
    }
    assert part["last_verify"]["run_id"] == verify.pk
    assert part["last_verify"]["backup"] == "beo-1.dump"
    assert part["last_verify"]["age_hours"] == pytest.approx(10.0, abs=0.1)
    assert part["last_failure"] is None
    assert part["overdue"] is False

    failure = _run("backup_db", at=now - timedelta(hours=1), outcome=Outcome.FAILED, error="disk")
    clock.shift(timedelta(hours=7))  # the success is 27 h old: over BACKUP_MAX_AGE_HOURS
    part = ops_overview_get()["backups"]
    assert part["last_success"]["age_hours"] == 27.0
    assert part["last_failure"] == {
        "run_id": failure.pk,
        "at": (failure.started_at + timedelta(minutes=1)).isoformat(),
        "error": "disk",
    }
    assert part["overdue"] is True


def test_a_backup_never_verified_and_verification_overdue_since_installation(clock, settings):
    settings.BACKUP_VERIFY_MAX_AGE_HOURS = 170
    _run("backup_db", at=timezone.now(), summary={"file": "new.dump", "bytes": 9})
    part = ops_overview_get()["backups"]
    assert part["last_success"]["verified"] is None
    assert part["last_verify"] is None
    assert part["verify_overdue"] is False  # the installation (its migrations) is recent

    clock.shift(timedelta(hours=171))
    assert ops_overview_get()["backups"]["verify_overdue"] is True


def test_recent_runs_hide_routine_beat_runs_like_the_admin(clock):
    now = timezone.now()
    backup = _run("backup_db", at=now - timedelta(hours=2), trigger=Trigger.ADMIN)
    failed = _run(
        "evaluate_alerts", at=now - timedelta(minutes=3), outcome=Outcome.FAILED, error="boom"
    )
    manual = _run("evaluate_alerts", at=now - timedelta(minutes=4), trigger=Trigger.COMMAND)
    for minute in range(30):
        _run("evaluate_alerts", at=now - timedelta(minutes=minute))
        _run("escalate_incidents", at=now - timedelta(minutes=minute))

    recent = ops_overview_get()["jobs"]["recent"]

    assert [r["id"] for r in recent] == [failed.pk, manual.pk, backup.pk]
    assert recent[0]["error"] == "boom"
    assert recent[0]["outcome"] == "failed"
    assert recent[2]["trigger"] == "admin"
    assert recent[2]["duration_seconds"] == 60.0


def test_schedule_next_runs_from_the_beat_schedule(clock, settings, tmp_path):
    clock.move_to(datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC))
    settings.CELERY_BEAT_SCHEDULE = {
        k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k != "vacuum_db"
    }
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(tmp_path / "no-schedule-yet")

    schedule = {e["job"]: e for e in ops_overview_get()["jobs"]["schedule"]}

    assert list(schedule) == [job.name for job in settings.SCHEDULED_JOBS]
    assert schedule["backup_db"] == {
        "job": "backup_db",
        "task": "maintenance.backup_db",
        "cron": "0 2 * * *",
        "enabled": True,
        "next_run_at": "2026-12-03T02:00:00+00:00",
        "seconds_until": 16 * 3600 - 30.0,
    }
    assert schedule["evaluate_alerts"]["seconds_until"] == 30.0
    assert schedule["vacuum_db"]["enabled"] is False
    assert schedule["vacuum_db"]["next_run_at"] is None
    assert schedule["vacuum_db"]["cron"] is None


def test_a_run_beat_missed_is_due_in_the_past(clock, settings, tmp_path):
    """From beat's own record of its last run: a beat that stopped before today's backup shows
    that backup as due hours ago, not as tomorrow's."""
    clock.move_to(datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC))
    path = tmp_path / "celerybeat-schedule"
    with shelve.open(str(path)) as store:  # noqa: S301 - beat's own file format
        store["entries"] = {
            "backup_db": ScheduleEntry(
                name="backup_db",
                task="maintenance.backup_db",
                last_run_at=datetime(2026, 12, 1, 2, 0, 0, tzinfo=UTC),
            )
        }
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(path)

    schedule = {e["job"]: e for e in ops_overview_get()["jobs"]["schedule"]}

    assert schedule["backup_db"]["next_run_at"] == "2026-12-02T02:00:00+00:00"
    assert schedule["backup_db"]["seconds_until"] == -8 * 3600.0
    assert schedule["archive_events"]["next_run_at"] == "2026-12-03T03:00:00+00:00"


def test_no_channel_configured_is_a_warning(settings):
    settings.ALERT_NOTIFY_URLS = ""
    part = ops_overview_get()["channels"]
    assert part == {"configured": 0, "failing": 0, "items": [], "warning": NO_CHANNEL_WARNING}


def test_a_failing_channel(settings, clock):
    settings.ALERT_NOTIFY_URLS = "json://127.0.0.1:22997/failing, json://127.0.0.1:22996/fine"
    settings.ALERT_CHANNEL_FAILING_AFTER = 3
    failing, fine = configured_channels()
    now = timezone.now()
    NotificationChannel.objects.create(
        key=failing.key,
        label=failing.label,
        consecutive_failures=3,
        last_failure_at=now,
        last_error="Connection refused",
    )

    part = ops_overview_get()["channels"]

    assert part["configured"] == 2
    assert part["failing"] == 1
    assert part["warning"] is None
    first, second = part["items"]
    assert first["key"] == failing.key
    assert first["failing"] is True
    assert first["consecutive_failures"] == 3
    assert first["last_failure_at"] == now.isoformat()
    assert first["last_error"] == "Connection refused"
    assert second["key"] == fine.key
    assert second["failing"] is False
    assert second["last_success_at"] is None


def test_metrics_latest_values_and_the_last_hour_as_series(clock):
    now = timezone.now()

    def values(rate: float, pending: int) -> dict:
        return {
            "request_rate": {"title": "Request rate", "value": rate, "threshold": None,
                             "unit": "req/min", "severity": None},
            "error_rate": {"title": "Error rate", "value": 0.2, "threshold": 0.05, "unit": "",
                           "severity": "high"},
            "queue:high": {"title": "Pending events, high", "value": pending, "threshold": None,
                           "unit": "events", "severity": None},
        }  # fmt: skip

    MetricSample.objects.create(at=now - timedelta(minutes=61), values=values(999, 9))
    MetricSample.objects.create(at=now - timedelta(minutes=2), values=values(10, 1))
    latest = now - timedelta(minutes=1)
    MetricSample.objects.create(at=latest, values=values(12.5, 3))

    metrics = ops_overview_get()["health"]["metrics"]

    assert [m["key"] for m in metrics] == ["request_rate", "error_rate", "queue:high"]
    rate = metrics[0]
    assert rate["value"] == 12.5
    assert rate["unit"] == "req/min"
    assert rate["series"] == [
        [(now - timedelta(minutes=2)).isoformat(), 10],
        [latest.isoformat(), 12.5],
    ]
    assert metrics[1]["threshold"] == 0.05
    assert metrics[1]["severity"] == "high"


def test_health_checks_include_workers_and_beat():
    checks = ops_overview_get()["health"]["checks"]
    assert {"database", "memory", "diskSpace", "notifications", "workers", "beat"} <= set(checks)
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["latency_ms"] is not None
    assert checks["beat"]["status"] == "error"  # no beat ran in this test
    assert checks["beat"]["message"]


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_the_database_parts_fail_alone(settings):
    EventFactory()
    alias = connection.settings_dict
    port, pool = alias["PORT"], alias["OPTIONS"].get("pool")

    def reconnect() -> None:
        connection.close()
        if pool:
            connection.close_pool()  # the next connection is a new one, to the port set now

    reconnect()
    # Every new connection (this thread's, the health checks') is refused, and given up on
    # quickly (the pool would wait DB_CONNECT_TIMEOUT for each).
    alias["PORT"] = DEAD_DB_PORT
    if pool:
        alias["OPTIONS"]["pool"] = {**pool, "timeout": 0.3}
    try:
        overview = ops_overview_get()
    finally:
        alias["PORT"] = port
        if pool:
            alias["OPTIONS"]["pool"] = pool
        reconnect()

    assert list(overview) == PARTS
    for name in ("alerts", "incidents", "events", "backups", "jobs"):
        assert set(overview[name]) == {"error"}, name
        assert overview[name]["error"].startswith("OperationalError")
    # No channel configured: nothing to read from the database, the warning still shows.
    assert overview["channels"]["warning"] == NO_CHANNEL_WARNING
    health = overview["health"]
    assert health["status"] == "error"
    assert health["checks"]["database"]["status"] == "error"
    assert health["checks"]["memory"]["status"] in {"ok", "warning"}
    assert health["metrics"] == []
    assert health["metrics_error"].startswith("OperationalError")
    assert overview["workers"]["events_waiting"] is None  # database-backed figure
    assert "mode" in overview["workers"]
    # And back up: every part answers again.
    assert not [name for name, part in ops_overview_get().items() if "error" in part]


def test_with_redis_down_only_what_needs_it_says_so(settings):
    from django.core.cache import cache

    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = DEAD_REDIS_URL
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS_URL},
    }
    cache.close()
    Alert.objects.create(fingerprint="x", name="Still shown", severity="high")
    try:
        overview = ops_overview_get()
    finally:
        cache.close()

    assert not [name for name, part in overview.items() if "error" in part]
    checks = overview["health"]["checks"]
    assert checks["broker"]["status"] == "error"
    assert checks["cache"]["status"] == "error"
    assert checks["database"]["status"] == "ok"
    assert overview["workers"]["alive"] is False
    assert overview["workers"]["ping_error"]
    assert overview["alerts"]["open"] == 1
