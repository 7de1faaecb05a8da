"""Redis down, then back without its data: the API keeps accepting events (stored, 201),
and once Redis is back the next doorbell drains everything accepted meanwhile.

gunicorn and a worker process on a throwaway redis-server of this test's own."""

from __future__ import annotations

import pytest
import requests
from rest_framework_simplejwt.tokens import AccessToken

from events.models import Event, Status
from tests.events import workers
from tests.events.workers import wait_for, worker_process
from tests.redis_server import throwaway_redis
from tests.server import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_events_accepted_while_redis_is_down_are_processed_once_it_is_back_empty(user):
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    with throwaway_redis() as redis_server:
        env = {
            "DATABASE_URL": workers.test_database_url(),
            "REDIS_URL": redis_server.url,
            "REDIS_SOCKET_TIMEOUT": "0.5",
        }
        with gunicorn(workers=1, **env) as (base, _proc):

            def create(label: str) -> int:
                response = requests.post(
                    f"{base}/api/events/",
                    json={"type": "worker.outage", "payload": {"when": label}},
                    headers=headers,
                    timeout=25,
                )
                assert response.status_code == 201, response.text
                return int(response.json()["id"])

            accepted = [create("before")]
            redis_server.stop()  # gone
            accepted += [create("down") for _ in range(2)]
            redis_server.start()  # back, and every doorbell and flag is gone

            with worker_process({k: v for k, v in env.items() if k != "DATABASE_URL"}) as worker:
                accepted.append(create("after"))  # its doorbell drains the whole backlog
                wait_for(
                    lambda: (
                        Event.objects.filter(pk__in=accepted, status=Status.COMPLETED).count()
                        == len(accepted)
                    ),
                    timeout=30,
                    what="every accepted event to complete",
                    worker=worker,
                )
