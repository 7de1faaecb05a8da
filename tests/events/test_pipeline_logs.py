"""The operations guide's log lines for processing, read back from this run's JSON log files."""

from __future__ import annotations

import pytest

from events.handlers import registry
from events.models import Event
from events.pipeline import events_process_batch
from tests.factories import EventFactory
from tests.logs import log_lines

pytestmark = pytest.mark.django_db


def lines_for(event_id: int, message: str, name: str = "combined.log") -> list[dict]:
    return [
        line
        for line in log_lines(name)
        if line.get("event") == message and line.get("event_id") == event_id
    ]


@pytest.fixture
def failing_handler():
    def explode(event):
        raise ValueError(f"menu for {event.payload['beo']} is missing")

    registry.register("logtest.fail", name="explode")(explode)
    yield
    registry.unregister("explode")


def test_a_processed_event_logs_the_guides_success_line(user):
    event = EventFactory.create(owner=user, type="logtest.ok", request_id="req-created-it")
    events_process_batch()
    [line] = lines_for(event.pk, "Event processed successfully")
    assert line["level"] == "info"
    assert line["event_type"] == "logtest.ok"
    assert line["user_id"] == user.pk
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == "req-created-it"
    assert line["service"] == "beo-automation"


def test_a_failed_attempt_logs_the_error_and_its_stack_as_an_error(user, failing_handler):
    event = EventFactory.create(
        owner=user, type="logtest.fail", payload={"beo": "BEO-3"}, request_id="req-failing"
    )
    events_process_batch()
    [line] = lines_for(event.pk, "Failed to process event", name="error.log")
    assert line["level"] == "error"
    assert line["error"] == "ValueError: menu for BEO-3 is missing"
    assert "Traceback (most recent call last)" in line["stack"]
    assert "in explode" in line["stack"]
    assert line["request_id"] == "req-failing"
    assert line["will_retry"] is True
    assert line["attempts"] == 1


def test_events_from_different_requests_keep_their_own_request_ids_in_one_batch(user):
    first = EventFactory.create(owner=user, type="logtest.ok", request_id="req-one")
    second = EventFactory.create(owner=user, type="logtest.ok", request_id="req-two")
    assert events_process_batch().completed == 2
    assert lines_for(first.pk, "Event processed successfully")[0]["request_id"] == "req-one"
    assert lines_for(second.pk, "Event processed successfully")[0]["request_id"] == "req-two"


def test_an_event_created_through_the_admin_is_logged_with_that_requests_id(
    client, superuser, user
):
    client.force_login(superuser)
    response = client.post(
        "/admin/events/event/add/",
        {"type": "logtest.admin", "priority": "1", "payload": "{}"},
        headers={"X-Request-ID": "admin-req-42"},
    )
    assert response.status_code == 302
    event = Event.objects.get(type="logtest.admin")
    events_process_batch()
    [line] = lines_for(event.pk, "Event processed successfully")
    assert line["request_id"] == "admin-req-42"
    assert line["user_id"] == superuser.pk
