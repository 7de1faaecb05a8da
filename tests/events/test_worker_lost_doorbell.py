"""A lost doorbell delays events by at most EVENT_DOORBELL_BACKSTOP seconds, not a sweep period.

The doorbell's debounce flag is set without its message being sent — what a web worker killed
between the two leaves behind. A real worker process runs; no sweep is sent.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache

from events.doorbell import BACKSTOP_KEY, DOORBELL_KEY
from events.models import Event, Status
from tests.events.workers import wait_for, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

URL = "/api/events/"
# The bound the README states, plus room for a busy machine (a sweep would take over a minute).
WITHIN = settings.EVENT_DOORBELL_BACKSTOP + 10


def lose_a_doorbell() -> None:
    cache.delete_many([DOORBELL_KEY, BACKSTOP_KEY])
    assert cache.add(DOORBELL_KEY, "1", timeout=settings.EVENT_REQUEUE_AFTER)


def test_an_event_created_after_a_lost_doorbell_is_processed_within_the_backstop(auth_client):
    with worker_process() as worker:
        lose_a_doorbell()
        response = auth_client.post(URL, {"type": "worker.lost", "payload": {}}, format="json")
        assert response.status_code == 201
        wait_for(
            lambda: Event.objects.get(pk=response.json()["id"]).status == Status.COMPLETED,
            timeout=WITHIN,
            what="the event to be processed by the backstop doorbell",
            worker=worker,
        )


def test_a_backlog_behind_a_lost_doorbell_is_processed_within_the_backstop(auth_client):
    with worker_process() as worker:
        lose_a_doorbell()
        ids = []
        for n in range(5):
            response = auth_client.post(
                f"{URL}bulk/",
                [{"type": "worker.lost", "payload": {"n": n, "i": i}} for i in range(50)],
                format="json",
            )
            assert response.status_code == 201, response.content
            ids += [item["id"] for item in response.json()["results"]]
        wait_for(
            lambda: Event.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == len(ids),
            timeout=WITHIN,
            what="the backlog to be processed by the backstop doorbell",
            worker=worker,
        )
