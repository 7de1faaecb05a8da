"""The outside monitor's ping: after each run of a scheduled job, its URL (success) or its
URL + /fail, to a real local HTTP receiver; a ping that fails never fails the job."""

from __future__ import annotations

import json
import socket
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from beo_automation.schedule import JOBS, job_ping_urls
from events.tasks import sweep_events
from maintenance.tasks import prune_runs
from tests.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver().running() as running:
        yield running


def _http(receiver: Receiver, path: str) -> str:
    return f"http://127.0.0.1:{receiver.port}{path}"


def test_the_template_gives_each_job_its_own_url_and_one_job_can_differ_or_be_off():
    urls = job_ping_urls(
        JOBS,
        {
            "JOB_PING_URL_BACKUP_DB": "https://hc.example/own-backup/",
            "JOB_PING_URL_EVENTS_SWEEP": "disable",
        },
        template="https://hc-ping.com/key/{job}",
    )
    assert urls["evaluate_alerts"] == "https://hc-ping.com/key/evaluate_alerts"
    assert urls["backup_db"] == "https://hc.example/own-backup"
    assert "events_sweep" not in urls
    assert job_ping_urls(JOBS, {}, template="") == {}


@pytest.mark.parametrize(
    "template", ["https://hc-ping.com/key/one-check", "ftp://hc.example/{job}", "hc-ping/{job}"]
)
def test_a_template_without_a_job_placeholder_or_http_stops_start_up(template):
    with pytest.raises(ImproperlyConfigured, match="JOB_PING_URL"):
        job_ping_urls(JOBS, {}, template=template)


def test_a_successful_run_pings_the_jobs_url(settings, receiver):
    settings.JOB_PING_URLS = {"events_sweep": _http(receiver, "/key/events_sweep")}
    result = sweep_events.apply()
    assert result.successful()
    (ping,) = receiver.wait_for(1, path="/key/events_sweep")
    assert ping["job"] == "events_sweep"
    assert ping["ok"] is True
    assert isinstance(json.loads(ping["detail"]), dict)  # the task's result


def test_a_failed_run_pings_fail_with_the_error(settings, receiver):
    settings.JOB_PING_URLS = {"prune_maintenance_runs": _http(receiver, "/key/prune")}
    settings.MAINTENANCE_RUN_RETENTION_DAYS = 0  # refused by the service: the run fails
    result = prune_runs.apply()
    assert result.failed()
    (ping,) = receiver.wait_for(1, path="/key/prune/fail")
    assert ping["ok"] is False
    assert "--days must be between 1" in ping["detail"]


def test_jobs_without_a_url_are_not_pinged(settings, receiver):
    settings.JOB_PING_URLS = {"backup_db": _http(receiver, "/key/backup_db")}
    sweep_events.apply()
    time.sleep(0.2)
    assert receiver.bodies() == []


def test_an_unreachable_monitor_does_not_fail_the_job(settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.JOB_PING_URLS = {"events_sweep": f"http://127.0.0.1:{port}/gone"}
    assert sweep_events.apply().successful()


def test_a_monitor_that_never_answers_costs_at_most_the_timeout(settings):
    settings.JOB_PING_TIMEOUT = 0.5
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        settings.JOB_PING_URLS = {"events_sweep": f"http://127.0.0.1:{silent.getsockname()[1]}/x"}
        started = time.perf_counter()
        assert sweep_events.apply().successful()
        assert time.perf_counter() - started < 3


@pytest.mark.django_db(transaction=True)
def test_a_run_in_a_real_worker_pings(settings, receiver, celery_worker):
    settings.JOB_PING_URLS = {"events_sweep": _http(receiver, "/key/events_sweep")}
    sweep_events.delay()
    (ping,) = receiver.wait_for(1, path="/key/events_sweep", timeout=30)
    assert ping["ok"] is True
