"""A database restart costs no request and no task: pooled connections are checked when they are
taken from the pool (CONN_HEALTH_CHECKS), so a connection the server closed is replaced, not
handed to a view or a worker.

The restart is simulated by terminating every backend that the server or worker under test holds
on this run's test database (never another database's, nor the test process's own: its pool is
not what is tested, and a pool holding several idle connections that all died is outside the
promise — docs/reliability.md)."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from events.models import Event, Status
from events.services import EventInput, event_create
from tests.events import workers
from tests.events.workers import wait_for, worker_process
from tests.server import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# The processes under test connect with this application_name (DB_APPLICATION_NAME).
UNDER_TEST = f"beo-under-test-{uuid.uuid4().hex[:8]}"


def terminate_other_backends() -> int:
    """pg_terminate_backend on the connections of the processes under test."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND application_name = %s",
            [UNDER_TEST],
        )
        return int(cursor.fetchone()[0])


def test_api_requests_all_succeed_after_the_database_dropped_every_connection(user):
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    with gunicorn(
        workers=2, DATABASE_URL=workers.test_database_url(), DB_APPLICATION_NAME=UNDER_TEST
    ) as (base, _proc):

        def create(n: int) -> requests.Response:
            return requests.post(
                f"{base}/api/events/",
                json={"type": "beo.restart", "payload": {"n": n}},
                headers=headers,
                timeout=10,
            )

        # Enough requests that both gunicorn workers hold a pooled connection.
        for n in range(10):
            assert create(n).status_code == 201
        assert terminate_other_backends() >= 2

        statuses = []
        for n in range(10, 30):
            response = create(n)
            statuses.append(response.status_code)
            if response.status_code == 201:
                detail = requests.get(
                    f"{base}/api/events/{response.json()['id']}/", headers=headers, timeout=10
                )
                statuses.append(detail.status_code)
        assert set(statuses) <= {200, 201}, statuses
    assert Event.objects.filter(type="beo.restart").count() == 30


@pytest.mark.redis
def test_workers_process_every_event_after_the_database_dropped_their_connections(user):
    def create(n: int) -> Event:
        event, _ = event_create(
            owner=user, item=EventInput(type="worker.restart", payload={"n": n})
        )
        return event

    with worker_process({"DB_APPLICATION_NAME": UNDER_TEST}, concurrency=2) as worker:
        first = [create(n).pk for n in range(20)]
        wait_for(
            lambda: Event.objects.filter(pk__in=first, status=Status.COMPLETED).count() == 20,
            timeout=60,
            what="the first events to complete",
            worker=worker,
        )
        assert terminate_other_backends() >= 1

        # No sweep runs in this test: an event is processed only if its doorbell's task got a
        # live connection.
        second = [create(n).pk for n in range(20, 40)]
        wait_for(
            lambda: Event.objects.filter(pk__in=second, status=Status.COMPLETED).count() == 20,
            timeout=60,
            what="the events created after the restart to complete",
            worker=worker,
        )
        assert "OperationalError" not in worker.output
    assert set(Event.objects.filter(pk__in=first + second).values_list("attempts", flat=True)) == {
        1
    }
