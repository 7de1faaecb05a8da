"""Housekeeping cannot be delayed by doorbells: the sweep (and the other minutely jobs) go to
their own queue, consumed by the Procfile's `housekeeping` worker, which never drains events.

Real processes from the Procfile's own command lines: the `worker` (two pool processes) and the
`housekeeping` worker. The test sends the sweep as beat does (`apply_async`, routed by the
settings).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from events.models import Event, Priority, Status
from events.services import EventInput, event_create
from events.tasks import sweep_events
from tests.events.workers import wait_for, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ENV = {
    "CELERY_CONCURRENCY": "2",
    "EVENT_PROCESSING_TIMEOUT": "10",
    "EVENT_WORKER_TIME_BUDGET": "120",
}


def create(owner, payload) -> Event:
    event, _ = event_create(
        owner=owner, item=EventInput(type="worker.busy", payload=payload, priority=Priority.NORMAL)
    )
    return event


def test_the_minutely_jobs_are_routed_to_the_housekeeping_queue():
    from beo_automation.celery import app

    for job in ("events_sweep", "evaluate_alerts", "escalate_incidents", "retry_notifications"):
        task = settings.CELERY_BEAT_SCHEDULE[job]["task"]
        route = app.amqp.router.route({}, task)
        assert route["queue"].name == settings.HOUSEKEEPING_QUEUE, job
    doorbell = app.amqp.router.route({}, "events.process_events")
    assert doorbell["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE


def test_a_sweep_runs_while_both_event_worker_processes_are_busy_draining(user):
    # What a worker killed mid-batch leaves behind: processing, no progress for an hour.
    stranded = create(user, {"n": "stranded"})
    long_ago = timezone.now() - timedelta(hours=1)
    Event.objects.filter(pk=stranded.pk).update(
        status=Status.PROCESSING, attempts=1, started_at=long_ago, updated_at=long_ago
    )
    # One-second events, claimed ten at a time, then one by one: each pool process drains for
    # about twenty seconds.
    slow = [create(user, {"sleep": 1, "n": i}).pk for i in range(40)]

    with (
        worker_process(ENV, procfile="housekeeping") as housekeeping,
        worker_process(ENV, procfile="worker") as worker,
    ):
        wait_for(
            lambda: Event.objects.filter(pk__in=slow, status=Status.PROCESSING).count() >= 20,
            timeout=60,
            what="both event worker processes to be draining",
            worker=worker,
        )
        sweep_events.apply_async()  # as beat sends it
        wait_for(
            lambda: Event.objects.get(pk=stranded.pk).status != Status.PROCESSING,
            timeout=30,
            what="the sweep to reclaim the stranded event",
            worker=housekeeping,
        )
        # A drain ends only when it finds nothing left to claim: events still pending mean
        # that neither pool process had finished draining when the sweep ran.
        unclaimed = Event.objects.filter(pk__in=slow, status=Status.PENDING).count()
        assert unclaimed > 0, "the sweep waited for a drain to end"
        assert "Task events.sweep_events[" in housekeeping.output
        assert "Task events.process_events[" not in housekeeping.output
        assert "Task events.sweep_events[" not in worker.output

        wait_for(
            lambda: Event.objects.filter(status=Status.COMPLETED).count() == 41,
            timeout=120,
            every=0.5,
            what="every event, the reclaimed one too, to complete",
            worker=worker,
        )
    stranded.refresh_from_db()
    assert stranded.attempts == 2
