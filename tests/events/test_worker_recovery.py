"""Nothing is lost: kill -9 a worker mid-event, flush this run's Redis keys, restart.

Real `celery worker` subprocesses (prefork, concurrency 2) on this run's PostgreSQL test
database and Redis keys. The sweep is sent through the broker every second here, standing in
for beat's every-minute schedule (a crontab cannot tick faster than once a minute).
"""

from __future__ import annotations

import pytest

from events.models import Event, Priority, Status
from events.services import EventInput, event_create
from events.tasks import sweep_events
from tests.events.workers import flush_run_keys, wait_for, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FAST_RECOVERY = {
    # Seconds instead of minutes, so the test sees the sweeper act.
    "EVENT_PROCESSING_TIMEOUT": "3",
    "EVENT_REQUEUE_AFTER": "2",
    "EVENT_RETRY_BACKOFF_BASE": "0.2",
    "EVENT_CLAIM_BATCH_SIZE": "10",
}


def create(owner, payload, priority=Priority.NORMAL) -> Event:
    event, _ = event_create(
        owner=owner, item=EventInput(type="worker.e2e", payload=payload, priority=priority)
    )
    return event


def statuses(ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Event.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_every_accepted_event_reaches_a_final_state_after_kill_9_and_a_redis_flush(user, tmp_path):
    marker = tmp_path / "blocking-handler-pid"
    blocker = create(
        user, {"block_first_attempt": True, "marker": str(marker)}, priority=Priority.URGENT
    )
    ordinary = [create(user, {"sleep": 0.05, "n": i}) for i in range(40)]
    accepted = [blocker.pk, *(e.pk for e in ordinary)]

    with worker_process(FAST_RECOVERY) as first:
        wait_for(marker.exists, timeout=60, what="the blocking handler", worker=first)
        wait_for(
            lambda: statuses(accepted).get(Status.COMPLETED, 0) >= 5,
            timeout=60,
            what="some events to complete",
            worker=first,
        )
        first.kill()
    stuck_pid = int(marker.read_text())
    after_kill = statuses(accepted)
    assert after_kill.get(Status.PROCESSING, 0) >= 1, "killed mid-event"
    assert after_kill.get(Status.COMPLETED, 0) < len(accepted), "work was left over"

    # Accepted while no worker runs; then every queued message and flag of this run is gone.
    late = [create(user, {"n": 100 + i}) for i in range(5)]
    accepted += [e.pk for e in late]
    assert flush_run_keys() > 0

    with worker_process(FAST_RECOVERY) as second:
        wait_for(
            lambda: statuses(accepted) == {Status.COMPLETED: len(accepted)},
            timeout=120,
            every=1.0,
            tick=sweep_events.apply_async,
            what=f"every event to complete (now {statuses(accepted)})",
            worker=second,
        )
    blocker.refresh_from_db()
    assert blocker.attempts == 2
    assert blocker.result is not None
    assert blocker.result["worker-test"]["pid"] != stuck_pid
    assert set(Event.objects.filter(pk__in=accepted).values_list("status", flat=True)) == {
        Status.COMPLETED
    }


def test_a_worker_started_after_events_were_accepted_processes_them(user):
    events = [create(user, {"n": i}) for i in range(12)]
    with worker_process() as worker:
        wait_for(
            lambda: statuses([e.pk for e in events]) == {Status.COMPLETED: 12},
            timeout=60,
            what="the queued events to complete",
            worker=worker,
        )
