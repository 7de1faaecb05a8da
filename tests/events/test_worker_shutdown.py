"""A Celery worker keeps its pooled connections between tasks and returns them on SIGTERM."""

from __future__ import annotations

import time
import uuid

import pytest

from events.models import Event, Status
from events.services import EventInput, event_create
from tests.events.workers import database_connections, wait_for, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_sigterm_finishes_closes_the_database_connections_and_exits_zero(user):
    app_name = f"beo-worker-{uuid.uuid4().hex[:8]}"
    ids = [
        event_create(owner=user, item=EventInput(type="worker.shutdown", payload={"n": i}))[0].pk
        for i in range(20)
    ]
    with worker_process({"DB_APPLICATION_NAME": app_name, "DB_POOL_MIN": "1"}) as worker:
        wait_for(
            lambda: Event.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 20,
            timeout=60,
            what="the events to be processed",
            worker=worker,
        )
        # Between tasks the pool stays open (Celery's fix-up alone would have closed it).
        time.sleep(0.5)
        assert database_connections(app_name) > 0
        worker.terminate()
        assert worker.proc.wait(timeout=30) == 0
        output = worker.output
    deadline = time.monotonic() + 5
    while database_connections(app_name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert database_connections(app_name) == 0
    assert "Closing database connections" in output
    assert "Traceback" not in output
