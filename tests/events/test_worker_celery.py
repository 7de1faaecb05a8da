"""Events created and retried by real requests are processed by a real worker over Redis."""

from __future__ import annotations

import pytest

from events.handlers import registry
from events.models import Event, Status
from tests.events.workers import wait_for
from tests.logs import log_lines

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def add_event(client, type: str, request_id: str) -> Event:
    response = client.post(
        "/admin/events/event/add/",
        {"type": type, "priority": "1", "payload": '{"beo": "BEO-1"}'},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 302, response.text[-2000:]
    return Event.objects.filter(type=type).latest("id")


def test_events_from_two_requests_are_processed_by_the_worker_each_with_its_request_id(
    admin_client, celery_worker
):
    first = add_event(admin_client, "celery.one", "req-celery-1")
    second = add_event(admin_client, "celery.two", "req-celery-2")
    wait_for(
        lambda: (
            Event.objects.filter(pk__in=[first.pk, second.pk], status=Status.COMPLETED).count() == 2
        ),
        timeout=30,
        what="the worker to process both events",
    )
    lines = {
        line["event_id"]: line
        for line in log_lines()
        if line.get("event") == "Event processed successfully"
        and line.get("event_id") in {first.pk, second.pk}
    }
    assert lines[first.pk]["request_id"] == "req-celery-1"
    assert lines[second.pk]["request_id"] == "req-celery-2"


def test_a_dead_lettered_event_retried_in_the_admin_is_processed_again(
    admin_client, celery_worker, settings
):
    calls: list[int] = []

    def fails_once(event):
        calls.append(event.attempts)
        if len(calls) == 1:
            raise RuntimeError("kitchen offline")
        return {"ok": True}

    registry.register("celery.retry", name="fails-once")(fails_once)
    try:
        settings.EVENT_MAX_ATTEMPTS = 1
        event = add_event(admin_client, "celery.retry", "req-retry")
        wait_for(
            lambda: Event.objects.get(pk=event.pk).status == Status.FAILED,
            timeout=30,
            what="the event to be dead-lettered",
        )
        response = admin_client.post(
            "/admin/events/event/",
            {"action": "retry_events", "_selected_action": [event.pk]},
            follow=True,
        )
        assert "Retried 1 event." in response.text
        wait_for(
            lambda: Event.objects.get(pk=event.pk).status == Status.COMPLETED,
            timeout=30,
            what="the retried event to complete",
        )
    finally:
        registry.unregister("fails-once")
    event.refresh_from_db()
    assert event.attempts == 2
    assert calls == [1, 2]
