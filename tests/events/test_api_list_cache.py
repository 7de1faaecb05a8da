"""List responses are cached per user (Redis) and never stale after a write.

These tests commit (transactional_db): cache versions are bumped when a write's transaction
commits, exactly as in production.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from events.models import Status
from events.pipeline import events_claim, events_process_batch
from events.services import event_create, event_input_validate
from tests.conftest import bearer
from tests.factories import EventFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.usefixtures("isolated_cache"),
]

URL = "/api/events/"


def event_queries(client: APIClient, url: str = URL) -> tuple[dict, int]:
    """The list response and how many queries it made on the events table."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json(), sum('"events_event"' in q["sql"] for q in queries)


def statuses(body: dict) -> dict[int, str]:
    return {e["id"]: e["status"] for e in body["results"]}


def test_the_cache_is_redis(settings):
    assert settings.CACHES["default"]["BACKEND"] == "beo_automation.cache_backend.RedisCache"


def test_a_repeated_list_is_served_from_the_cache(auth_client, user):
    EventFactory(owner=user)
    first, first_queries = event_queries(auth_client)
    again, again_queries = event_queries(auth_client)
    assert first_queries == 1
    assert again_queries == 0
    assert again == first


def test_a_create_through_the_api_is_listed_at_once(auth_client, user):
    EventFactory(owner=user)
    before, _ = event_queries(auth_client)
    created = auth_client.post(
        URL, data=json.dumps({"type": "beo.new", "payload": {}}), content_type="application/json"
    ).json()
    after, queries = event_queries(auth_client)
    assert queries == 1
    assert [e["id"] for e in after["results"]] == [
        created["id"],
        *[e["id"] for e in before["results"]],
    ]


def test_a_status_change_by_the_pipeline_is_listed_at_once(auth_client, user):
    event, _ = event_create(
        owner=user, item=event_input_validate(type="nobody.handles", payload={}, priority="low")
    )
    before, _ = event_queries(auth_client)
    assert statuses(before) == {event.pk: "pending"}

    [claimed] = events_claim(limit=1)
    assert statuses(event_queries(auth_client)[0]) == {event.pk: "processing"}

    from events.pipeline import event_process

    event_process(claimed)
    assert statuses(event_queries(auth_client)[0]) == {event.pk: "completed"}


def test_a_processed_batch_is_listed_at_once(auth_client, user):
    events = [EventFactory(owner=user, type="nobody.handles") for _ in range(3)]
    assert set(statuses(event_queries(auth_client)[0]).values()) == {"pending"}
    assert events_process_batch().completed == 3
    after = statuses(event_queries(auth_client)[0])
    assert after == {e.pk: "completed" for e in events}


def test_cancel_and_retry_are_listed_at_once(auth_client, user):
    pending = EventFactory(owner=user)
    failed = EventFactory(owner=user, status=Status.FAILED, attempts=5, max_attempts=5)
    event_queries(auth_client)
    assert auth_client.post(f"{URL}{pending.pk}/cancel/").status_code == 200
    assert auth_client.post(f"{URL}{failed.pk}/retry/").status_code == 200
    after = statuses(event_queries(auth_client)[0])
    assert after == {pending.pk: "cancelled", failed.pk: "pending"}


def test_staff_lists_see_any_users_write_at_once(staff_client, auth_client, user):
    EventFactory(owner=user)
    before, _ = event_queries(staff_client)
    created = auth_client.post(
        URL, data=json.dumps({"type": "beo.new", "payload": {}}), content_type="application/json"
    ).json()
    after, _ = event_queries(staff_client)
    assert len(after["results"]) == len(before["results"]) + 1
    assert after["results"][0]["id"] == created["id"]


def test_cached_pages_are_per_user(auth_client, user, other_user):
    EventFactory(owner=user)
    theirs = EventFactory(owner=other_user)
    event_queries(auth_client)  # alice's page is now cached
    bob = APIClient()
    bob.credentials(HTTP_AUTHORIZATION=bearer(other_user))
    body, queries = event_queries(bob)
    assert queries == 1
    assert statuses(body) == {theirs.pk: "pending"}


def test_each_query_is_cached_separately(auth_client, user):
    EventFactory(owner=user, status=Status.FAILED)
    EventFactory(owner=user, status=Status.COMPLETED)
    event_queries(auth_client)
    failed, queries = event_queries(auth_client, f"{URL}?status=failed")
    assert queries == 1
    assert set(statuses(failed).values()) == {"failed"}


def test_a_zero_ttl_turns_the_cache_off(auth_client, user, settings):
    settings.EVENT_LIST_CACHE_TTL = 0
    EventFactory(owner=user)
    event_queries(auth_client)
    assert event_queries(auth_client)[1] == 1


def test_links_are_built_for_the_host_that_asked(auth_client, user):
    for _ in range(3):
        EventFactory(owner=user)
    auth_client.get(f"{URL}?page_size=2")
    response = auth_client.get(f"{URL}?page_size=2", HTTP_HOST="localhost")
    assert response.json()["next"].startswith("http://localhost/api/events/")


def test_lists_are_served_from_the_database_when_the_cache_is_down(auth_client, user, settings):
    event = EventFactory(owner=user)
    caches = json.loads(json.dumps(settings.CACHES))
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens there
    caches["default"]["OPTIONS"] = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}
    settings.CACHES = caches
    settings.RATELIMIT_ENABLE = False  # the limiter's own outage handling has its own test
    body, queries = event_queries(auth_client)
    assert statuses(body) == {event.pk: "pending"}
    assert queries == 1
