"""Archived events in the admin: listed, searchable, and strictly read-only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import EventArchive, Priority, Status

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/events/eventarchive/"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def archived(owner, pk: int, **fields) -> EventArchive:
    now = timezone.now()
    defaults = {
        "type": "beo.created",
        "payload": {"beo": f"BEO-{pk}"},
        "priority": Priority.NORMAL,
        "status": Status.COMPLETED,
        "created_at": now - timedelta(days=120),
        "completed_at": now - timedelta(days=120),
        "result": {"handled": True},
    }
    return EventArchive.objects.create(id=pk, owner=owner, **{**defaults, **fields})


def test_the_archive_lists_archived_events_with_their_columns(admin_client, user):
    archived(user, 41, type="invoice.sent", priority=Priority.HIGH)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert "invoice.sent" in response.text
    assert ">high<" in response.text
    assert "Archived at" in response.text or "archived at" in response.text


def test_the_archive_is_searchable_by_id_and_type(admin_client, user):
    archived(user, 501, type="invoice.sent")
    archived(user, 502, type="beo.created")
    by_id = admin_client.get(CHANGELIST, {"q": "#501"})
    assert re.findall(r"/admin/events/eventarchive/(\d+)/change/", by_id.text) == ["501"]
    by_type = admin_client.get(CHANGELIST, {"q": "beo."})
    assert re.findall(r"/admin/events/eventarchive/(\d+)/change/", by_type.text) == ["502"]


def test_an_archived_event_can_be_viewed_but_not_changed(admin_client, user):
    event = archived(user, 77, payload={"guests": 80})
    page = admin_client.get(f"{CHANGELIST}77/change/")
    assert page.status_code == 200
    assert "&quot;guests&quot;: 80" in page.text
    assert 'name="_save"' not in page.text
    assert admin_client.post(f"{CHANGELIST}77/change/", {"type": "x"}).status_code == 403
    event.refresh_from_db()
    assert event.type == "beo.created"


def test_archived_events_cannot_be_added_or_deleted(admin_client, user):
    archived(user, 78)
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}78/delete/").status_code == 403
    assert "delete_selected" not in admin_client.get(CHANGELIST).text
    assert EventArchive.objects.filter(pk=78).exists()
