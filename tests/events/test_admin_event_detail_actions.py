"""An event's detail page: Retry / Cancel buttons where the state allows them, the API's
services behind them, messages, permissions; and how its status, error and end time read."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.utils import timezone

from events.models import Status
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def page(client, event):
    return client.get(f"/admin/events/event/{event.pk}/change/")


def act(client, event, name, **kwargs):
    return client.post(f"/admin/events/event/{event.pk}/act/{name}/", **kwargs)


def buttons(response) -> list[str]:
    return re.findall(
        r'class="beo-detail-action__button[^"]*" name="action" value="(\w+)"', response.text
    )


def messages_of(response) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", m).strip()
        for m in re.findall(
            r'<li class="(?:success|warning|error)">(.*?)</li>', response.text, re.S
        )
    ]


def test_a_failed_event_offers_retry_only(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.FAILED, attempts=3, max_attempts=3)
    assert buttons(page(admin_client, event)) == ["retry"]


def test_a_pending_event_offers_cancel_only(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.PENDING)
    assert buttons(page(admin_client, event)) == ["cancel"]


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.PROCESSING, Status.CANCELLED])
def test_other_states_offer_no_button(admin_client, user, status):
    event = EventFactory.create(owner=user, status=status)
    assert buttons(page(admin_client, event)) == []


def test_retry_from_the_detail_page_makes_it_pending_and_says_so(admin_client, user, superuser):
    event = EventFactory.create(owner=user, status=Status.FAILED, attempts=3, max_attempts=3)

    response = act(admin_client, event, "retry", follow=True)

    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.max_attempts > 3
    assert response.redirect_chain[-1][0] == f"/admin/events/event/{event.pk}/change/"
    assert f"Retried event #{event.pk}: it is pending now." in messages_of(response)
    assert buttons(response) == ["cancel"]
    entry = LogEntry.objects.get(object_id=str(event.pk))
    assert entry.user == superuser
    assert "Retried" in entry.get_change_message()


def test_cancel_from_the_detail_page(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.PENDING)

    response = act(admin_client, event, "cancel", follow=True)

    event.refresh_from_db()
    assert event.status == Status.CANCELLED
    assert f"Cancelled event #{event.pk}: it is cancelled now." in messages_of(response)


def test_a_stale_button_is_refused_with_the_reason(admin_client, user):
    # The page showed Retry; a worker (or another staff member) got there first.
    event = EventFactory.create(owner=user, status=Status.COMPLETED)

    response = act(admin_client, event, "retry", follow=True)

    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert messages_of(response) == [
        "Not done: Cannot retry an event that is completed; only failed events can be retried"
    ]


def test_the_action_url_needs_post(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.FAILED)
    assert admin_client.get(f"/admin/events/event/{event.pk}/act/retry/").status_code == 405
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_an_unknown_action_is_404(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.FAILED)
    assert act(admin_client, event, "delete").status_code == 404


def test_the_action_needs_the_csrf_token(client, superuser, user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(superuser)
    event = EventFactory.create(owner=user, status=Status.FAILED)
    assert act(csrf_client, event, "retry").status_code == 403
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_staff_who_may_only_view_see_no_button_and_get_403(client, staff_user, user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(staff_user)
    event = EventFactory.create(owner=user, status=Status.FAILED)

    response = page(client, event)
    assert response.status_code == 200
    assert buttons(response) == []
    assert act(client, event, "retry").status_code == 403
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_the_list_colours_the_status_and_shows_the_last_error(admin_client, user):
    EventFactory.create(
        owner=user, status=Status.FAILED, last_error="ConnectionError: refused\nat line 2"
    )
    response = admin_client.get("/admin/events/event/")
    assert '<span class="beo-status beo-status--failed">failed</span>' in response.text
    assert "Last error" in response.text
    assert "ConnectionError: refused at line 2" in response.text
    assert 'style="' not in response.text.split("<body", 1)[1]  # CSP: styles from files only


def test_a_failed_event_says_when_it_failed_not_completed(admin_client, user):
    event = EventFactory.create(owner=user, status=Status.FAILED, completed_at=timezone.now())
    text = page(admin_client, event).text
    assert "Failed (gave up)" in text
    assert "Completed at" not in text
