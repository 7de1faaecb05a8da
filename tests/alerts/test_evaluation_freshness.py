"""Freshness (the dead-man's switch): alerts on what did not happen — no backup, no verify, no
beat heartbeat, no worker answering while events wait — and on dead letters and failing
channels; each raised by the evaluation and resolved by it, with controlled time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from alerts.models import AlertStatus, NotificationChannel, Severity
from alerts.notifiers import configured_channels
from beo_automation import liveness
from events.models import Status
from maintenance.models import MaintenanceRun, Outcome, Trigger
from tests.alerts.helpers import check_of, evaluate, firing, open_alert
from tests.conftest import require_service
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def _succeeded(operation: str, *, at) -> MaintenanceRun:
    return MaintenanceRun.objects.create(
        operation=operation,
        trigger=Trigger.SCHEDULE,
        started_at=at - timedelta(minutes=1),
        finished_at=at,
        outcome=Outcome.SUCCESS,
    )


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_no_backup_within_the_max_age_raises_and_the_next_backup_resolves(clock, settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    _succeeded("backup_db", at=timezone.now())
    clock.shift(timedelta(hours=25))
    evaluate()
    assert open_alert("Backup Overdue") is None

    clock.shift(timedelta(hours=2))  # 27 h since the last backup
    evaluate()
    alert = firing("Backup Overdue")
    assert alert.severity == Severity.HIGH
    assert alert.metadata["age_hours"] == 27
    assert "27 h ago" in alert.message

    _succeeded("backup_db", at=timezone.now())
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_failed_backup_is_not_a_backup(clock, settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    _succeeded("backup_db", at=timezone.now())
    clock.shift(timedelta(hours=30))
    MaintenanceRun.objects.create(
        operation="backup_db",
        trigger=Trigger.SCHEDULE,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        outcome=Outcome.FAILED,
        error="pg_dump: disk full",
    )
    evaluate()
    assert firing("Backup Overdue").metadata["age_hours"] == 30


def test_a_new_installation_is_not_overdue_until_the_max_age_has_passed(clock, settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    report = evaluate()
    assert check_of(report, "backup_age").checks[0].severity is None  # installed minutes ago
    clock.shift(timedelta(hours=27))
    evaluate()
    assert "since installation" in firing("Backup Overdue").message


def test_no_verify_within_a_week_raises_medium_and_a_verify_resolves(clock, settings):
    settings.BACKUP_VERIFY_MAX_AGE_HOURS = 170
    settings.BACKUP_MAX_AGE_HOURS = 10_000  # only the verify is late here
    _succeeded("verify_backup", at=timezone.now())
    clock.shift(timedelta(hours=169))
    evaluate()
    assert open_alert("Backup Verification Overdue") is None
    clock.shift(timedelta(hours=2))
    evaluate()
    alert = firing("Backup Verification Overdue")
    assert alert.severity == Severity.MEDIUM
    _succeeded("verify_backup", at=timezone.now())
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_stale_beat_heartbeat_raises_and_a_fresh_one_resolves(clock, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE = 180
    liveness.beat_heartbeat_record()
    clock.shift(timedelta(seconds=170))
    evaluate()
    assert open_alert("Beat Not Running") is None

    clock.shift(timedelta(seconds=20))
    evaluate()
    alert = firing("Beat Not Running")
    assert alert.severity == Severity.HIGH
    assert alert.metadata["age_seconds"] == 190
    assert "Is celery beat up?" in alert.message

    liveness.beat_heartbeat_record()
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_without_any_heartbeat_beat_is_not_measured_and_changes_nothing():
    report = evaluate()
    assert "no beat heartbeat recorded" in check_of(report, "beat").not_measured
    assert open_alert("Beat Not Running") is None


@pytest.fixture
def broker_mode(settings):
    require_service("redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WORKERS_PING_TIMEOUT = 0.2
    cache.delete(liveness.PING_CACHE_KEY)
    yield
    cache.delete(liveness.PING_CACHE_KEY)


def test_no_worker_answering_while_events_wait_raises_and_resolves_once_none_wait(broker_mode):
    evaluate()
    assert open_alert("No Worker Answering") is None  # nobody answers, but nothing waits

    event = EventFactory(status=Status.PENDING)
    evaluate()
    alert = firing("No Worker Answering")
    assert alert.severity == Severity.HIGH
    assert alert.metadata["answering"] == 0
    assert "1 events are pending" in alert.message

    event.status = Status.CANCELLED
    event.save(update_fields=["status"])
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_a_worker_answering_resolves_no_worker_answering(broker_mode, settings, celery_worker):
    settings.WORKERS_PING_TIMEOUT = 1.0
    EventFactory(status=Status.PENDING, available_at=timezone.now() - timedelta(seconds=1))
    cache.set(
        liveness.PING_CACHE_KEY,
        {"at": timezone.now().isoformat(), "workers": [], "error": ""},
        timeout=60,
    )
    evaluate()
    alert = firing("No Worker Answering")
    cache.delete(liveness.PING_CACHE_KEY)
    evaluate()  # pings again: the worker answers
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED, alert.resolution


def test_in_process_there_are_no_workers_to_ping(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    EventFactory(status=Status.PENDING)
    report = evaluate()
    assert "in-process" in check_of(report, "workers").not_measured
    assert open_alert("No Worker Answering") is None


def test_dead_letters_above_the_threshold_raise_medium_and_resolve_when_retried(settings):
    settings.ALERT_DEAD_LETTER_EVENTS = 1
    failed = EventFactory.create_batch(2, status=Status.FAILED)
    evaluate()
    alert = firing("Dead-Letter Events")
    assert alert.severity == Severity.MEDIUM
    assert alert.metadata == {"failed": 2, "threshold": 1}

    failed[0].status = Status.PENDING
    failed[0].save(update_fields=["status"])
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_failing_channel_raises_one_alert_for_it_and_resolves_when_it_delivers(settings, channel):
    settings.ALERT_CHANNEL_FAILING_AFTER = 3
    (configured,) = configured_channels()
    record = NotificationChannel.objects.create(
        key=configured.key, label=configured.label, consecutive_failures=3, last_error="HTTP 500"
    )
    evaluate()
    alert = firing("Notification Channel Failing")
    assert alert.labels == {"channel": configured.key}
    assert "HTTP 500" in alert.message

    record.consecutive_failures = 0
    record.save(update_fields=["consecutive_failures"])
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_with_the_database_down_the_freshness_rules_change_nothing():
    from alerts.freshness import backup_age_rule, beat_rule, channels_rule
    from alerts.metrics import NotMeasured
    from alerts.rules import Snapshot

    down = NotMeasured("the database is unreachable")
    snapshot = Snapshot(
        now=timezone.now(),
        database=None,  # type: ignore[arg-type]
        broker=down,
        requests=down,
        db_connections=down,
        memory=down,
        cpu=down,
        disks=down,
        queue=down,
        backup=down,
        beat=down,
        channels=down,
    )
    for rule in (backup_age_rule, beat_rule, channels_rule):
        outcome = rule(snapshot)
        assert outcome.checks == []
        assert outcome.not_measured == "the database is unreachable"
