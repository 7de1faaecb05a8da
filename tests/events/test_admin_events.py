"""The events admin through the test client: list, filters, search, dates, detail, actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.admin.big_table import EstimatedCountPaginator
from events.models import Event, Priority, Status, WebhookDelivery
from tests.factories import EventFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/events/event/"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def listed_ids(response) -> list[int]:
    """Event ids in the changelist's rows, in display order."""
    return [int(i) for i in re.findall(r'name="_selected_action" value="(\d+)"', response.text)]


def test_the_changelist_shows_status_priority_name_type_owner_attempts_and_last_error(
    admin_client, user
):
    event = EventFactory.create(
        owner=user,
        type="beo.menu.changed",
        priority=Priority.URGENT,
        status=Status.COMPLETED,
        attempts=2,
        duration_ms=12.5,
    )
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    row = re.search(r"<tr>.*?beo\.menu\.changed.*?</tr>", response.text, re.S)
    assert row is not None
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(0), re.S)
    text = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    assert "completed" in text
    assert "urgent" in text
    assert "alice" in text
    assert "2" in text
    assert "—" in text  # no error
    # The duration is on its page (the list has no room for it at 1440 px).
    assert "12.5 ms" in admin_client.get(f"{CHANGELIST}{event.pk}/change/").text


def test_the_newest_events_come_first(admin_client, user):
    now = timezone.now()
    old = EventFactory.create(owner=user, created_at=now - timedelta(hours=1))
    new = EventFactory.create(owner=user, created_at=now)
    assert listed_ids(admin_client.get(CHANGELIST)) == [new.pk, old.pk]


def test_the_status_filter_lists_only_that_status(admin_client, user):
    failed = EventFactory.create(owner=user, status=Status.FAILED)
    EventFactory.create(owner=user, status=Status.COMPLETED)
    response = admin_client.get(CHANGELIST, {"status__exact": "failed"})
    assert listed_ids(response) == [failed.pk]


def test_the_priority_filter_offers_names_and_lists_only_that_priority(admin_client, user):
    high = EventFactory.create(owner=user, priority=Priority.HIGH)
    EventFactory.create(owner=user, priority=Priority.LOW)
    page = admin_client.get(CHANGELIST)
    assert re.search(r'href="\?priority__exact=2"[^>]*>high</a>', page.text)
    assert listed_ids(admin_client.get(CHANGELIST, {"priority__exact": "2"})) == [high.pk]


@pytest.mark.parametrize("term", ["{id}", "#{id}"])
def test_search_finds_an_event_by_id(admin_client, user, term):
    wanted = EventFactory.create(owner=user)
    EventFactory.create(owner=user)
    response = admin_client.get(CHANGELIST, {"q": term.format(id=wanted.pk)})
    assert listed_ids(response) == [wanted.pk]


def test_search_finds_events_by_the_beginning_of_their_type(admin_client, user):
    invoice = EventFactory.create(owner=user, type="invoice.sent")
    EventFactory.create(owner=user, type="beo.created")
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "invoice."})) == [invoice.pk]


def test_search_finds_events_by_owner_username(admin_client, user, other_user):
    bobs = EventFactory.create(owner=other_user)
    EventFactory.create(owner=user)
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "bo"})) == [bobs.pk]


def test_the_date_hierarchy_offers_only_days_that_have_events(admin_client, user):
    for day in (3, 17):
        EventFactory.create(owner=user, created_at=datetime(2026, 5, day, 12, tzinfo=UTC))
    EventFactory.create(owner=user, created_at=datetime(2026, 8, 1, 12, tzinfo=UTC))
    year = admin_client.get(CHANGELIST, {"created_at__year": "2026"})
    months = re.findall(r"created_at__month=(\d+)", year.text)
    assert sorted(set(months)) == ["5", "8"]
    month = admin_client.get(CHANGELIST, {"created_at__year": "2026", "created_at__month": "5"})
    days = re.findall(r"created_at__day=(\d+)", month.text)
    assert sorted(set(days), key=int) == ["3", "17"]
    assert len(listed_ids(month)) == 2


@pytest.mark.postgres  # SQLite counts exactly by design (EstimatedCountPaginator)
def test_the_changelist_never_counts_the_whole_table_nor_scans_it_for_dates(
    admin_client, user, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)
    for _ in range(8):
        EventFactory.create(owner=user)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST, {"status__exact": "pending"})
    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    counts = [s for s in sql if "COUNT(" in s.upper() and "events_event" in s]
    assert counts, "the paginator counts (a bounded count)"
    assert all("LIMIT 5" in s for s in counts), counts
    assert not [s for s in sql if "DISTINCT" in s.upper() and "events_event" in s]
    assert not [s for s in sql if "events_event" in s and "OFFSET" in s.upper() and "1000" in s]


@pytest.mark.postgres  # SQLite counts exactly by design (EstimatedCountPaginator)
def test_a_large_result_shows_an_estimated_count(admin_client, user, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)
    for _ in range(8):
        EventFactory.create(owner=user)
    response = admin_client.get(CHANGELIST)
    assert re.search(r"about [\d,]+ events", response.text)
    assert len(listed_ids(response)) == 8


def test_a_small_result_shows_the_exact_count(admin_client, user):
    for _ in range(3):
        EventFactory.create(owner=user)
    response = admin_client.get(CHANGELIST)
    assert re.search(r"\b3 events\b", response.text)
    paginator = re.search(r'<p class="paginator">.*?</p>', response.text, re.S)
    assert paginator is not None
    assert "about" not in paginator.group(0)


def test_the_detail_page_shows_payload_and_result_as_formatted_json(admin_client, user):
    event = EventFactory.create(
        owner=user,
        payload={"beo": "BEO-9", "guests": 120},
        status=Status.COMPLETED,
        result={"kitchen": {"printed": True}},
    )
    response = admin_client.get(f"{CHANGELIST}{event.pk}/change/")
    assert response.status_code == 200
    assert '<pre class="beo-json">{\n  &quot;beo&quot;: &quot;BEO-9&quot;,\n' in response.text
    assert "&quot;guests&quot;: 120" in response.text
    assert "&quot;printed&quot;: true" in response.text


def test_the_detail_page_is_read_only(admin_client, user):
    event = EventFactory.create(owner=user, type="beo.created")
    page = admin_client.get(f"{CHANGELIST}{event.pk}/change/")
    assert 'name="_save"' not in page.text
    post = admin_client.post(f"{CHANGELIST}{event.pk}/change/", {"type": "tampered"})
    assert post.status_code == 403
    event.refresh_from_db()
    assert event.type == "beo.created"


def test_the_detail_page_lists_the_webhook_deliveries(admin_client, user):
    event = EventFactory.create(owner=user)
    subscription = SubscriptionFactory.create(name="crm")
    WebhookDelivery.objects.create(
        event=event,
        subscription=subscription,
        attempt=1,
        webhook_id="msg_1",
        status_code=503,
        error="HTTP 503: down for maintenance",
    )
    page = admin_client.get(f"{CHANGELIST}{event.pk}/change/")
    assert "HTTP 503: down for maintenance" in page.text
    assert "crm" in page.text


def test_events_cannot_be_deleted_from_the_admin(admin_client, user):
    event = EventFactory.create(owner=user)
    assert admin_client.get(f"{CHANGELIST}{event.pk}/delete/").status_code == 403
    assert "delete_selected" not in admin_client.get(CHANGELIST).text
    assert Event.objects.filter(pk=event.pk).exists()


def run_action(client, action: str, events, **extra):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [e.pk for e in events], **extra},
        follow=True,
    )


def test_retry_returns_failed_events_to_pending_through_the_service(admin_client, user):
    failed = [EventFactory.create(owner=user, status=Status.FAILED, attempts=5, max_attempts=5)]
    response = run_action(admin_client, "retry_events", failed)
    assert "Retried 1 event." in response.text
    failed[0].refresh_from_db()
    assert failed[0].status == Status.PENDING
    assert failed[0].attempts == 5
    assert failed[0].max_attempts == 10


def test_retry_leaves_events_that_did_not_fail_and_says_so(admin_client, user):
    failed = EventFactory.create(owner=user, status=Status.FAILED, attempts=5, max_attempts=5)
    completed = EventFactory.create(owner=user, status=Status.COMPLETED)
    response = run_action(admin_client, "retry_events", [failed, completed])
    assert "Retried 1 event." in response.text
    assert "1 selected event was not failed and left unchanged" in response.text
    completed.refresh_from_db()
    assert completed.status == Status.COMPLETED


def test_cancel_cancels_pending_events_and_leaves_processing_ones(admin_client, user):
    pending = EventFactory.create(owner=user, status=Status.PENDING)
    processing = EventFactory.create(owner=user, status=Status.PROCESSING)
    response = run_action(admin_client, "cancel_events", [pending, processing])
    assert "Cancelled 1 event." in response.text
    assert "1 selected event was not pending and left unchanged" in response.text
    pending.refresh_from_db()
    processing.refresh_from_db()
    assert pending.status == Status.CANCELLED
    assert processing.status == Status.PROCESSING


def test_actions_are_recorded_in_the_admin_history(admin_client, user, superuser):
    pending = EventFactory.create(owner=user)
    run_action(admin_client, "cancel_events", [pending])
    entry = LogEntry.objects.get(object_id=str(pending.pk))
    assert entry.user == superuser
    assert entry.get_change_message() == "Cancelled from the admin"


def test_retry_of_everything_matching_a_filter_uses_select_across(admin_client, user):
    failed = [EventFactory.create(owner=user, status=Status.FAILED, attempts=1, max_attempts=1)]
    failed.append(EventFactory.create(owner=user, status=Status.FAILED, attempts=1, max_attempts=1))
    EventFactory.create(owner=user, status=Status.COMPLETED)
    response = admin_client.post(
        f"{CHANGELIST}?status__exact=failed",
        {"action": "retry_events", "select_across": "1", "_selected_action": [failed[0].pk]},
        follow=True,
    )
    assert "Retried 2 events." in response.text
    assert Event.objects.filter(status=Status.PENDING).count() == 2


def test_staff_create_an_event_through_the_same_validation_and_service(
    client, staff_user, settings
):
    staff_user.user_permissions.add(*Permission.objects.filter(codename__endswith="_event"))
    client.force_login(staff_user)
    response = client.post(
        f"{CHANGELIST}add/",
        {"type": "beo.created", "priority": "2", "payload": '{"beo": "BEO-77"}'},
        headers={"X-Request-ID": "admin-create-1"},
    )
    assert response.status_code == 302
    event = Event.objects.get()
    assert (event.type, event.priority, event.payload) == ("beo.created", 2, {"beo": "BEO-77"})
    assert event.owner == staff_user
    assert event.status == Status.PENDING
    assert event.request_id == "admin-create-1"
    assert event.max_attempts == settings.EVENT_MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "has space", "priority": "1", "payload": "{}"}, "letters, digits"),
        ({"type": "beo.created", "priority": "1", "payload": "[1, 2]"}, "Must be a JSON object."),
        ({"type": "beo.created", "priority": "9", "payload": "{}"}, "Select a valid choice"),
    ],
)
def test_an_invalid_new_event_is_refused_with_the_reason(admin_client, data, message):
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    assert message in response.text
    assert not Event.objects.exists()


def test_an_oversized_payload_is_refused_with_the_limit(admin_client, settings):
    settings.EVENT_PAYLOAD_MAX_BYTES = 50
    response = admin_client.post(
        f"{CHANGELIST}add/",
        {"type": "beo.created", "priority": "1", "payload": '{"x": "' + "y" * 100 + '"}'},
    )
    assert "the limit is 50 bytes" in response.text
    assert not Event.objects.exists()


def test_staff_without_permissions_cannot_open_the_events_admin(client, staff_user):
    client.force_login(staff_user)
    assert client.get(CHANGELIST).status_code == 403


def test_view_only_staff_see_events_but_get_no_actions(client, staff_user, user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(staff_user)
    event = EventFactory.create(owner=user)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "retry_events" not in response.text
    assert client.get(f"{CHANGELIST}{event.pk}/change/").status_code == 200
