"""Hostile operator input for the events, alerts and project commands: one CommandError line
saying what is wrong, before anything runs; a dead Redis is reported, not a traceback."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerts.models import Alert
from tests.maintenance.helpers import database_url
from tests.subprocess_env import free_port, manage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, verbosity=0)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "Unexpected error" not in message
    return message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["process_events", "--time-budget", "nan"],
            "Error: argument --time-budget: must be more than 0 and at most 604800 seconds, "
            "not nan",
        ),
        (
            ["process_events", "--time-budget", "inf"],
            "Error: argument --time-budget: must be more than 0 and at most 604800 seconds, "
            "not inf",
        ),
        (
            ["process_events", "--time-budget", "0"],
            "Error: argument --time-budget: must be more than 0 and at most 604800 seconds, not 0",
        ),
        (
            ["retry_notifications", "--grace", "nan"],
            "Error: argument --grace: must be at least 0 and at most 604800 seconds, not nan",
        ),
        (
            ["retry_notifications", "--grace", "1e308"],
            "Error: argument --grace: must be at least 0 and at most 604800 seconds, not 1e308",
        ),
        (
            ["retry_notifications", "--grace", "-1"],
            "Error: argument --grace: must be at least 0 and at most 604800 seconds, not -1",
        ),
        (
            ["evaluate_alerts", "--cpu-sample", "nan"],
            "Error: argument --cpu-sample: must be more than 0 and at most 60 seconds, not nan",
        ),
        (
            ["evaluate_alerts", "--cpu-sample", "-1"],
            "Error: argument --cpu-sample: must be more than 0 and at most 60 seconds, not -1",
        ),
        (
            ["evaluate_alerts", "--cpu-sample", "soon"],
            "Error: argument --cpu-sample: 'soon' is not a number of seconds",
        ),
        (
            ["send_test_alert", "--message", "a\x00b"],
            "Error: argument --message: the value contains a NUL character (\\x00)",
        ),
        (
            ["send_test_alert", "--message", "x" * 2001],
            "Error: argument --message: is 2,001 characters long; at most 2,000 are allowed",
        ),
    ],
    ids=lambda v: " ".join(v).replace("\x00", "NUL")[:60] if isinstance(v, list) else "",
)
def test_bad_numbers_and_text_are_refused_before_anything_runs(args, message):
    assert refused(*args) == message
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "Error: argument --username: must not be empty"),
        ("a\x00b", "Error: argument --username: the value contains a NUL character (\\x00)"),
    ],
    ids=["empty", "NUL"],
)
def test_bootstrap_local_refuses_an_unusable_username(
    settings, django_user_model, username, message
):
    settings.DEBUG = True

    assert refused("bootstrap_local", "--username", username) == message
    assert not django_user_model.objects.exists()


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["health_check"], 1, "CommandError: Unhealthy: cache, broker"),
        (["evaluate_alerts"], 0, "Evaluated "),
        (["process_events", "--time-budget", "1"], 0, "Processed 0 events"),
    ],
    ids=["health_check", "evaluate_alerts", "process_events"],
)
def test_a_dead_redis_is_reported_not_a_traceback(args, code, expected):
    """Redis on a port nobody listens on: health says which checks fail; the commands that can
    work without Redis (metrics missing, doorbells lost) still do their database work."""
    dead = f"redis://127.0.0.1:{free_port()}/0"

    result = manage(*args, DATABASE_URL=database_url(), REDIS_URL=dead, LOG_LEVEL="error")

    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == code, result.stderr[-2000:]
    assert expected in result.stdout + result.stderr
