"""Database connections, memory, CPU, disk, event queue and stalled workers: measured for real,
raised over their thresholds and resolved once back under."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from alerts.models import Alert, AlertStatus, Severity
from events.models import Event, Status
from events.pipeline import events_claim
from tests.alerts.helpers import check_of, evaluate, open_alert
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def _connect_args() -> str:
    db = django_settings.DATABASES["default"]
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} "
        f"dbname={connection.settings_dict['NAME']}"
    )


@pytest.mark.postgres
def test_connections_over_80_percent_of_the_pool_raise_and_resolve(settings):
    settings.DB_POOL_MAX = 2
    settings.ALERT_DB_POOL_PROCESSES = 2  # capacity 4
    extra = [psycopg.connect(_connect_args()) for _ in range(4)]
    try:
        report = evaluate()
        alert = open_alert("High Database Connections")
        assert alert is not None, check_of(report, "db_connections")
        assert alert.severity == Severity.HIGH
        assert alert.metadata["capacity"] == 4
        assert alert.metadata["capacity_source"] == "pool"
        assert alert.metadata["used"] >= 5  # ours + the four extra
        assert alert.metadata["percent"] > 80
    finally:
        for conn in extra:
            conn.close()
    _wait_until_backends_exit(max_left=3)

    evaluate()

    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def _wait_until_backends_exit(*, max_left: int) -> None:
    # A closed connection's server process exits a moment later.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # we are inside a transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend'"
            )
            if cursor.fetchone()[0] <= max_left:
                return
        time.sleep(0.05)


@pytest.mark.postgres
def test_connections_are_measured_against_max_connections_when_it_is_lower(settings):
    settings.DB_POOL_MAX = 100_000
    report = evaluate()
    check = check_of(report, "db_connections").checks[0]
    assert check.severity is None
    assert "capacity: max_connections" in check.message


def test_memory_over_the_threshold_raises_and_resolves(settings):
    settings.ALERT_MEMORY_PCT = 0
    evaluate()
    alert = open_alert("High Memory Usage")
    assert alert is not None
    assert alert.severity == Severity.HIGH
    assert alert.metadata["percent"] > 0
    assert alert.metadata["process_rss_mb"] > 0

    settings.ALERT_MEMORY_PCT = 100
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_cpu_over_the_threshold_raises_and_resolves(settings):
    settings.ALERT_CPU_PCT = 0
    stop = threading.Event()

    def burn() -> None:  # make sure the sample sees some CPU use
        while not stop.is_set():
            sum(range(1000))

    burner = threading.Thread(target=burn)
    burner.start()
    try:
        evaluate(cpu_sample_seconds=0.3)
    finally:
        stop.set()
        burner.join()
    alert = open_alert("High CPU Usage")
    assert alert is not None
    assert alert.severity == Severity.MEDIUM
    assert alert.metadata["percent"] > 0

    settings.ALERT_CPU_PCT = 100
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_disk_over_the_threshold_raises_per_disk_and_resolves(settings, tmp_path):
    settings.ALERT_DISK_PATHS = [str(tmp_path / "data"), str(tmp_path / "backups")]
    settings.ALERT_DISK_PCT = 0
    evaluate()
    alerts = list(Alert.objects.filter(name="High Disk Usage", status=AlertStatus.FIRING))
    # Both directories are on one disk: one alert, naming both.
    assert len(alerts) == 1
    assert alerts[0].labels == {"path": str(tmp_path / "data")}
    assert alerts[0].metadata["directories"] == [str(tmp_path / "data"), str(tmp_path / "backups")]

    settings.ALERT_DISK_PCT = 100
    evaluate()
    alerts[0].refresh_from_db()
    assert alerts[0].status == AlertStatus.RESOLVED


def test_a_disk_no_longer_watched_has_its_alert_resolved(settings, tmp_path):
    settings.ALERT_DISK_PATHS = [str(tmp_path)]
    settings.ALERT_DISK_PCT = 0
    evaluate()
    assert open_alert("High Disk Usage") is not None

    settings.ALERT_DISK_PATHS = ["/proc"]  # another filesystem, under its threshold
    evaluate()
    old = Alert.objects.get(labels={"path": str(tmp_path)})
    assert old.status == AlertStatus.RESOLVED
    assert "no longer watched" in old.resolution


def test_more_than_1000_pending_events_raise_the_queue_alert_and_resolve(user):
    owner = user
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(owner=owner, type="beo.created", created_at=now, updated_at=now, available_at=now)
            for _ in range(1001)
        ]
    )
    evaluate()
    alert = open_alert("Event Queue Backlog")
    assert alert is not None
    assert alert.severity == Severity.MEDIUM
    assert alert.metadata["pending"] == 1001
    assert alert.metadata["pending_by_priority"]["normal"] == 1001
    assert alert.metadata["threshold"] == 1000

    Event.objects.filter(pk__in=Event.objects.values("pk")[:2]).update(status=Status.CANCELLED)
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_exactly_1000_pending_events_do_not_alert(user):
    owner = user
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(owner=owner, type="beo.created", created_at=now, updated_at=now, available_at=now)
            for _ in range(1000)
        ]
    )
    evaluate()
    assert open_alert("Event Queue Backlog") is None


def test_events_waiting_with_no_worker_for_5_minutes_raise_stalled_and_resolve_on_a_claim():
    old = timezone.now() - timedelta(minutes=6)
    EventFactory.create_batch(3, created_at=old)

    evaluate()

    alert = open_alert("Event Processing Stalled")
    assert alert is not None
    assert alert.severity == Severity.HIGH
    assert "No worker has taken an event for 6 min while 3 events are pending" in alert.message

    assert events_claim(limit=1)  # a worker takes one
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_recent_claim_means_the_pipeline_is_not_stalled():
    old = timezone.now() - timedelta(minutes=10)
    EventFactory.create_batch(2, created_at=old)
    EventFactory(status=Status.COMPLETED, started_at=timezone.now() - timedelta(minutes=1))

    evaluate()

    assert open_alert("Event Processing Stalled") is None


def test_events_in_retry_backoff_do_not_count_as_waiting():
    old = timezone.now() - timedelta(minutes=10)
    EventFactory(created_at=old, available_at=timezone.now() + timedelta(minutes=1))

    evaluate()

    assert open_alert("Event Processing Stalled") is None


@pytest.mark.redis
def test_an_unreachable_broker_raises_a_critical_alert_and_resolves(settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret-pw@127.0.0.1:1/0"
    started = time.monotonic()
    evaluate()
    assert time.monotonic() - started < 10
    alert = open_alert("Broker Unreachable")
    assert alert is not None
    assert alert.severity == Severity.CRITICAL
    assert alert.rule == "broker"
    assert "Connection refused" in alert.message  # what operators need to know…
    assert "s3cret-pw" not in alert.message + str(alert.metadata)  # …and never a password

    settings.CELERY_BROKER_URL = settings.REDIS_URL
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_the_evaluation_reports_every_rule():
    report = evaluate()
    assert {o.rule for o in report.outcomes} >= {"database", "memory", "cpu", "disk", "event_queue"}
    assert report.duration_ms > 0
