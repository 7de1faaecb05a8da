"""The beat table: defaults, SCHEDULE_<NAME> overrides and `disable`."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from beo_automation.schedule import ScheduledJob, build_beat_schedule, crontab_from_string

JOBS = [
    ScheduledJob(name="backup", task="maintenance.tasks.backup", cron="0 2 * * *", expires=3600),
    ScheduledJob(name="sweep", task="events.tasks.sweep", cron="* * * * *", expires=50),
    ScheduledJob(name="vacuum", task="maintenance.tasks.vacuum", cron="0 4 * * 0"),
]


def test_defaults_become_crontabs_with_expiry():
    schedule = build_beat_schedule(JOBS, {})
    assert set(schedule) == {"backup", "sweep", "vacuum"}
    assert schedule["backup"]["task"] == "maintenance.tasks.backup"
    assert schedule["backup"]["schedule"] == crontab(minute="0", hour="2")
    assert schedule["backup"]["options"] == {"expires": 3600}
    assert schedule["vacuum"]["schedule"] == crontab(minute="0", hour="4", day_of_week="0")
    assert schedule["vacuum"]["options"] == {}


def test_an_environment_variable_overrides_one_entry():
    schedule = build_beat_schedule(JOBS, {"SCHEDULE_BACKUP": "30 1 * * *"})
    assert schedule["backup"]["schedule"] == crontab(minute="30", hour="1")
    assert schedule["sweep"]["schedule"] == crontab()


@pytest.mark.parametrize("value", ["disable", "DISABLE", " disable "])
def test_disable_removes_the_entry(value):
    schedule = build_beat_schedule(JOBS, {"SCHEDULE_SWEEP": value})
    assert "sweep" not in schedule
    assert {"backup", "vacuum"} <= set(schedule)


def test_an_empty_override_keeps_the_default():
    schedule = build_beat_schedule(JOBS, {"SCHEDULE_BACKUP": ""})
    assert schedule["backup"]["schedule"] == crontab(minute="0", hour="2")


@pytest.mark.parametrize("bad", ["every day", "0 2 * *", "61 * * * *", "0 25 * * *"])
def test_a_bad_override_fails_loudly_naming_the_variable(bad):
    with pytest.raises(ImproperlyConfigured, match="SCHEDULE_BACKUP"):
        build_beat_schedule(JOBS, {"SCHEDULE_BACKUP": bad})


def test_duplicate_names_are_refused():
    with pytest.raises(ImproperlyConfigured, match="Duplicate"):
        build_beat_schedule([*JOBS, JOBS[0]], {})


def test_crontab_parsing_accepts_ranges_and_steps():
    assert crontab_from_string("*/5 9-17 * * 1-5") == crontab(
        minute="*/5", hour="9-17", day_of_week="1-5"
    )


def test_every_job_in_the_settings_table_names_a_registered_task():
    from beo_automation.celery import app

    app.loader.import_default_modules()
    missing = [job.task for job in settings.SCHEDULED_JOBS if job.task not in app.tasks]
    assert missing == []


def test_job_cron_is_the_expression_the_entry_runs_on():
    from beo_automation.schedule import job_cron

    backup = JOBS[0]
    assert job_cron(backup, {}) == "0 2 * * *"
    assert job_cron(backup, {"SCHEDULE_BACKUP": " 30 1 * * * "}) == "30 1 * * *"
    assert job_cron(backup, {"SCHEDULE_BACKUP": "disable"}) is None
