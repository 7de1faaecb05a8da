"""The alert settings: the guide's defaults, and a bad value stops start-up with its name."""

from __future__ import annotations

from tests.subprocess_env import python, settings_in_child


def test_thresholds_default_to_the_operations_guide():
    values = settings_in_child(
        "s.ALERT_RESPONSE_TIME_MS",
        "s.ALERT_ERROR_RATE",
        "s.ALERT_DB_CONNECTIONS_PCT",
        "s.ALERT_MEMORY_PCT",
        "s.ALERT_EVENT_QUEUE",
        "s.ALERT_CPU_PCT",
        "s.ALERT_DISK_PCT",
        "s.ALERT_REPEAT_INTERVAL",
        "s.ALERT_WINDOW_MINUTES",
        ALERT_RESPONSE_TIME_MS=None,
        ALERT_ERROR_RATE=None,
    )
    assert values == [1000.0, 0.01, 80.0, 85.0, 1000, 80.0, 85.0, 4 * 3600, 5]


def test_thresholds_come_from_the_environment():
    assert settings_in_child(
        "s.ALERT_ERROR_RATE", "s.ALERT_EVENT_QUEUE", ALERT_ERROR_RATE="0.02", ALERT_EVENT_QUEUE="50"
    ) == [0.02, 50]


def test_a_bad_notify_severity_stops_start_up_naming_the_variable():
    result = python("import django; django.setup()", ALERT_NOTIFY_MIN_SEVERITY="urgent")
    assert result.returncode != 0
    assert (
        "ALERT_NOTIFY_MIN_SEVERITY='urgent' must be one of: low, medium, high, critical"
        in result.stderr
    )


def test_the_beat_table_runs_the_evaluation_escalation_and_retries_every_minute():
    (schedule,) = settings_in_child(
        "{k: [v['task'], str(v['schedule'])] for k, v in s.CELERY_BEAT_SCHEDULE.items()}"
    )
    assert schedule["evaluate_alerts"][0] == "alerts.evaluate_alerts"
    assert schedule["escalate_incidents"][0] == "alerts.escalate_incidents"
    assert schedule["retry_notifications"][0] == "alerts.retry_notifications"
    assert "<crontab: * * * * *" in schedule["evaluate_alerts"][1]
