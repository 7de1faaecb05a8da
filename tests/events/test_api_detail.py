"""GET /api/events/{id}/, POST …/retry/ and …/cancel/: visibility and state changes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event, Status
from tests.factories import EventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]


def url(event_id: int, action: str = "") -> str:
    return f"/api/events/{event_id}/{action + '/' if action else ''}"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body["error"]


def test_an_owner_gets_their_event(auth_client, user):
    event = EventFactory(owner=user, payload={"beo": "BEO-7"})
    response = auth_client.get(url(event.pk))
    assert response.status_code == 200
    assert response.json()["id"] == event.pk
    assert response.json()["payload"] == {"beo": "BEO-7"}


def test_someone_elses_event_is_not_found_like_a_missing_one(auth_client, other_user):
    theirs = EventFactory(owner=other_user)
    hidden = error_of(auth_client.get(url(theirs.pk)), 404)
    missing = error_of(auth_client.get(url(theirs.pk + 10_000)), 404)
    assert hidden["message"] == missing["message"] == "Event not found"
    assert set(hidden) == set(missing) == {"code", "message", "request_id"}


def test_staff_get_anyones_event(staff_client, user):
    event = EventFactory(owner=user)
    assert staff_client.get(url(event.pk)).status_code == 200


def test_the_detail_reads_only_the_columns_it_returns(auth_client, user):
    event = EventFactory(owner=user)
    with CaptureQueriesContext(connection) as queries:
        auth_client.get(url(event.pk))
    [read] = [q["sql"] for q in queries if 'FROM "events_event"' in q["sql"]]
    assert "request_hash" not in read.split(" FROM ")[0]


def test_retry_moves_a_failed_event_back_to_pending_keeping_its_attempts(auth_client, user):
    event = EventFactory(owner=user, status=Status.FAILED, attempts=5, last_error="boom")
    response = auth_client.post(url(event.pk, "retry"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["attempts"] == 5
    assert Event.objects.get(pk=event.pk).status == Status.PENDING


@pytest.mark.parametrize(
    "status", [Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.CANCELLED]
)
def test_retry_in_any_other_state_is_a_409_naming_it(auth_client, user, status):
    event = EventFactory(owner=user, status=status)
    error = error_of(auth_client.post(url(event.pk, "retry")), 409)
    assert f"that is {status.value}" in error["message"]
    assert Event.objects.get(pk=event.pk).status == status


def test_cancel_moves_a_pending_event_to_cancelled(auth_client, user):
    event = EventFactory(owner=user)
    response = auth_client.post(url(event.pk, "cancel"))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["completed_at"] is not None


@pytest.mark.parametrize(
    "status", [Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELLED]
)
def test_cancel_in_any_other_state_is_a_409_naming_it(auth_client, user, status):
    event = EventFactory(owner=user, status=status)
    error = error_of(auth_client.post(url(event.pk, "cancel")), 409)
    assert f"that is {status.value}" in error["message"]


@pytest.mark.parametrize("action", ["retry", "cancel"])
def test_acting_on_someone_elses_event_is_not_found(auth_client, other_user, action):
    theirs = EventFactory(owner=other_user, status=Status.FAILED)
    error = error_of(auth_client.post(url(theirs.pk, action)), 404)
    assert error["message"] == "Event not found"
    assert Event.objects.get(pk=theirs.pk).status == Status.FAILED


def test_staff_may_retry_anyones_event(staff_client, user):
    event = EventFactory(owner=user, status=Status.FAILED)
    assert staff_client.post(url(event.pk, "retry")).status_code == 200


@pytest.mark.parametrize("action", ["", "retry", "cancel"])
def test_every_event_endpoint_needs_a_token(api_client, user, action):
    event = EventFactory(owner=user)
    call = api_client.get if not action else api_client.post
    error = error_of(call(url(event.pk, action)), 401)
    assert error["message"] == "Missing or invalid authorization header"


def test_retry_and_cancel_only_accept_post(auth_client, user):
    event = EventFactory(owner=user)
    assert error_of(auth_client.get(url(event.pk, "cancel")), 405)["code"] == 405
