"""Liveness: beat's heartbeat from its own scheduler, the workers' ping, the overview's
`workers` and the `workers`/`beat` health checks, against the real database and Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from beo_automation import liveness
from beo_automation.celery import app
from beo_automation.health import health_checks, health_report
from events.models import Event, Status
from tests.conftest import require_service
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_mode(settings):
    """Tasks go through the real Redis broker (not eager), with this test's own ping cache."""
    require_service("redis")
    from django.core.cache import cache

    settings.CELERY_TASK_ALWAYS_EAGER = False
    cache.delete(liveness.PING_CACHE_KEY)
    yield
    cache.delete(liveness.PING_CACHE_KEY)


@pytest.fixture
def scheduler(tmp_path):
    return liveness.HeartbeatScheduler(
        app=app, schedule_filename=str(tmp_path / "beat-schedule"), lazy=True
    )


# Beat is not inside a transaction: it closes stale connections before each heartbeat.
@pytest.mark.django_db(transaction=True)
def test_beat_has_no_heartbeat_until_its_scheduler_ticks(scheduler):
    assert liveness.beat_heartbeat_get() is None
    scheduler.setup_schedule()
    scheduler.tick()
    heartbeat = liveness.beat_heartbeat_get()
    assert heartbeat is not None
    assert timezone.now() - heartbeat < timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_records_at_most_every_interval_and_wakes_for_the_next(scheduler, settings):
    settings.BEAT_HEARTBEAT_INTERVAL = 15
    scheduler.setup_schedule()
    scheduler.tick()
    first = liveness.beat_heartbeat_get()
    sleep = scheduler.tick()
    assert liveness.beat_heartbeat_get() == first  # not again within the interval
    assert sleep <= 15  # beat wakes up for the next heartbeat even when no job is due


def test_beat_is_alive_while_its_heartbeat_is_recent(settings):
    settings.BEAT_HEARTBEAT_MAX_AGE = 180
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        liveness.beat_heartbeat_record()
        assert liveness.beat_state().alive
        traveller.shift(timedelta(seconds=181))
        state = liveness.beat_state()
    assert not state.alive
    assert state.age_seconds == 181


def test_the_settings_make_every_celery_beat_use_the_heartbeat_scheduler():
    assert app.conf.beat_scheduler == "beo_automation.liveness:HeartbeatScheduler"


def test_in_process_mode_says_so_instead_of_pinging(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    overview = liveness.workers_overview()
    assert overview["mode"] == "in-process"
    assert overview["alive"] is True
    assert overview["answering"] is None
    assert overview["pinged_at"] is None


def test_the_overview_counts_the_events_a_worker_could_take_now(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    EventFactory.create_batch(2, status=Status.PENDING)
    EventFactory(status=Status.PENDING, available_at=timezone.now() + timedelta(hours=1))
    EventFactory(status=Status.COMPLETED)
    assert liveness.workers_overview()["events_waiting"] == 2


def test_without_workers_the_ping_has_no_answer_and_is_cached(broker_mode, settings):
    settings.WORKERS_PING_TIMEOUT = 0.2
    first = liveness.workers_ping()
    assert first.mode == "broker"
    assert first.workers == ()
    assert first.error == ""
    started = time.perf_counter()
    again = liveness.workers_ping()
    assert time.perf_counter() - started < 0.1  # from the cache, no second wait
    assert again.at == first.at


def test_a_running_worker_answers_the_ping(broker_mode, celery_worker, settings):
    settings.WORKERS_PING_TIMEOUT = 1.0
    deadline = time.monotonic() + 10  # the worker thread may still be connecting its pidbox
    while not liveness.workers_ping(max_age=0).workers and time.monotonic() < deadline:
        pass
    overview = liveness.workers_overview()
    assert overview["alive"] is True
    assert overview["answering"] >= 1
    assert celery_worker.hostname in overview["workers"]


def test_an_unreachable_broker_is_an_error_not_a_wait(broker_mode, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:22999/0"  # nothing listens there
    started = time.perf_counter()
    ping = liveness.workers_ping()
    assert time.perf_counter() - started < 3
    assert ping.workers == ()
    assert "OperationalError" in ping.error


def test_the_probe_has_no_liveness_checks_the_overview_panel_has():
    assert {"workers", "beat"}.isdisjoint(health_checks())
    assert {"workers", "beat"} <= set(health_checks(liveness=True))


@pytest.mark.django_db(transaction=True)  # the checks run in their own threads
def test_the_beat_check_fails_without_a_heartbeat_and_passes_with_one(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    report = health_report(liveness=True)["checks"]
    assert report["beat"]["status"] == "error"
    assert "no heartbeat recorded" in report["beat"]["message"]
    assert report["workers"] == {"status": "ok", "mode": "in-process"}
    liveness.beat_heartbeat_record()
    assert health_report(liveness=True)["checks"]["beat"]["status"] == "ok"


def test_the_workers_check_fails_when_no_worker_answers(broker_mode, settings):
    settings.WORKERS_PING_TIMEOUT = 0.2
    check = health_report(liveness=True)["checks"]["workers"]
    assert check["status"] == "error"
    assert check["answering"] == 0
    assert "no worker answered" in check["message"]


def test_waiting_events_are_the_pending_ones(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert Event.objects.count() == 0
    assert liveness.events_waiting_count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_beat_process_records_its_heartbeat(tmp_path):
    """`celery -A beo_automation beat` as the Procfile starts it, with every job disabled:
    the heartbeat comes from beat's own loop, not from a task."""
    import subprocess

    from beo_automation.schedule import JOBS
    from tests.events.workers import test_database_url
    from tests.subprocess_env import BIN, ROOT, child_env

    env = child_env(
        DATABASE_URL=test_database_url(),
        BEAT_HEARTBEAT_INTERVAL="1",
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp_path / "beat-schedule"),
        LOG_DIR="",
        **{job.env_var: "disable" for job in JOBS},
    )
    beat = subprocess.Popen(
        [str(BIN / "celery"), "-A", "beo_automation", "beat", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        first = None
        while time.monotonic() < deadline and first is None:
            time.sleep(0.3)
            first = liveness.beat_heartbeat_get()
        assert first is not None, "beat recorded no heartbeat"
        while time.monotonic() < deadline and liveness.beat_heartbeat_get() == first:
            time.sleep(0.3)
        latest = liveness.beat_heartbeat_get()
        assert latest is not None
        assert latest > first  # it keeps beating, ~every second
    finally:
        beat.terminate()
        _, stderr = beat.communicate(timeout=20)
    assert liveness.beat_state().alive, stderr


def test_the_overview_shows_the_evaluations_ping_with_its_age_instead_of_waiting(
    broker_mode, settings
):
    from django.core.cache import cache

    settings.WORKERS_PING_CACHE_SECONDS = 30
    settings.WORKERS_PING_TIMEOUT = 0.5
    with time_machine.travel(timezone.now(), tick=False):
        pinged = timezone.now() - timedelta(seconds=80)
        cache.set(
            liveness.PING_CACHE_KEY,
            {"at": pinged.isoformat(), "workers": ["celery@elsewhere"], "error": ""},
            timeout=60,
        )
        overview = liveness.workers_overview()
        assert overview["workers"] == ["celery@elsewhere"]
        assert overview["ping_age_seconds"] == 80
        # The evaluation's reading is older than WORKERS_PING_CACHE_SECONDS: it pings again.
        assert liveness.workers_ping().workers == ()
